//! The S3 family end to end: deploy from empty, idempotence counted at the gateway, drift named
//! field by field and repaired, adoption, and destroy with and without `--purge-buckets`.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus, LifecycleRule,
    LifecycleRuleFilter, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, Transition,
    TransitionStorageClass, VersioningConfiguration,
};
use dal_tests::Sandbox;
use layer_core::engine::Mode;
use layer_core::policy::PolicyDocument;
use layer_core::Action;

/// The changed top-level fields by address, for the resources that change.
fn changed_fields(plan: &layer_core::Plan) -> BTreeMap<String, BTreeSet<String>> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| {
            (
                c.address.to_string(),
                c.fields.iter().map(|f| f.field().to_string()).collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn deploy_from_empty_sets_every_property_and_a_second_deploy_changes_nothing() {
    let sb = Sandbox::new("e2e-deploy").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);

    // Every S3 and IAM-user output, observed.
    let session = sb.session().await;
    let out = session.outputs().await.expect("outputs");
    let app = sb.bucket("application_data");
    let ai = sb.bucket("ai_data");
    assert_eq!(out["s3_bucket_application_data_id"], app.as_str());
    assert_eq!(
        out["s3_bucket_application_data_arn"],
        format!("arn:aws:s3:::{app}").as_str()
    );
    assert_eq!(out["s3_bucket_ai_data_id"], ai.as_str());
    assert_eq!(
        out["s3_bucket_ai_data_arn"],
        format!("arn:aws:s3:::{ai}").as_str()
    );
    assert_eq!(out["s3_access_iam_user_name"], "e2e-deploy-s3-access");
    assert_eq!(
        out["s3_access_iam_user_arn"],
        "arn:aws:iam::123456789012:user/e2e-deploy-s3-access"
    );
    assert_eq!(out["aws_region"], "eu-central-2");

    // What AWS holds, read with the SDK.
    let s3 = sb.s3().await;
    let general_key = session.infra.general_kms_key_arn.clone();
    let vpce = session.infra.s3_gateway_endpoint_id.clone();
    for bucket in [&app, &ai] {
        let v = s3
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
            .expect("versioning");
        assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
        let enc = s3
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .expect("encryption");
        let rule = &enc
            .server_side_encryption_configuration()
            .expect("config")
            .rules()[0];
        let default = rule
            .apply_server_side_encryption_by_default()
            .expect("default");
        assert_eq!(default.sse_algorithm(), &ServerSideEncryption::AwsKms);
        assert_eq!(default.kms_master_key_id(), Some(general_key.as_str()));
        assert_eq!(rule.bucket_key_enabled(), Some(true));
        let pab = s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .expect("pab");
        let pab = pab.public_access_block_configuration().expect("pab config");
        assert_eq!(
            [
                pab.block_public_acls(),
                pab.ignore_public_acls(),
                pab.block_public_policy(),
                pab.restrict_public_buckets()
            ],
            [Some(true); 4]
        );
        let policy = s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .expect("policy");
        let policy = PolicyDocument::parse(policy.policy().expect("text")).expect("parses");
        assert_eq!(policy, data_s3::bucket_policy(bucket, &vpce));
        let text = policy.to_json_string();
        assert!(
            text.contains("aws:SourceVpce")
                && text.contains(&vpce)
                && text.contains("aws:SecureTransport"),
            "{text}"
        );
        assert!(
            !text.contains("s3:PutBucketPolicy"),
            "management operations stay exempt: {text}"
        );
        let tags = s3
            .get_bucket_tagging()
            .bucket(bucket)
            .send()
            .await
            .expect("tags");
        let tags: BTreeMap<_, _> = tags
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        assert_eq!(
            tags.get("ManagedBy").map(String::as_str),
            Some("data-and-ai-layer")
        );
        assert_eq!(tags.get("Layer").map(String::as_str), Some("data-and-ai"));
        assert_eq!(tags.get("Environment").map(String::as_str), Some("local"));
    }
    let lc = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&app)
        .send()
        .await
        .expect("lifecycle");
    let transitions: Vec<(i32, String)> = lc.rules()[0]
        .transitions()
        .iter()
        .map(|t| {
            (
                t.days().unwrap_or_default(),
                t.storage_class()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        transitions,
        [(30, "STANDARD_IA".to_string()), (90, "GLACIER".to_string())]
    );
    assert_eq!(
        s3.get_bucket_lifecycle_configuration()
            .bucket(&ai)
            .send()
            .await
            .expect_err("no lifecycle")
            .code(),
        Some("NoSuchLifecycleConfiguration"),
        "ai-data has no lifecycle"
    );
    // Objects are denied outside the VPC endpoint (the local AWS enforces the policy as AWS).
    let put = s3
        .put_object()
        .bucket(&app)
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("a put from outside the VPC endpoint is denied");
    assert_eq!(put.code(), Some("AccessDenied"));

    let iam = sb.iam().await;
    let doc = iam
        .get_user_policy()
        .user_name("e2e-deploy-s3-access")
        .policy_name("s3-access")
        .send()
        .await
        .expect("user policy");
    let doc = PolicyDocument::parse(doc.policy_document()).expect("parses");
    // Written out here, not taken from the product: objects of both buckets, listing of both,
    // and the general key for SSE-KMS, nothing else.
    let expected = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Objects", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": [format!("arn:aws:s3:::{app}/*"), format!("arn:aws:s3:::{ai}/*")]},
            {"Sid": "List", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": [format!("arn:aws:s3:::{app}"), format!("arn:aws:s3:::{ai}")]},
            {"Sid": "Kms", "Effect": "Allow",
             "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
             "Resource": general_key},
        ]
    });
    assert_eq!(
        doc,
        PolicyDocument::parse(&expected.to_string()).expect("parses")
    );

    // A second plan shows no change; a second deploy makes no mutating call at all.
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
    assert_eq!(sb.cli(&["plan", "local", "--detailed-exitcode"]).await, 0);
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert!(
        sb.aws.calls().summary().read_only > 0,
        "the deploy did observe"
    );
    assert_eq!(
        sb.layer_mutations(),
        vec![],
        "a second deploy makes no mutating call"
    );
}

#[tokio::test]
async fn drift_is_named_field_by_field_and_apply_repairs_it() {
    let sb = Sandbox::new("e2e-drift").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let s3 = sb.s3().await;
    let (app, ai) = (sb.bucket("application_data"), sb.bucket("ai_data"));

    // Out of band: versioning, encryption and tags on ai-data; lifecycle and policy on application-data.
    s3.put_bucket_versioning()
        .bucket(&ai)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .expect("suspend versioning");
    let aes = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
        .unwrap();
    s3.put_bucket_encryption()
        .bucket(&ai)
        .server_side_encryption_configuration(aes)
        .send()
        .await
        .expect("encryption");
    let mut tags: Vec<Tag> = s3
        .get_bucket_tagging()
        .bucket(&ai)
        .send()
        .await
        .unwrap()
        .tag_set()
        .to_vec();
    tags.push(Tag::builder().key("Rogue").value("yes").build().unwrap());
    s3.put_bucket_tagging()
        .bucket(&ai)
        .tagging(Tagging::builder().set_tag_set(Some(tags)).build().unwrap())
        .send()
        .await
        .expect("tags");
    let rule = LifecycleRule::builder()
        .id("tiering")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .transitions(
            Transition::builder()
                .days(60)
                .storage_class(TransitionStorageClass::StandardIa)
                .build(),
        )
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket(&app)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("lifecycle");
    let loose = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{app}","arn:aws:s3:::{app}/*"],"Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}"#
    );
    s3.put_bucket_policy()
        .bucket(&app)
        .policy(loose)
        .send()
        .await
        .expect("policy");

    // Plan names exactly those fields, each an in-place update.
    let p = sb.plan(Mode::Deploy).await;
    let expected: BTreeMap<String, BTreeSet<String>> = [
        (
            "aws_s3_bucket.ai_data",
            vec!["encryption", "tags", "versioning"],
        ),
        (
            "aws_s3_bucket.application_data",
            vec!["lifecycle", "policy"],
        ),
    ]
    .into_iter()
    .map(|(a, f)| (a.to_string(), f.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(changed_fields(&p), expected, "plan:\n{p}");
    assert!(p
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .all(|c| c.action == Action::Update));
    let text = p.to_string();
    assert!(
        text.contains("versioning: \"Suspended\" -> \"Enabled\""),
        "{text}"
    );
    assert!(text.contains("tags.Rogue: \"yes\" -> (none)"), "{text}");
    assert!(
        text.ends_with("Plan: 0 to add, 2 to change, 0 to destroy."),
        "{text}"
    );

    // Apply repairs them, and then nothing is left to do.
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let after = sb.plan(Mode::Deploy).await;
    assert!(!after.has_changes(), "after repair:\n{after}");
    assert_eq!(sb.cli(&["plan", "local", "--detailed-exitcode"]).await, 0);
}

#[tokio::test]
async fn an_untagged_bucket_under_our_name_is_adopted_only_when_asked() {
    let sb = Sandbox::new("e2e-adopt").await;
    let s3 = sb.s3().await;
    let ai = sb.bucket("ai_data");
    s3.create_bucket()
        .bucket(&ai)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    "eu-central-2",
                ))
                .build(),
        )
        .send()
        .await
        .expect("pre-existing bucket");
    // Made before: AWS's reads see it by the time we plan.
    sb.settle().await;

    let p = sb.plan(Mode::Deploy).await;
    let change = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_s3_bucket.ai_data")
        .expect("in plan");
    assert_eq!(change.action, Action::Adopt, "plan:\n{p}");
    assert_eq!(change.requires, Some(layer_core::Flag::Adopt));
    assert!(p.to_string().contains("needs --adopt"));

    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve"]).await,
        3,
        "refused for safety"
    );
    assert_eq!(
        sb.layer_mutations(),
        vec![],
        "a refusal comes before the first mutating call"
    );
    let tags = s3.get_bucket_tagging().bucket(&ai).send().await;
    assert!(
        tags.map(|t| t.tag_set().is_empty()).unwrap_or(true),
        "the bucket is untouched"
    );

    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--adopt"])
            .await,
        0
    );
    let tags = s3
        .get_bucket_tagging()
        .bucket(&ai)
        .send()
        .await
        .expect("tagged now");
    assert!(tags
        .tag_set()
        .iter()
        .any(|t| t.key() == "ManagedBy" && t.value() == "data-and-ai-layer"));
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
}

#[tokio::test]
async fn destroy_refuses_a_bucket_with_objects_unless_purged_and_leaves_nothing_tagged() {
    let sb = Sandbox::new("e2e-destroy").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let s3 = sb.s3().await;
    let app = sb.bucket("application_data");
    // The policy denies object reads and writes from outside the S3 gateway endpoint, with
    // AWS's error code; listing and management stay open to the tool.
    let denied = s3
        .put_object()
        .bucket(&app)
        .key("outside")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("denied outside the VPC");
    assert_eq!(denied.code(), Some("AccessDenied"));
    let denied = s3
        .get_object()
        .bucket(&app)
        .key("outside")
        .send()
        .await
        .expect_err("denied outside the VPC");
    assert_eq!(denied.code(), Some("AccessDenied"));
    // Write from inside the VPC, through its S3 gateway endpoint, with the policy in place:
    // more than 1000 versions, so the purge pages.
    let vpce = sb.session().await.infra.s3_gateway_endpoint_id.clone();
    sb.aws
        .bucket_policies()
        .set_context(local_aws::iam::bucket_policies::S3Context {
            source_vpce: Some(vpce),
            ..Default::default()
        });
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..1100 {
        let (s3, app) = (s3.clone(), app.clone());
        writes.spawn(async move {
            s3.put_object()
                .bucket(&app)
                .key(format!("bulk/{}", i % 700))
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .expect("put from inside the VPC")
        });
        if writes.len() >= 32 {
            writes.join_next().await;
        }
    }
    while writes.join_next().await.is_some() {}
    for i in 0..3 {
        s3.put_object()
            .bucket(&app)
            .key(format!("doc-{i}"))
            .body(ByteStream::from_static(b"v1"))
            .send()
            .await
            .expect("put");
    }
    s3.put_object()
        .bucket(&app)
        .key("doc-0")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .expect("second version");
    s3.delete_object()
        .bucket(&app)
        .key("doc-1")
        .send()
        .await
        .expect("delete marker");
    sb.aws
        .bucket_policies()
        .set_context(local_aws::iam::bucket_policies::S3Context::default());
    assert!(
        s3.get_bucket_policy().bucket(&app).send().await.is_ok(),
        "the policy is still in place"
    );
    // The seed step's access key: teardown deletes it before the user.
    let iam = sb.iam().await;
    iam.create_access_key()
        .user_name("e2e-destroy-s3-access")
        .send()
        .await
        .expect("access key");

    let p = sb.plan(Mode::Destroy).await;
    let guarded = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_s3_bucket.application_data")
        .expect("in plan");
    assert_eq!(guarded.action, Action::Delete);
    assert_eq!(guarded.requires, Some(layer_core::Flag::PurgeBuckets));

    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["destroy", "local", "--auto-approve"]).await, 3);
    assert_eq!(
        sb.layer_mutations(),
        vec![],
        "refused before any mutating call"
    );
    assert!(
        s3.head_bucket().bucket(&app).send().await.is_ok(),
        "bucket still there"
    );

    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
            .await,
        0
    );
    let buckets = s3.list_buckets().send().await.expect("list buckets");
    let ours: Vec<_> = buckets
        .buckets()
        .iter()
        .filter_map(|b| b.name())
        .filter(|n| n.starts_with(&sb.nid))
        .collect();
    assert!(ours.is_empty(), "buckets left: {ours:?}");
    assert!(
        iam.get_user()
            .user_name("e2e-destroy-s3-access")
            .send()
            .await
            .is_err(),
        "user deleted"
    );
    // The plan of a second destroy is empty.
    assert!(!sb.plan(Mode::Destroy).await.has_changes());
}

#[tokio::test]
async fn a_protected_environment_needs_confirm_env_for_destroy() {
    let sb = Sandbox::with("e2e-protected", |t| format!("protected = true\n{t}")).await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve"]).await,
        3,
        "--auto-approve never stands in for --confirm-env"
    );
    assert_eq!(
        sb.cli(&[
            "destroy",
            "local",
            "--auto-approve",
            "--confirm-env",
            "prod"
        ])
        .await,
        3,
        "it names this environment"
    );
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    assert_eq!(
        sb.cli(&[
            "destroy",
            "local",
            "--auto-approve",
            "--confirm-env",
            "local"
        ])
        .await,
        0
    );
}

#[tokio::test]
async fn outputs_of_disabled_parts_are_null_not_absent() {
    let sb = Sandbox::with("e2e-nulls", |t| {
        t.replace("[redis]\n", "[redis]\nenable_endpoint = false\n")
    })
    .await;
    let before = sb.session().await.outputs().await.unwrap();
    for key in layer::OUTPUTS {
        assert!(before.contains_key(*key), "{key} is present before deploy");
    }
    assert_eq!(before["aurora_cluster_endpoint"], serde_json::Value::Null);
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let after = sb.session().await.outputs().await.unwrap();
    assert_eq!(after["elasticache_endpoint_id"], serde_json::Value::Null);
    assert!(after["aurora_endpoint_id"]
        .as_str()
        .is_some_and(|s| s.starts_with("vpce-")));
    let json = layer_core::outputs::terraform_json(&after);
    assert_eq!(
        json["elasticache_endpoint_id"]["value"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn plan_detailed_exitcode_says_whether_changes_are_pending() {
    let sb = Sandbox::new("e2e-exitcode").await;
    assert_eq!(sb.cli(&["plan", "local", "--detailed-exitcode"]).await, 2);
    assert_eq!(sb.cli(&["plan", "local"]).await, 0, "without the flag, 0");
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert_eq!(sb.cli(&["plan", "local", "--detailed-exitcode"]).await, 0);
    sb.s3()
        .await
        .put_bucket_versioning()
        .bucket(sb.bucket("ai_data"))
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sb.cli(&["plan", "local", "--detailed-exitcode"]).await, 2);
    assert_eq!(
        sb.cli(&["plan", "local", "--detailed-exitcode", "--json"])
            .await,
        2
    );
}

#[tokio::test]
async fn a_lost_response_on_every_create_of_a_fresh_deploy_converges_without_duplicates() {
    let sb = Sandbox::new("e2e-lost").await;
    let creates = [
        "CreateBucket",
        "CreateUser",
        "CreateSecurityGroup",
        "CreateVpcEndpoint",
        "CreateLogGroup",
        "CreateDBSubnetGroup",
        "CreateDBClusterParameterGroup",
        "CreateDBCluster",
        "CreateDBInstance",
        "CreateCacheSubnetGroup",
        "CreateCacheParameterGroup",
        "CreateReplicationGroup",
        "CreateSecret",
        "CreateAccessKey",
    ];
    sb.aws.faults().set(local_aws::FaultPlan {
        seed: 3,
        // Each create: the connection dropped first (not carried out), then carried out with
        // its response lost; the SDK's retries and our creates must make one of each.
        rules: [
            local_aws::Fault::DropConnection,
            local_aws::Fault::LoseResponse,
        ]
        .into_iter()
        .flat_map(|fault| {
            creates.iter().map(move |op| local_aws::Rule {
                service: None,
                operation: Some(op.to_string()),
                mutating_only: true,
                fault,
                rate: 1.0,
                count: Some(1),
                latency_ms: 0,
            })
        })
        .collect(),
    });
    let first = sb.cli(&["deploy", "local", "--auto-approve"]).await;
    let injected = sb.aws.faults().injected();
    sb.aws.faults().clear();
    assert_eq!(first, 0, "a lost response never fails the run");
    assert_eq!(
        injected,
        2 * creates.len() as u64,
        "every create was hit twice"
    );
    // The key whose answer was lost was deleted by the run that made it, once the list showed
    // the key made after it: none is left for a later run to find.
    sb.settle().await;
    let held = sb.secret_value("s3-access-key-id").await.expect("key id");
    assert_eq!(
        sb.access_key_ids().await,
        [held],
        "the user's only key is the one held"
    );
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
    // A second deploy, counted: nothing to write.
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert_eq!(sb.mutating_calls(), Vec::<String>::new());
    // No duplicates: one endpoint per service, one security group per name.
    let ec2 = ec2_query::Client::new(&sb.sdk().await);
    let vpce = ec2.describe_vpc_endpoints(&[], &[]).await.unwrap();
    for service in ["rds", "elasticache"] {
        let n = vpce
            .iter()
            .filter(|e| e.service_name == format!("com.amazonaws.eu-central-2.{service}"))
            .filter(|e| !e.state.eq_ignore_ascii_case("deleted"))
            .count();
        assert_eq!(n, 1, "{service} endpoints");
    }
    let sgs = ec2.describe_security_groups(&[], &[]).await.unwrap();
    for name in ["e2e-lost-aurora", "e2e-lost-redis"] {
        let n = sgs.iter().filter(|g| g.name == name).count();
        assert_eq!(n, 1, "{name}");
    }
}

#[tokio::test]
async fn a_bucket_whose_create_was_interrupted_is_ours_on_the_next_run() {
    let sb = Sandbox::new("e2e-halfmade").await;
    // Every call after CreateBucket fails: the run stops right after the buckets were created.
    sb.aws.faults().set(local_aws::FaultPlan {
        seed: 5,
        rules: ["PutBucketTagging", "PutBucketPolicy"]
            .iter()
            .map(|op| local_aws::Rule {
                service: Some("s3".into()),
                operation: Some(op.to_string()),
                mutating_only: true,
                fault: local_aws::Fault::DropConnection,
                rate: 1.0,
                count: None,
                latency_ms: 0,
            })
            .collect(),
    });
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        1
    );
    sb.aws.faults().clear();
    let s3 = sb.s3().await;
    let app = sb.bucket("application_data");
    // Created with its tags, so it is ours even though the run stopped.
    let tags = s3.get_bucket_tagging().bucket(&app).send().await.unwrap();
    assert!(tags
        .tag_set()
        .iter()
        .any(|t| t.key() == "ManagedBy" && t.value() == "data-and-ai-layer"));
    let p = sb.plan(Mode::Deploy).await;
    assert!(
        p.changes.iter().all(|c| c.action != Action::Adopt),
        "no adoption needed:\n{p}"
    );
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert!(s3.get_bucket_policy().bucket(&app).send().await.is_ok());
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
}
