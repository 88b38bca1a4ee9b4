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
