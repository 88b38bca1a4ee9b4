//! The Redis family end to end: sbx-like to prod-like and back, drift, a refused replacement, a busy
//! group, teardown.

use dal_tests::{fields, set, Sandbox};
use layer_core::engine::Mode;
use layer_core::Action;
use local_aws::SlowSettings;

const SBX: &str =
    "num_cache_nodes = 1\nautomatic_failover_enabled = false\nmulti_az_enabled = false";
const PROD: &str =
    "num_cache_nodes = 2\nautomatic_failover_enabled = true\nmulti_az_enabled = true";

fn elasticache_mutations(sb: &Sandbox) -> Vec<String> {
    sb.layer_mutations()
        .into_iter()
        .filter(|c| c.service == "elasticache")
        .map(|c| c.operation)
        .collect()
}

#[tokio::test]
async fn sbx_like_redis_grows_to_prod_like_and_back_in_the_order_aws_requires() {
    let sb = Sandbox::new("e2e-redis").await;
    sb.aws.slow().set(SlowSettings {
        creation_ms: 800,
        modification_ms: 300,
        ..Default::default()
    });
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);

    let session = sb.session().await;
    let out = session.outputs().await.expect("outputs");
    assert_eq!(out["elasticache_replication_group_id"], "e2e-redis-redis");
    let primary = out["elasticache_primary_endpoint_address"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        primary.starts_with("master.e2e-redis-redis.")
            && primary.ends_with(".euc2.cache.amazonaws.com"),
        "{primary}"
    );
    assert_eq!(out["elasticache_port"], 6380);
    assert!(
        out["elasticache_configuration_endpoint_address"].is_null(),
        "cluster mode is off"
    );
    assert!(out["elasticache_endpoint_id"]
        .as_str()
        .unwrap()
        .starts_with("vpce-"));

    let sdk = sb.sdk().await;
    let ec = aws_sdk_elasticache::Client::new(&sdk);
    let g = ec
        .describe_replication_groups()
        .replication_group_id("e2e-redis-redis")
        .send()
        .await
        .unwrap();
    let g = &g.replication_groups()[0];
    assert_eq!(g.member_clusters().len(), 1);
    assert_eq!(g.at_rest_encryption_enabled(), Some(true));
    assert_eq!(g.transit_encryption_enabled(), Some(true));
    assert_eq!(
        g.kms_key_id(),
        Some(session.infra.general_kms_key_arn.as_str())
    );
    let log = &g.log_delivery_configurations()[0];
    assert_eq!(
        log.log_type(),
        Some(&aws_sdk_elasticache::types::LogType::SlowLog)
    );
    assert_eq!(
        log.log_format(),
        Some(&aws_sdk_elasticache::types::LogFormat::Json)
    );
    assert_eq!(
        log.destination_details()
            .and_then(|d| d.cloud_watch_logs_details())
            .and_then(|c| c.log_group()),
        Some("/aws/vendedlogs/elasticache/e2e-redis-redis/slow-log")
    );
    let pg = ec
        .describe_cache_parameter_groups()
        .cache_parameter_group_name("e2e-redis-redis7")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pg.cache_parameter_groups()[0].cache_parameter_group_family(),
        Some("redis7")
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let lg = logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/vendedlogs/elasticache/e2e-redis-redis/slow-log")
        .send()
        .await
        .unwrap();
    assert_eq!(
        lg.log_groups()[0].kms_key_id(),
        Some(session.infra.logs_kms_key_arn.as_str())
    );
    assert!(!sb.plan(Mode::Deploy).await.has_changes());

    // To prod-like: replicas first, then failover, then multi-AZ.
    sb.edit_env("local", |t| t.replace(SBX, PROD));
    let p = sb.plan(Mode::Deploy).await;
    assert_eq!(
        fields(&p, "aws_elasticache_replication_group.redis"),
        set(&["automatic_failover", "multi_az", "num_cache_clusters"]),
        "{p}"
    );
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert_eq!(
        elasticache_mutations(&sb),
        [
            "IncreaseReplicaCount",
            "ModifyReplicationGroup",
            "ModifyReplicationGroup"
        ]
    );
    let g = ec
        .describe_replication_groups()
        .replication_group_id("e2e-redis-redis")
        .send()
        .await
        .unwrap();
    let g = &g.replication_groups()[0];
    assert_eq!(g.member_clusters().len(), 2);
    assert_eq!(
        g.automatic_failover(),
        Some(&aws_sdk_elasticache::types::AutomaticFailoverStatus::Enabled)
    );
    assert_eq!(
        g.multi_az(),
        Some(&aws_sdk_elasticache::types::MultiAzStatus::Enabled)
    );
    assert!(!sb.plan(Mode::Deploy).await.has_changes());

    // And back: multi-AZ off, failover off, then the replica goes.
    sb.edit_env("local", |t| t.replace(PROD, SBX));
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert_eq!(
        elasticache_mutations(&sb),
        [
            "ModifyReplicationGroup",
            "ModifyReplicationGroup",
            "DecreaseReplicaCount"
        ]
    );
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
}

#[tokio::test]
async fn redis_drift_is_repaired_a_port_change_replaces_the_group_only_when_allowed_and_teardown_leaves_nothing(
) {
    let sb = Sandbox::new("e2e-rdrift").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let sdk = sb.sdk().await;
    let ec = aws_sdk_elasticache::Client::new(&sdk);
    ec.modify_replication_group()
        .replication_group_id("e2e-rdrift-redis")
        .cache_node_type("cache.t3.small")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    ec.add_tags_to_resource()
        .resource_name(
            "arn:aws:elasticache:eu-central-2:123456789012:replicationgroup:e2e-rdrift-redis",
        )
        .tags(
            aws_sdk_elasticache::types::Tag::builder()
                .key("Rogue")
                .value("yes")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    logs.put_retention_policy()
        .log_group_name("/aws/vendedlogs/elasticache/e2e-rdrift-redis/slow-log")
        .retention_in_days(1)
        .send()
        .await
        .unwrap();

    let p = sb.plan(Mode::Deploy).await;
    assert_eq!(
        fields(&p, "aws_elasticache_replication_group.redis"),
        set(&["node_type", "tags"]),
        "{p}"
    );
    assert_eq!(
        fields(&p, "aws_cloudwatch_log_group.redis_slow_log"),
        set(&["retention_days"]),
        "{p}"
    );
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert!(!sb.plan(Mode::Deploy).await.has_changes());

    // The port cannot change in place: a replacement, refused without --allow-replace.
    sb.edit_env("local", |t| {
        t.replace("[redis]\n", "[redis]\nport = 6379\n")
    });
    let p = sb.plan(Mode::Deploy).await;
    let c = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_elasticache_replication_group.redis")
        .unwrap();
    assert_eq!(
        c.action,
        Action::Replace {
            reasons: vec!["port".into()]
        }
    );
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 3);
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    // With it, the group is deleted, AWS frees its name once the group is gone, and the new
    // group takes the name.
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--allow-replace"])
            .await,
        0
    );
    let ops = elasticache_mutations(&sb);
    let at = |op: &str| ops.iter().position(|o| o == op);
    assert!(
        at("DeleteReplicationGroup") < at("CreateReplicationGroup")
            && at("DeleteReplicationGroup").is_some(),
        "{ops:?}"
    );
    let now = ec
        .describe_replication_groups()
        .replication_group_id("e2e-rdrift-redis")
        .send()
        .await
        .expect("the new group");
    let g = &now.replication_groups()[0];
    assert_eq!(g.status(), Some("available"));
    let primary = g.node_groups()[0].primary_endpoint().expect("an endpoint");
    assert_eq!(primary.port(), Some(6379));
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
    sb.edit_env("local", |t| {
        t.replace("[redis]\nport = 6379\n", "[redis]\n")
    });

    // Teardown: the group before its subnet, parameter and security groups.
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
            .await,
        0
    );
    let order = elasticache_mutations(&sb);
    let pos = |op: &str| {
        order
            .iter()
            .position(|o| o == op)
            .unwrap_or_else(|| panic!("{op}: {order:?}"))
    };
    assert!(pos("DeleteReplicationGroup") < pos("DeleteCacheSubnetGroup"));
    assert!(pos("DeleteReplicationGroup") < pos("DeleteCacheParameterGroup"));
    assert!(
        ec.describe_replication_groups()
            .replication_group_id("e2e-rdrift-redis")
            .send()
            .await
            .is_err(),
        "gone"
    );
    let after = sb.plan(Mode::Deploy).await;
    assert!(
        after.changes.iter().all(|c| c.action == Action::Create),
        "nothing of ours is left:\n{after}"
    );
}

#[tokio::test]
async fn a_group_being_modified_shows_it_and_a_second_modification_is_refused_as_aws_does() {
    let sb = Sandbox::new("e2e-rbusy").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    sb.aws.slow().set(SlowSettings {
        modification_ms: 3_000,
        ..Default::default()
    });
    // Out of band, the group starts modifying (another tool, a person at the console).
    let ec = aws_sdk_elasticache::Client::new(&sb.sdk().await);
    ec.modify_replication_group()
        .replication_group_id("e2e-rbusy-redis")
        .replication_group_description("busy")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let g = ec
        .describe_replication_groups()
        .replication_group_id("e2e-rbusy-redis")
        .send()
        .await
        .unwrap();
    assert_eq!(g.replication_groups()[0].status(), Some("modifying"));
    // AWS refuses a modification meanwhile; so does the gateway.
    let refused = ec
        .modify_replication_group()
        .replication_group_id("e2e-rbusy-redis")
        .replication_group_description("busier")
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    use aws_sdk_elasticache::error::ProvideErrorMetadata as _;
    assert_eq!(refused.code(), Some("InvalidReplicationGroupState"));
}
