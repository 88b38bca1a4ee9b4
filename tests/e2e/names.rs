//! Names and ownership. Every name can be overridden per environment, which is how a
//! Terraform-made layer with names of its own is adopted: the tool uses the given names and makes
//! nothing under ours. What is under our names but not ours is never deleted.

use dal_tests::Sandbox;
use layer_core::engine::Mode;

const OVERRIDES: &str = r#"
[aurora.names]
cluster = "tf-db"
parameter_group = "tf-db-params"
subnet_group = "tf_db_subnets"
security_group = "tf-db-sg"
endpoint = "tf-rds"

[redis.names]
replication_group = "tf-cache"
subnet_group = "tf-cache-subnets"
security_group = "tf-cache-sg"
parameter_group = "tf-cache-params"
log_group = "/tf/redis/slow-log"
endpoint = "tf-elasticache"
"#;

#[tokio::test]
async fn every_name_is_overridable_and_a_terraform_made_resource_is_adopted_under_its_name() {
    let sb = Sandbox::with("e2e-names", |t| format!("{t}\n{OVERRIDES}")).await;
    let sdk = sb.sdk().await;
    let rds = aws_sdk_rds::Client::new(&sdk);
    let ec = aws_sdk_elasticache::Client::new(&sdk);
    let ec2 = ec2_query::Client::new(&sdk);
    let session = sb.session().await;

    // Terraform made the Aurora subnet group under its own name, without our tags.
    rds.create_db_subnet_group()
        .db_subnet_group_name("tf_db_subnets")
        .db_subnet_group_description("made by terraform")
        .set_subnet_ids(Some(session.infra.isolated_subnet_ids.clone()))
        .send()
        .await
        .unwrap();

    // Not ours: adopting it needs the flag, and nothing is written without it.
    sb.aws.calls().reset();
    assert_ne!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    assert_eq!(
        sb.cli(&[
            "deploy",
            "local",
            "--auto-approve",
            "--adopt",
            "--skip-seed"
        ])
        .await,
        0
    );

    let cluster = rds
        .describe_db_clusters()
        .db_cluster_identifier("tf-db")
        .send()
        .await
        .unwrap();
    let cluster = &cluster.db_clusters()[0];
    assert_eq!(cluster.db_subnet_group(), Some("tf_db_subnets"));
    assert_eq!(cluster.db_cluster_parameter_group(), Some("tf-db-params"));
    assert_eq!(cluster.db_cluster_members().len(), 1);
    assert_eq!(
        cluster.db_cluster_members()[0].db_instance_identifier(),
        Some("tf-db-1")
    );
    let groups = ec
        .describe_replication_groups()
        .replication_group_id("tf-cache")
        .send()
        .await
        .unwrap();
    let group = &groups.replication_groups()[0];
    assert_eq!(
        group.log_delivery_configurations()[0]
            .destination_details()
            .and_then(|d| d.cloud_watch_logs_details())
            .and_then(|d| d.log_group()),
        Some("/tf/redis/slow-log")
    );
    let clusters = ec
        .describe_cache_clusters()
        .cache_cluster_id(group.member_clusters()[0].clone())
        .send()
        .await
        .unwrap();
    let member = &clusters.cache_clusters()[0];
    assert_eq!(member.cache_subnet_group_name(), Some("tf-cache-subnets"));
    assert_eq!(
        member
            .cache_parameter_group()
            .and_then(|p| p.cache_parameter_group_name()),
        Some("tf-cache-params")
    );
    let sgs = ec2.describe_security_groups(&[], &[]).await.unwrap();
    let sg_names: Vec<&str> = sgs.iter().map(|g| g.name.as_str()).collect();
    assert!(sg_names.contains(&"tf-db-sg") && sg_names.contains(&"tf-cache-sg"));
    let endpoints = ec2.describe_vpc_endpoints(&[], &[]).await.unwrap();
    let endpoint_names: Vec<&str> = endpoints
        .iter()
        .filter_map(|e| e.tags.get("Name"))
        .map(String::as_str)
        .collect();
    assert!(
        endpoint_names.contains(&"tf-rds") && endpoint_names.contains(&"tf-elasticache"),
        "{endpoint_names:?}"
    );

    // Nothing was made under the default names.
    for name in ["e2e-names-aurora", "e2e-names-redis"] {
        assert!(!sg_names.contains(&name), "{name} made");
    }
    assert!(rds
        .describe_db_subnet_groups()
        .db_subnet_group_name("e2e-names-aurora")
        .send()
        .await
        .is_err());
    assert!(ec
        .describe_replication_groups()
        .replication_group_id("e2e-names-redis")
        .send()
        .await
        .is_err());
    let out = sb.session().await.outputs().await.unwrap();
    assert_eq!(out["aurora_cluster_id"], "tf-db");
    assert_eq!(out["elasticache_replication_group_id"], "tf-cache");

    // Adopted once, ours from then on: the next plan is empty.
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
}

#[tokio::test]
async fn destroy_leaves_alone_what_has_another_environments_tags_or_none_of_ours() {
    let sb = Sandbox::new("e2e-owner").await;
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    let sdk = sb.sdk().await;
    let iam = sb.iam().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    // The S3 user now belongs to another environment; the slow-log group was made again by
    // someone else, without our tags.
    iam.tag_user()
        .user_name("e2e-owner-s3-access")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("Environment")
                .value("dev")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let slow_log = "/aws/vendedlogs/elasticache/e2e-owner-redis/slow-log";
    logs.delete_log_group()
        .log_group_name(slow_log)
        .send()
        .await
        .unwrap();
    logs.create_log_group()
        .log_group_name(slow_log)
        .send()
        .await
        .unwrap();

    let p = sb.plan(Mode::Destroy).await;
    for address in [
        "aws_iam_user.s3_access",
        "aws_cloudwatch_log_group.redis_slow_log",
    ] {
        let c = p
            .changes
            .iter()
            .find(|c| c.address.to_string() == address)
            .unwrap_or_else(|| panic!("{address} not in:\n{p}"));
        assert_eq!(c.action, layer_core::Action::NoOp, "{address}:\n{p}");
        assert!(
            c.note.as_deref().is_some_and(|n| n.contains("left alone")),
            "{address}: {c:?}"
        );
    }
    sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
        .await;
    let deleted: Vec<String> = sb
        .layer_mutations()
        .into_iter()
        .filter(|c| c.operation.starts_with("Delete"))
        .map(|c| c.operation)
        .collect();
    assert!(
        deleted.contains(&"DeleteReplicationGroup".to_string()),
        "{deleted:?}"
    );
    let user = iam
        .get_user()
        .user_name("e2e-owner-s3-access")
        .send()
        .await
        .unwrap();
    assert!(user.user().is_some());
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix(slow_log)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.log_groups().len(), 1, "the slow-log group stays");
}

#[tokio::test]
async fn a_secrets_prefix_of_another_layer_names_every_secret_and_the_run_lock() {
    let sb = Sandbox::with("e2e-prefix", |t| {
        let t = t.replacen("[secrets]\n", "[secrets]\nprefix = \"platform/data/\"\n", 1);
        format!("{t}\n[secrets.names]\nredis-host = \"legacy/cache-host\"\n")
    })
    .await;
    // As the least-privileged deploy role: the policy covers the exactly named secret too.
    sb.enforce_least_privilege(layer_core::access::Command::Deploy)
        .await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert_eq!(sb.aws.authz().denials(), vec![]);
    sb.aws.authz().set(false);
    sb.settle().await;
    let sm = sb.secrets().await;
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = sm
            .list_secrets()
            .set_next_token(token)
            .max_results(100)
            .send()
            .await
            .unwrap();
        names.extend(
            page.secret_list()
                .iter()
                .filter_map(|s| s.name().map(str::to_string)),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let under: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("platform/data/"))
        .collect();
    assert!(under.len() >= 30, "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("e2e-prefix/")),
        "nothing under the naming id: {names:?}"
    );
    let pw = sm
        .get_secret_value()
        .secret_id("platform/data/psql-password")
        .send()
        .await
        .unwrap();
    assert!(pw.secret_string().is_some_and(|v| !v.is_empty()), "seeded");
    // `[secrets.names]` names one exactly.
    assert!(
        names.iter().any(|n| n == "legacy/cache-host")
            && !names.iter().any(|n| n == "platform/data/redis-host"),
        "{names:?}"
    );
    let auth = sm
        .get_secret_value()
        .secret_id("legacy/cache-host")
        .send()
        .await
        .unwrap();
    assert!(
        auth.secret_string().is_some_and(|v| !v.is_empty()),
        "seeded"
    );
    // The run lock is taken under the prefix too.
    let lock: Vec<String> = sb
        .aws
        .calls()
        .snapshot()
        .into_iter()
        .filter_map(|c| c.resource.filter(|r| r.contains("run-lock")))
        .collect();
    assert!(!lock.is_empty());
    assert!(
        lock.iter().all(|r| r.contains("platform/data/run-lock")),
        "{lock:?}"
    );
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
}
