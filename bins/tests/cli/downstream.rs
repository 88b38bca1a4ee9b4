//! The next layers read this one's outputs: `outputs <env> --format terraform-state` from the
//! installed binary after a deploy is a Terraform state document (version 4, no resources) that
//! holds every non-null output of `outputs --json` with the same value and type.

use dal_tests::Sandbox;

async fn stdout_of(sb: &Sandbox, args: &[&str]) -> serde_json::Value {
    let out = sb
        .binary(env!("CARGO_BIN_EXE_data-and-ai"), args)
        .output()
        .await
        .expect("the binary runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[tokio::test]
async fn outputs_as_a_terraform_state_document() {
    let sb = Sandbox::new("e2e-tfstate").await;
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    sb.aws.calls().reset();
    let state = stdout_of(&sb, &["outputs", "local", "--format", "terraform-state"]).await;
    let json = stdout_of(&sb, &["outputs", "local", "--json"]).await;
    assert_eq!(state["version"], 4);
    assert_eq!(state["terraform_version"], "1.0.0");
    assert_eq!(state["serial"], 1);
    assert_eq!(state["resources"], serde_json::json!([]));
    let outputs = state["outputs"].as_object().expect("outputs");
    let expected: Vec<&String> = json
        .as_object()
        .expect("outputs")
        .iter()
        .filter(|(_, o)| !o["value"].is_null())
        .map(|(k, _)| k)
        .collect();
    assert_eq!(outputs.keys().collect::<Vec<_>>(), expected);
    for (name, out) in outputs {
        assert_eq!(out["value"], json[name]["value"], "{name}");
        assert_eq!(out["type"], json[name]["type"], "{name}");
    }
    for name in [
        "aurora_cluster_id",
        "secret_arns",
        "elasticache_port",
        "s3_bucket_ai_data_arn",
    ] {
        assert!(outputs.contains_key(name), "{name}");
    }
    assert_eq!(sb.all_mutations().len(), 0, "outputs writes nothing");
}

/// The state object's bytes and ETag.
async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> (Vec<u8>, String) {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("the object");
    let etag = out.e_tag().unwrap_or_default().to_string();
    let bytes = out
        .body
        .collect()
        .await
        .expect("its body")
        .into_bytes()
        .to_vec();
    (bytes, etag)
}

/// `deploy local` (no seed) by the installed binary, its output kept.
async fn deploy(sb: &Sandbox) -> std::process::Output {
    sb.binary(
        env!("CARGO_BIN_EXE_data-and-ai"),
        &["deploy", "local", "--auto-approve", "--skip-seed"],
    )
    .output()
    .await
    .expect("the binary runs")
}

#[tokio::test]
async fn deploy_publishes_the_state_where_the_readers_look_continuing_the_old_lineage() {
    let sb = Sandbox::new("e2e-publish").await;
    let s3 = sb.s3().await;
    let (bucket, key) = ("e2e-publish-tfstate", "layers/data-and-ai.tfstate");
    sb.older_bucket(bucket).await;
    // The old layer's state, still holding its resources; one output it marked sensitive.
    let mut old = serde_json::json!({
        "version": 4, "terraform_version": "1.5.7", "serial": 41,
        "lineage": "0b6c3a4e-1f2d-4c5b-8a9e-0123456789ab",
        "outputs": {
            "aurora_cluster_id": {"value": "old", "type": "string", "sensitive": true},
            "legacy_endpoint": {"value": "old", "type": "string"},
        },
        "resources": [{"mode": "managed", "type": "aws_rds_cluster", "name": "this", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]", "instances": []}],
        "check_results": null,
    });
    let put = |doc: &serde_json::Value| {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(serde_json::to_vec(doc).unwrap().into())
            .send()
    };
    put(&old).await.expect("the old state");
    // The backend's lock table, with the digest Terraform left for the old state.
    let ddb = aws_sdk_dynamodb::Client::new(&sb.sdk().await);
    let table = "e2e-publish-locks";
    {
        use aws_sdk_dynamodb::types::*;
        ddb.create_table()
            .table_name(table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("LockID")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("LockID")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("the lock table");
        ddb.put_item()
            .table_name(table)
            .item("LockID", AttributeValue::S(format!("{bucket}/{key}-md5")))
            .item(
                "Digest",
                AttributeValue::S("0123456789abcdef0123456789abcdef".into()),
            )
            .send()
            .await
            .expect("the old digest");
    }
    let digest = || async {
        ddb.get_item()
            .table_name(table)
            .key(
                "LockID",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("{bucket}/{key}-md5")),
            )
            .send()
            .await
            .unwrap()
            .item()
            .and_then(|i| i.get("Digest"))
            .and_then(|d| d.as_s().ok().cloned())
    };
    sb.edit_env("local", |t| {
        format!("{t}\n[outputs]\nterraform_state = {{ bucket = \"{bucket}\", key = \"{key}\", dynamodb_table = \"{table}\" }}\n")
    });

    // Publishing over a state with resources is refused before deploy changes anything.
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        3
    );
    assert_eq!(sb.all_mutations(), Vec::<String>::new());

    // Once the old layer let go of its resources, its lineage continues at the next serial;
    // but not while a Terraform run holds the state's lock, in the table or as a lock file.
    old["resources"] = serde_json::json!([]);
    put(&old).await.expect("the emptied state");
    let lock = aws_sdk_dynamodb::types::AttributeValue::S(format!("{bucket}/{key}"));
    let info = r#"{"ID":"5f0e0c3e-lock","Operation":"OperationTypeApply","Who":"runner@ci","Version":"1.5.7","Created":"2026-12-03T10:00:00Z","Path":""}"#;
    ddb.put_item()
        .table_name(table)
        .item("LockID", lock.clone())
        .item(
            "Info",
            aws_sdk_dynamodb::types::AttributeValue::S(info.into()),
        )
        .send()
        .await
        .expect("Terraform's lock");
    let lock_file = format!("{key}.tflock");
    for held in ["table", "file"] {
        sb.aws.calls().reset();
        let out = deploy(&sb).await;
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{held}: {said}");
        assert!(
            said.contains("runner@ci") && said.contains("force-unlock"),
            "{said}"
        );
        assert_eq!(sb.all_mutations(), Vec::<String>::new());
        if held == "table" {
            ddb.delete_item()
                .table_name(table)
                .key("LockID", lock.clone())
                .send()
                .await
                .expect("released");
            s3.put_object()
                .bucket(bucket)
                .key(&lock_file)
                .body(info.as_bytes().to_vec().into())
                .send()
                .await
                .expect("the lock file");
        }
    }
    s3.delete_object()
        .bucket(bucket)
        .key(&lock_file)
        .send()
        .await
        .expect("released");
    let out = deploy(&sb).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The old layer's output that this one does not publish is named.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("does not publish: legacy_endpoint"), "{said}");
    let (bytes, etag) = object(&s3, bucket, key).await;
    assert_eq!(
        digest().await,
        Some(data_s3::remote_state::digest(&bytes)),
        "readers that name the lock table find the digest of what they read"
    );
    let state: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(state["lineage"], old["lineage"]);
    assert_eq!(state["serial"], 42);
    assert_eq!(state["version"], 4);
    assert_eq!(state["resources"], serde_json::json!([]));
    let json = stdout_of(&sb, &["outputs", "local", "--json"]).await;
    let outputs = state["outputs"].as_object().expect("outputs");
    for (name, o) in json.as_object().expect("outputs") {
        if o["value"].is_null() {
            continue;
        }
        assert_eq!(outputs[name]["value"], o["value"], "{name}");
    }
    assert_eq!(
        outputs["aurora_cluster_id"]["sensitive"], true,
        "the mark is kept"
    );
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert!(head.server_side_encryption().is_some(), "encrypted at rest");

    // Nothing changed: the object is left byte for byte, by deploy and by --publish.
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    assert_eq!(sb.cli(&["outputs", "local", "--publish"]).await, 0);
    assert_eq!(object(&s3, bucket, key).await, (bytes, etag));

    // A changed output raises the serial.
    sb.edit_env("local", |t| {
        t.replacen(
            "[aurora]\n",
            "[aurora]\npostgresql_databases = [\"chat\", \"extra\"]\n",
            1,
        )
    });
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    let (bytes, _) = object(&s3, bucket, key).await;
    assert_eq!(digest().await, Some(data_s3::remote_state::digest(&bytes)));
    let state: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(state["serial"], 43);
    assert_eq!(
        state["outputs"]["postgresql_databases"]["value"],
        serde_json::json!(["chat", "extra"])
    );
}
