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

/// One malformed setting per line: what is wrong, the text put into `local.toml` (appended to
/// the section named first), and the key the error must name.
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "a region no partition has",
        "",
        "region = \"mars-1\"",
        "region",
    ),
    (
        "a master password rotation AWS does not take",
        "[aurora]",
        "master_password_rotation_days = 0",
        "aurora.master_password_rotation_days",
    ),
    (
        "reserved tag key",
        "",
        "tags = { \"aws:team\" = \"x\" }",
        "tags.aws:team",
    ),
    (
        "tag value AWS rejects",
        "",
        "tags = { Team = \"a<b\" }",
        "tags.Team",
    ),
    (
        "wait timeout of zero",
        "",
        "wait_timeout_minutes = 0",
        "wait_timeout_minutes",
    ),
    (
        "VPC CIDR that is no CIDR",
        "[infrastructure]",
        "vpc_cidr = \"10.0.0.0\"",
        "infrastructure.vpc_cidr",
    ),
    (
        "one isolated subnet",
        "[infrastructure]",
        "isolated_subnet_ids = [\"subnet-1\"]",
        "infrastructure.isolated_subnet_ids",
    ),
    (
        "KMS key id, not ARN",
        "[infrastructure]",
        "logs_kms_key_arn = \"1234abcd-12ab\"",
        "infrastructure.logs_kms_key_arn",
    ),
    (
        "log retention CloudWatch refuses",
        "[aurora]",
        "log_retention_days = 10",
        "aurora.log_retention_days",
    ),
    (
        "Redis log retention",
        "[redis]",
        "log_retention_days = 2",
        "redis.log_retention_days",
    ),
    (
        "more instances than Aurora allows",
        "[aurora]",
        "instance_count = 17",
        "aurora.instance_count",
    ),
    (
        "database name PostgreSQL rejects",
        "[aurora]",
        "postgresql_databases = [\"chat\", \"Bad-Name\"]",
        "aurora.postgresql_databases",
    ),
    (
        "empty database name",
        "[aurora]",
        "postgresql_databases = [\"\"]",
        "aurora.postgresql_databases",
    ),
    (
        "duplicate database",
        "[aurora]",
        "postgresql_databases = [\"chat\", \"chat\"]",
        "aurora.postgresql_databases",
    ),
    (
        "instance class that does not exist",
        "[aurora]",
        "instance_class = \"db.q9.huge\"",
        "aurora.instance_class",
    ),
    (
        "Redis version outside redis7",
        "[redis]",
        "engine_version = \"6.2\"",
        "redis.engine_version",
    ),
    (
        "Glacier too soon after Standard-IA",
        "[s3]",
        "application_data_glacier_days = 45",
        "s3.application_data_glacier_days",
    ),
    (
        "a Redis group name ElastiCache would lowercase",
        "[redis.names]",
        "replication_group = \"Tf-Cache\"",
        "redis.names",
    ),
    (
        "a subnet group named default",
        "[aurora.names]",
        "subnet_group = \"default\"",
        "aurora.names",
    ),
    (
        "a security group name EC2 reserves",
        "[redis.names]",
        "security_group = \"sg-cache\"",
        "redis.names",
    ),
    (
        "a name with no override",
        "[aurora.names]",
        "log_group = \"/x\"",
        "log_group",
    ),
    (
        "an eu.* profile that does not exist for Claude 3 Haiku",
        "[bedrock.inference_profiles]",
        "claude-3-haiku = { source = \"eu.anthropic.claude-3-haiku-20240307-v1:0\", source_type = \"inference-profile\" }",
        "bedrock.inference_profiles.claude-3-haiku",
    ),
    (
        "Cohere Embed v4 as a foundation model",
        "[bedrock.inference_profiles]",
        "cohere-embed-v4 = { source = \"cohere.embed-v4:0\", source_type = \"foundation-model\" }",
        "bedrock.inference_profiles.cohere-embed-v4",
    ),
    (
        "unknown key in a section",
        "[secrets]",
        "recovery_days = 3",
        "secrets",
    ),
];

#[tokio::test]
async fn malformed_settings_are_refused_at_load_naming_file_and_key() {
    let sb = Sandbox::new("e2e-cases").await;
    let original = std::fs::read_to_string(sb.environments().join("local.toml")).unwrap();
    for (what, section, line, key) in CASES {
        let name = line.split(" =").next().unwrap_or_default();
        let existing = original
            .lines()
            .find(|l| l.starts_with(&format!("{name} =")))
            .map(str::to_string);
        let text = if let Some(existing) = existing {
            original.replacen(&existing, line, 1)
        } else if section.is_empty() {
            format!("{line}\n{original}")
        } else if original.contains(&format!("{section}\n")) {
            original.replacen(&format!("{section}\n"), &format!("{section}\n{line}\n"), 1)
        } else {
            format!("{original}\n{section}\n{line}\n")
        };
        std::fs::write(sb.environments().join("local.toml"), text).unwrap();
        let e = match layer::load(sb.environments(), "local") {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("local.toml") && e.contains(key), "{what}: {e}");
        assert_eq!(
            sb.cli(&["deploy", "local", "--auto-approve"]).await,
            1,
            "{what}"
        );
    }
    std::fs::write(sb.environments().join("local.toml"), &original).unwrap();
    assert_eq!(sb.aws.calls().summary().total, 0, "no call reached AWS");
}
