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
