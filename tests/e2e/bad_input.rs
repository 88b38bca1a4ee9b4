//! Bad input gets a clear error (exit 1) and changes nothing: no mutating call reaches AWS.

use dal_tests::Sandbox;

#[tokio::test]
async fn bad_input_fails_before_any_write() {
    let sb = Sandbox::new("e2e-bad").await;

    // A wrong environment name.
    assert_eq!(sb.cli(&["deploy", "lcoal", "--auto-approve"]).await, 1);
    // An unknown key.
    sb.edit_env("local", |t| format!("{t}\nregoin = \"eu-central-2\"\n"));
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 1);
    sb.edit_env("local", |t| t.replace("\nregoin = \"eu-central-2\"\n", ""));
    // An impossible combination: multi-AZ without failover.
    sb.edit_env("local", |t| {
        t.replace("multi_az_enabled = false", "multi_az_enabled = true")
    });
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 1);
    sb.edit_env("local", |t| {
        t.replace("multi_az_enabled = true", "multi_az_enabled = false")
    });
    assert_eq!(
        sb.aws.calls().summary().total,
        0,
        "config errors are found before any call"
    );

    // A wrong account: the STS check runs before the first write.
    sb.edit_env("local", |t| {
        t.replace("[\"123456789012\"]", "[\"111111111111\"]")
    });
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 1);
    let calls = sb.aws.calls().snapshot();
    assert!(
        calls.iter().any(|c| c.operation == "GetCallerIdentity"),
        "the account was checked"
    );
    sb.edit_env("local", |t| {
        t.replace("[\"111111111111\"]", "[\"123456789012\"]")
    });

    // Missing infrastructure inputs: discovery by tags that match nothing.
    sb.edit_env("local", |t| {
        t.replace("Environment = \"local\" }", "Environment = \"nowhere\" }")
    });
    let env = sb.env();
    let err = match layer::Session::connect(env).await {
        Ok(_) => panic!("connect succeeded without infrastructure"),
        Err(e) => e.to_string(),
    };
    for key in [
        "vpc_id",
        "isolated_subnet_ids",
        "general_kms_key_arn",
        "s3_gateway_endpoint_id",
    ] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 1);

    assert_eq!(sb.aws.calls().mutating(), vec![], "nothing was written");
}

#[tokio::test]
async fn kms_keys_are_arns_and_discovery_ignores_keys_pending_deletion_and_refuses_two() {
    let sb = Sandbox::new("e2e-kms").await;
    // An alias where an ARN is needed: refused at load, naming the file and key, no call made.
    sb.edit_env("local", |t| {
        t.replace(
            "[infrastructure]\n",
            "[infrastructure]\ngeneral_kms_key_arn = \"alias/general\"\n",
        )
    });
    let e = layer::load(sb.environments(), "local")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("local.toml")
            && e.contains("infrastructure.general_kms_key_arn")
            && e.contains("describe-key"),
        "{e}"
    );
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 1);
    assert_eq!(sb.aws.calls().summary().total, 0);
    sb.edit_env("local", |t| {
        t.replace("general_kms_key_arn = \"alias/general\"\n", "")
    });

    // A second enabled key with the general key's tags: discovery names both and the fix.
    let kms = aws_sdk_kms::Client::new(&sb.sdk().await);
    let tag = |k: &str, v: &str| {
        aws_sdk_kms::types::Tag::builder()
            .tag_key(k)
            .tag_value(v)
            .build()
            .unwrap()
    };
    let extra = kms
        .create_key()
        .tags(tag("Layer", "infrastructure"))
        .tags(tag("Environment", "local"))
        .tags(tag("Purpose", "general"))
        .send()
        .await
        .unwrap();
    let extra_arn = extra.key_metadata().unwrap().arn().unwrap().to_string();
    let extra_id = extra.key_metadata().unwrap().key_id().to_string();
    let e = match layer::Session::connect(sb.env()).await {
        Ok(_) => panic!("two matching keys must not be chosen between silently"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains(&extra_arn) && e.contains("general_kms_key_arn"),
        "{e}"
    );
    // Once it is pending deletion, it is no longer a candidate.
    kms.schedule_key_deletion()
        .key_id(&extra_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let session = sb.session().await;
    assert_ne!(session.infra.general_kms_key_arn, extra_arn);
}
