//! The local AWS gateway: conformance checked by boto3, the corrected deviations and the served
//! APIs seen through the Rust SDK, call counting, fault injection and slow creation.

use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use dal_tests::Sandbox;
use local_aws::{Fault, FaultPlan, Rule, SlowSettings};

fn rule(fault: Fault, rate: f64) -> Rule {
    Rule::every(fault, rate)
}

#[tokio::test]
async fn boto3_conformance_of_every_served_operation_and_corrected_deviation() {
    let sb = Sandbox::new("conf").await;
    // These check what the gateway answers, call after call: a consistent world (the
    // consistency model has its own tests).
    sb.aws.consistency().clear();
    let python = dal_tests::venv().join("bin").join("python");
    let script = dal_tests::project_root().join("tests/conformance/boto3_conformance.py");
    let out = tokio::process::Command::new(python)
        .arg(script)
        .arg(sb.aws.endpoint())
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "boto3 conformance failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("26 passed, 0 failed"), "{stdout}");
}

#[tokio::test]
async fn deviations_are_corrected_for_the_rust_sdk() {
    let sb = Sandbox::new("dev").await;
    // These check what the gateway answers, call after call: a consistent world (the
    // consistency model has its own tests).
    sb.aws.consistency().clear();
    let sdk = sb.sdk().await;

    // GetBucketVersioning: unparseable from moto itself, parsed through the gateway.
    let s3 = sb.s3().await;
    s3.create_bucket()
        .bucket("dev-versioning")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    "eu-central-2",
                ))
                .build(),
        )
        .send()
        .await
        .expect("bucket");
    assert!(s3
        .get_bucket_versioning()
        .bucket("dev-versioning")
        .send()
        .await
        .is_ok());
    let raw = local_aws::standin::sdk_config(
        &format!("http://127.0.0.1:{}", sb.aws.moto_port()),
        "eu-central-2",
    )
    .await;
    let raw_s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&raw)
            .force_path_style(true)
            .build(),
    );
    assert!(
        raw_s3
            .get_bucket_versioning()
            .bucket("dev-versioning")
            .send()
            .await
            .is_err(),
        "moto alone deviates"
    );

    // Secrets Manager: a name scheduled for deletion.
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    sm.create_secret()
        .name("dev/x")
        .send()
        .await
        .expect("secret");
    sm.delete_secret()
        .secret_id("dev/x")
        .recovery_window_in_days(7)
        .send()
        .await
        .expect("delete");
    let err = sm
        .create_secret()
        .name("dev/x")
        .send()
        .await
        .expect_err("scheduled for deletion");
    assert_eq!(err.code(), Some("InvalidRequestException"));

    // ElastiCache: NumCacheClusters and the region in endpoints.
    let ec = aws_sdk_elasticache::Client::new(&sdk);
    let rg = ec
        .create_replication_group()
        .replication_group_id("dev-rg")
        .replication_group_description("d")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .num_cache_clusters(2)
        .port(6380)
        .send()
        .await
        .expect("replication group");
    let rg = rg.replication_group().expect("group");
    assert_eq!(rg.member_clusters().len(), 2);
    let host = rg.node_groups()[0]
        .primary_endpoint()
        .and_then(|e| e.address())
        .unwrap_or_default();
    assert!(host.contains(".euc2.cache.amazonaws.com"), "{host}");

    // RDS: a cluster delete needs a final snapshot or SkipFinalSnapshot.
    let rds = aws_sdk_rds::Client::new(&sdk);
    rds.create_db_cluster()
        .db_cluster_identifier("dev-aurora")
        .engine("aurora-postgresql")
        .engine_version("14.19")
        .master_username("dbadmin")
        .manage_master_user_password(true)
        .send()
        .await
        .expect("cluster");
    let err = rds
        .delete_db_cluster()
        .db_cluster_identifier("dev-aurora")
        .send()
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Some("InvalidParameterCombination"));
    rds.delete_db_cluster()
        .db_cluster_identifier("dev-aurora")
        .skip_final_snapshot(true)
        .send()
        .await
        .expect("deleted");
}

#[tokio::test]
async fn served_apis_through_the_rust_sdk() {
    let sb = Sandbox::new("served").await;
    let sdk = sb.sdk().await;

    let ec = aws_sdk_elasticache::Client::new(&sdk);
    ec.create_cache_parameter_group()
        .cache_parameter_group_name("served-redis7")
        .cache_parameter_group_family("redis7")
        .description("served")
        .send()
        .await
        .expect("parameter group");
    let groups = ec
        .describe_cache_parameter_groups()
        .cache_parameter_group_name("served-redis7")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        groups.cache_parameter_groups()[0].cache_parameter_group_family(),
        Some("redis7")
    );
    let err = ec
        .describe_cache_parameter_groups()
        .cache_parameter_group_name("nope")
        .send()
        .await
        .expect_err("not found");
    assert_eq!(err.code(), Some("CacheParameterGroupNotFound"));
    let err = ec
        .create_cache_parameter_group()
        .cache_parameter_group_name("served-redis7")
        .cache_parameter_group_family("redis7")
        .description("again")
        .send()
        .await
        .expect_err("exists");
    assert_eq!(err.code(), Some("CacheParameterGroupAlreadyExists"));

    let bedrock = aws_sdk_bedrock::Client::new(&sdk);
    let models = bedrock
        .list_foundation_models()
        .by_provider("Anthropic")
        .send()
        .await
        .expect("models");
    assert_eq!(models.model_summaries().len(), 6);
    let created = bedrock
        .create_inference_profile()
        .inference_profile_name("served-claude-3-haiku")
        .model_source(aws_sdk_bedrock::types::InferenceProfileModelSource::CopyFrom(
            "arn:aws:bedrock:eu-central-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0".into(),
        ))
        .send()
        .await
        .expect("profile");
    let arn = created.inference_profile_arn().to_string();
    assert!(
        arn.starts_with("arn:aws:bedrock:eu-central-2:123456789012:application-inference-profile/"),
        "{arn}"
    );
    let got = bedrock
        .get_inference_profile()
        .inference_profile_identifier(&arn)
        .send()
        .await
        .expect("get");
    assert_eq!(got.inference_profile_name(), "served-claude-3-haiku");
    let err = bedrock
        .get_inference_profile()
        .inference_profile_identifier("nope12345678")
        .send()
        .await
        .expect_err("404");
    assert_eq!(err.code(), Some("ResourceNotFoundException"));

    let grafana = aws_sdk_grafana::Client::new(&sdk);
    let ws = grafana
        .create_workspace()
        .account_access_type(aws_sdk_grafana::types::AccountAccessType::CurrentAccount)
        .authentication_providers(aws_sdk_grafana::types::AuthenticationProviderTypes::Saml)
        .permission_type(aws_sdk_grafana::types::PermissionType::CustomerManaged)
        .workspace_name("served")
        .send()
        .await
        .expect("workspace");
    let ws = ws.workspace().expect("workspace");
    assert_eq!(
        ws.status(),
        &aws_sdk_grafana::types::WorkspaceStatus::Creating
    );
    let id = ws.id().to_string();
    let again = grafana
        .describe_workspace()
        .workspace_id(&id)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        again.workspace().map(|w| w.status().clone()),
        Some(aws_sdk_grafana::types::WorkspaceStatus::Active)
    );
}

#[tokio::test]
async fn calls_are_counted_by_operation_and_readable_over_http() {
    let sb = Sandbox::new("count").await;
    let iam = sb.iam().await;
    iam.create_user()
        .user_name("count-a")
        .send()
        .await
        .expect("user");
    iam.get_user()
        .user_name("count-a")
        .send()
        .await
        .expect("get");
    iam.get_user()
        .user_name("count-a")
        .send()
        .await
        .expect("get");
    let port: u16 = sb
        .aws
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (status, body) = local_aws::daemon::http_get("127.0.0.1", port, "/_gateway/calls")
        .await
        .expect("answers");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["by_operation"]["iam:CreateUser"]["count"], 1);
    assert_eq!(v["by_operation"]["iam:CreateUser"]["mutating"], true);
    assert_eq!(v["by_operation"]["iam:GetUser"]["count"], 2);
    assert_eq!(v["mutating"], 1);
    assert_eq!(v["read_only"], 2);
    sb.aws.calls().reset();
    assert_eq!(sb.aws.calls().summary().total, 0);

    // Faults and slowness are set over HTTP too.
    let plan =
        r#"{"seed": 3, "rules": [{"operation": "GetUser", "fault": "throttle", "count": 1}]}"#;
    let (status, _) =
        local_aws::daemon::http_request("127.0.0.1", port, "POST", "/_gateway/faults", plan)
            .await
            .expect("answers");
    assert_eq!(status, 200);
    let one_try = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&sb.sdk().await)
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
            .build(),
    );
    let err = one_try
        .get_user()
        .user_name("count-a")
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Some("Throttling"));
    let (_, body) = local_aws::daemon::http_get("127.0.0.1", port, "/_gateway/faults")
        .await
        .expect("answers");
    assert!(body.contains("\"injected\":1"), "{body}");
    let (status, _) = local_aws::daemon::http_request(
        "127.0.0.1",
        port,
        "POST",
        "/_gateway/slow",
        r#"{"creation_ms": 250}"#,
    )
    .await
    .expect("answers");
    assert_eq!(status, 200);
    assert_eq!(sb.aws.slow().settings().creation_ms, 250);
    let (status, _) =
        local_aws::daemon::http_request("127.0.0.1", port, "POST", "/_gateway/faults", "{not json")
            .await
            .expect("answers");
    assert_eq!(status, 400);
}

#[tokio::test]
async fn injected_faults_are_the_services_own_and_retries_absorb_them() {
    let sb = Sandbox::new("faults").await;
    let iam = sb.iam().await;
    // Throttling as IAM says it, twice: the SDK's retries absorb it.
    let mut throttle = rule(Fault::Throttle, 1.0);
    throttle.operation = Some("CreateUser".into());
    throttle.count = Some(2);
    sb.aws.faults().set(FaultPlan {
        seed: 1,
        rules: vec![throttle],
    });
    iam.create_user()
        .user_name("faults-a")
        .send()
        .await
        .expect("succeeds on the third attempt");
    assert_eq!(sb.aws.faults().injected(), 2);
    let creates = sb
        .aws
        .calls()
        .snapshot()
        .into_iter()
        .filter(|c| c.operation == "CreateUser")
        .count();
    assert_eq!(creates, 3);

    // Without retries the error is the service's own.
    let one_try = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&sb.sdk().await)
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
            .build(),
    );
    for (fault, code) in [
        (Fault::Throttle, "Throttling"),
        (Fault::Http503, "ServiceUnavailable"),
        (Fault::Http500, "InternalFailure"),
    ] {
        sb.aws.faults().set(FaultPlan {
            seed: 1,
            rules: vec![rule(fault, 1.0)],
        });
        let err = one_try
            .get_user()
            .user_name("faults-a")
            .send()
            .await
            .expect_err("fault");
        assert_eq!(err.code(), Some(code), "{fault:?}");
    }
    // A dropped connection never reaches moto; a lost response does.
    sb.aws.faults().set(FaultPlan {
        seed: 1,
        rules: vec![rule(Fault::DropConnection, 1.0)],
    });
    assert!(one_try
        .create_user()
        .user_name("faults-dropped")
        .send()
        .await
        .is_err());
    sb.aws.faults().set(FaultPlan {
        seed: 1,
        rules: vec![rule(Fault::LoseResponse, 1.0)],
    });
    assert!(one_try
        .create_user()
        .user_name("faults-lost")
        .send()
        .await
        .is_err());
    sb.aws.faults().clear();
    assert!(
        iam.get_user()
            .user_name("faults-dropped")
            .send()
            .await
            .is_err(),
        "never created"
    );
    assert!(
        iam.get_user().user_name("faults-lost").send().await.is_ok(),
        "created, though its answer was lost"
    );
    // Latency.
    sb.aws.faults().set(FaultPlan {
        seed: 1,
        rules: vec![Rule {
            latency_ms: 300,
            ..rule(Fault::Latency, 1.0)
        }],
    });
    let t = Instant::now();
    iam.get_user()
        .user_name("faults-a")
        .send()
        .await
        .expect("slow but fine");
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn a_deploy_converges_while_calls_fail_with_throttling_and_5xx() {
    let sb = Sandbox::with("e2e-chaos", |t| {
        t.replace("max_attempts = 3", "max_attempts = 10")
    })
    .await;
    sb.aws.faults().set(FaultPlan {
        seed: 20261128,
        rules: vec![
            rule(Fault::Throttle, 0.04),
            rule(Fault::Http500, 0.03),
            rule(Fault::Http503, 0.03),
        ],
    });
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let injected = sb.aws.faults().injected();
    let total = sb.aws.calls().summary().total;
    assert!(
        injected > 0,
        "faults were injected ({injected} of {total} calls)"
    );
    sb.aws.faults().clear();
    assert_eq!(
        sb.cli(&["plan", "local", "--detailed-exitcode"]).await,
        0,
        "converged: nothing left to do"
    );
}

#[tokio::test]
async fn slow_creation_and_modification_are_reported_until_done() {
    let sb = Sandbox::new("slow").await;
    sb.aws.slow().set(SlowSettings {
        creation_ms: 3000,
        modification_ms: 2000,
        ..Default::default()
    });
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    rds.create_db_cluster()
        .db_cluster_identifier("slow-aurora")
        .engine("aurora-postgresql")
        .master_username("dbadmin")
        .manage_master_user_password(true)
        .send()
        .await
        .expect("cluster");
    rds.create_db_instance()
        .db_instance_identifier("slow-aurora-1")
        .db_cluster_identifier("slow-aurora")
        .engine("aurora-postgresql")
        .db_instance_class("db.t4g.medium")
        .send()
        .await
        .expect("instance");
    let started = Instant::now();
    let status = || async {
        let c = rds
            .describe_db_clusters()
            .db_cluster_identifier("slow-aurora")
            .send()
            .await
            .expect("describe");
        c.db_clusters()[0].status().unwrap_or_default().to_string()
    };
    assert_eq!(status().await, "creating");
    while status().await != "available" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never became available"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(2000),
        "creating lasted {:?}",
        started.elapsed()
    );

    while rds
        .describe_db_instances()
        .db_instance_identifier("slow-aurora-1")
        .send()
        .await
        .unwrap()
        .db_instances()[0]
        .db_instance_status()
        != Some("available")
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rds.modify_db_instance()
        .db_instance_identifier("slow-aurora-1")
        .db_instance_class("db.r6g.large")
        .apply_immediately(true)
        .send()
        .await
        .expect("modify");
    let d = rds
        .describe_db_instances()
        .db_instance_identifier("slow-aurora-1")
        .send()
        .await
        .unwrap();
    let i = &d.db_instances()[0];
    assert_eq!(i.db_instance_status(), Some("modifying"));
    assert_eq!(
        i.pending_modified_values()
            .and_then(|p| p.db_instance_class()),
        Some("db.r6g.large")
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let d = rds
        .describe_db_instances()
        .db_instance_identifier("slow-aurora-1")
        .send()
        .await
        .unwrap();
    assert_eq!(d.db_instances()[0].db_instance_status(), Some("available"));
}

#[tokio::test]
async fn bucket_policies_are_enforced_on_every_call_for_the_rust_sdk() {
    let sb = Sandbox::new("policy").await;
    // These check what the gateway answers, call after call: a consistent world (the
    // consistency model has its own tests).
    sb.aws.consistency().clear();
    let s3 = sb.s3().await;
    let b = "policy-rules";
    s3.create_bucket()
        .bucket(b)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    "eu-central-2",
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": ["s3:ListBucket*", "s3:PutObject"],
         "Resource": [format!("arn:aws:s3:::{b}"), format!("arn:aws:s3:::{b}/*")],
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-rules"}}},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
         "Resource": [format!("arn:aws:s3:::{b}"), format!("arn:aws:s3:::{b}/*")],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetBucketTagging",
         "Resource": format!("arn:aws:s3:::{b}"),
         "Condition": {"StringEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:root"}}}]});
    s3.put_bucket_policy()
        .bucket(b)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    // Outside the VPC endpoint: HeadBucket and listing need s3:ListBucket, as on AWS.
    let head = s3.head_bucket().bucket(b).send().await.unwrap_err();
    assert_eq!(head.raw_response().map(|r| r.status().as_u16()), Some(403));
    let e = s3.list_objects_v2().bucket(b).send().await.unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"));
    let e = s3
        .list_object_versions()
        .bucket(b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("AccessDenied"),
        "s3:ListBucket* covers ListBucketVersions"
    );
    let e = s3
        .put_object()
        .bucket(b)
        .key("k")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"));
    let e = s3.get_bucket_tagging().bucket(b).send().await.unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"), "aws:PrincipalArn");
    // Management calls the policy does not name pass.
    assert!(s3.get_bucket_policy().bucket(b).send().await.is_ok());
    assert!(s3.get_bucket_versioning().bucket(b).send().await.is_ok());

    // Through the VPC endpoint, over TLS: allowed.
    let inside = local_aws::iam::bucket_policies::S3Context {
        source_vpce: Some("vpce-rules".into()),
        ..Default::default()
    };
    sb.aws.bucket_policies().set_context(inside.clone());
    assert!(s3.head_bucket().bucket(b).send().await.is_ok());
    s3.put_object()
        .bucket(b)
        .key("k")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();
    // Without TLS, everything is denied, the policy calls included.
    sb.aws
        .bucket_policies()
        .set_context(local_aws::iam::bucket_policies::S3Context {
            secure_transport: false,
            ..inside
        });
    let e = s3
        .get_bucket_versioning()
        .bucket(b)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"));
    sb.aws
        .bucket_policies()
        .set_context(local_aws::iam::bucket_policies::S3Context::default());
    // Deleting the bucket forgets its policy.
    s3.delete_bucket_policy().bucket(b).send().await.unwrap();
    let e = s3.get_bucket_policy().bucket(b).send().await.unwrap_err();
    assert_eq!(e.code(), Some("NoSuchBucketPolicy"));
}

#[tokio::test]
async fn cluster_parameters_page_like_aws() {
    let sb = Sandbox::new("params").await;
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    rds.create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("params-pg14")
        .db_parameter_group_family("aurora-postgresql14")
        .description("paging")
        .send()
        .await
        .unwrap();
    rds.modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("params-pg14")
        .parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name("rds.force_ssl")
                .parameter_value("1")
                .apply_method(aws_sdk_rds::types::ApplyMethod::Immediate)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut pages = 0;
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = rds
            .describe_db_cluster_parameters()
            .db_cluster_parameter_group_name("params-pg14")
            .set_marker(marker.take())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(page.parameters().len() <= 100);
        for p in page.parameters() {
            names.push(p.parameter_name().unwrap().to_string());
            if p.parameter_name() == Some("rds.force_ssl") {
                assert_eq!(p.parameter_value(), Some("1"));
                assert_eq!(p.source(), Some("user"));
            }
        }
        match page.marker() {
            Some(m) => marker = Some(m.to_string()),
            None => break,
        }
    }
    assert!(
        pages >= 4 && names.len() > 300,
        "{pages} pages, {} parameters",
        names.len()
    );
    for real in [
        "shared_buffers",
        "log_min_duration_statement",
        "rds.force_ssl",
        "work_mem",
    ] {
        assert!(names.iter().any(|n| n == real), "{real}");
    }
    // The first page alone does not hold rds.force_ssl: reading one page misses it.
    let first = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name("params-pg14")
        .send()
        .await
        .unwrap();
    assert!(first
        .parameters()
        .iter()
        .all(|p| p.parameter_name() != Some("rds.force_ssl")));
    let user = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name("params-pg14")
        .source("user")
        .send()
        .await
        .unwrap();
    assert_eq!(user.parameters().len(), 1);
    let e = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name("params-pg14")
        .max_records(500)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_rds::error::ProvideErrorMetadata::code(&e),
        Some("InvalidParameterValue")
    );
}

#[tokio::test]
async fn a_cluster_with_instances_cannot_be_deleted() {
    let sb = Sandbox::new("cluster-state").await;
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    rds.create_db_cluster()
        .db_cluster_identifier("state-aurora")
        .engine("aurora-postgresql")
        .master_username("dbadmin")
        .manage_master_user_password(true)
        .send()
        .await
        .unwrap();
    rds.create_db_instance()
        .db_instance_identifier("state-aurora-1")
        .db_cluster_identifier("state-aurora")
        .engine("aurora-postgresql")
        .db_instance_class("db.t4g.medium")
        .send()
        .await
        .unwrap();
    let e = rds
        .delete_db_cluster()
        .db_cluster_identifier("state-aurora")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_rds::error::ProvideErrorMetadata::code(&e),
        Some("InvalidDBClusterStateFault")
    );
    rds.delete_db_instance()
        .db_instance_identifier("state-aurora-1")
        .send()
        .await
        .unwrap();
    rds.delete_db_cluster()
        .db_cluster_identifier("state-aurora")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn interface_endpoints_are_idempotent_by_client_token_and_private_dns_is_unique() {
    let sb = Sandbox::new("vpce-rules").await;
    let session = sb.session().await;
    let ec2 = ec2_query::Client::new(&sb.sdk().await);
    let create = |token: &str| ec2_query::NewVpcEndpoint {
        client_token: Some(token.to_string()),
        kind: "Interface",
        vpc_id: &session.infra.vpc_id,
        service_name: "com.amazonaws.eu-central-2.rds",
        subnet_ids: session.infra.isolated_subnet_ids.clone(),
        private_dns_enabled: Some(true),
        ..Default::default()
    };
    let first = ec2.create_vpc_endpoint(&create("token-1")).await.unwrap();
    let again = ec2.create_vpc_endpoint(&create("token-1")).await.unwrap();
    assert!(first.starts_with("vpce-"), "{first}");
    assert_eq!(first, again, "the same token returns the same endpoint");
    let e = ec2
        .create_vpc_endpoint(&create("token-2"))
        .await
        .unwrap_err();
    assert_eq!(
        ec2_query::ProvideErrorMetadata::code(&e),
        Some("InvalidParameter")
    );
    let rds = [ec2_query::Filter::new(
        "service-name",
        "com.amazonaws.eu-central-2.rds",
    )];
    let all = ec2.describe_vpc_endpoints(&rds, &[]).await.unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn aws_rules_on_tags_replication_groups_and_kms_keys_for_the_rust_sdk() {
    let sb = Sandbox::new("rules").await;
    let conf = sb.sdk().await;
    let rds = aws_sdk_rds::Client::new(&conf);
    let ec = aws_sdk_elasticache::Client::new(&conf);
    let kms = aws_sdk_kms::Client::new(&conf);

    // A tag under the reserved prefix.
    let e = rds
        .create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("rules-pg")
        .db_parameter_group_family("aurora-postgresql14")
        .description("d")
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("aws:team")
                .value("x")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");

    // Multi-AZ without failover, failover without a replica, a replica too many.
    let create = |id: &str, nodes: i32, failover: bool, multi_az: bool| {
        ec.create_replication_group()
            .replication_group_id(id)
            .replication_group_description("rules")
            .engine("redis")
            .engine_version("7.1")
            .cache_node_type("cache.t3.micro")
            .num_cache_clusters(nodes)
            .automatic_failover_enabled(failover)
            .multi_az_enabled(multi_az)
            .send()
    };
    for (nodes, failover, multi_az, code) in [
        (2, false, true, "InvalidParameterCombination"),
        (1, true, false, "InvalidParameterCombination"),
        (7, false, false, "InvalidParameterValue"),
    ] {
        let e = create("rules-rg", nodes, failover, multi_az)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some(code), "{nodes} {failover} {multi_az}: {e:?}");
    }
    create("rules-rg", 2, true, true).await.unwrap();
    let e = ec
        .decrease_replica_count()
        .replication_group_id("rules-rg")
        .new_replica_count(0)
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"), "{e:?}");

    // KMS keys: sent by alias or id, reported as the ARN; an unknown key refused.
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.create_alias()
        .alias_name("alias/rules-db")
        .target_key_id(key.key_id())
        .send()
        .await
        .unwrap();
    let cluster = rds
        .create_db_cluster()
        .db_cluster_identifier("rules-aurora")
        .engine("aurora-postgresql")
        .master_username("dbadmin")
        .manage_master_user_password(true)
        .storage_encrypted(true)
        .kms_key_id("alias/rules-db")
        .master_user_secret_kms_key_id(key.key_id())
        .send()
        .await
        .unwrap()
        .db_cluster
        .unwrap();
    let arn = key.arn().unwrap();
    assert_eq!(cluster.kms_key_id(), Some(arn));
    assert_eq!(
        cluster.master_user_secret().and_then(|s| s.kms_key_id()),
        Some(arn)
    );
    let e = rds
        .create_db_cluster()
        .db_cluster_identifier("rules-aurora-2")
        .engine("aurora-postgresql")
        .master_username("dbadmin")
        .kms_key_id("alias/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("KMSKeyNotAccessibleFault"), "{e:?}");

    // The Performance Insights key is fixed once set.
    rds.create_db_instance()
        .db_instance_identifier("rules-aurora-1")
        .db_cluster_identifier("rules-aurora")
        .engine("aurora-postgresql")
        .db_instance_class("db.t4g.medium")
        .enable_performance_insights(true)
        .performance_insights_kms_key_id("alias/rules-db")
        .send()
        .await
        .unwrap();
    let other = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let e = rds
        .modify_db_instance()
        .db_instance_identifier("rules-aurora-1")
        .enable_performance_insights(true)
        .performance_insights_kms_key_id(other.arn().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"), "{e:?}");
}

/// The suite's emulators are forks of one zygote: each starts empty whatever another holds, and
/// ends when its holder drops it.
#[tokio::test]
async fn a_forked_emulator_starts_empty_and_ends_with_its_holder() {
    let first = Sandbox::new("fork-a").await;
    let second = Sandbox::new("fork-b").await;
    first.older_bucket("fork-a-only").await;
    let third = Sandbox::new("fork-c").await;
    for (sb, holds) in [(&first, true), (&second, false), (&third, false)] {
        sb.settle().await;
        let names: Vec<String> = sb
            .s3()
            .await
            .list_buckets()
            .send()
            .await
            .expect("listed")
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_string))
            .collect();
        assert_eq!(
            names.contains(&"fork-a-only".to_string()),
            holds,
            "{names:?}"
        );
    }
    let port = first.aws.moto_port();
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "moto on {port} still answers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One answer read off `stream`: its head, and its body by its `Content-Length` (none for a HEAD).
fn read_answer(stream: &mut std::io::BufReader<std::net::TcpStream>, head_only: bool) -> String {
    use std::io::{BufRead, Read};
    let mut head = String::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).expect("a header line");
        assert!(!line.is_empty(), "the connection closed mid-answer: {head}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().expect("a length"))
        })
        .expect("every answer says its length");
    if !head_only {
        let mut body = vec![0; length];
        stream.read_exact(&mut body).expect("the body");
    }
    head
}

/// A forked emulator answers call after call on one connection (werkzeug closes each after one
/// answer), HEAD answers included, which keep their length but send no body.
#[tokio::test]
async fn a_forked_emulator_answers_call_after_call_on_one_connection() {
    use std::io::Write;
    let sb = Sandbox::new("fork-keep").await;
    let stream = std::net::TcpStream::connect(("127.0.0.1", sb.aws.moto_port())).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let mut reader = std::io::BufReader::new(stream.try_clone().expect("a second handle"));
    let mut writer = stream;
    let scope = |service: &str| {
        format!("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/eu-central-2/{service}/aws4_request, SignedHeaders=host, Signature=0")
    };
    let body = r#"{"SecretId":"none"}"#;
    let describe = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nX-Amz-Target: secretsmanager.DescribeSecret\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{body}",
        scope("secretsmanager"),
        body.len()
    );
    let head = format!(
        "HEAD /no-such-bucket HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\n\r\n",
        scope("s3")
    );
    for (request, head_only) in [(&describe, false), (&head, true), (&describe, false)] {
        writer
            .write_all(request.as_bytes())
            .expect("the request is sent");
        let answer = read_answer(&mut reader, head_only);
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
        assert!(
            !answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
    }
}
