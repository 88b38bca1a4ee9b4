//! Drift on every managed field that AWS lets anyone change in place, in one plan: a table of
//! (resource, field), each changed out of band by one arm of [`change`]; then one plan must name
//! every one of them, and one deploy must repair all of it. Fields that cannot change in place
//! (an engine, a parameter group's family, a storage key) are planned as replacements and tested
//! by each family's own tests. Adding a case is a line in the table and an arm. The repair runs as
//! the least-privileged deploy role with IAM enforced, so every update path's permissions are
//! proven declared too.

use aws_types::SdkConfig;
use dal_tests::{fields, Sandbox, ACCOUNT};
use layer_core::engine::Mode;

#[rustfmt::skip]
const TABLE: &[(&str, &str)] = &[
    ("aws_s3_bucket.ai_data", "versioning"),
    ("aws_s3_bucket.application_data", "encryption"),
    ("aws_s3_bucket.ai_data", "public_access_block"),
    ("aws_s3_bucket.application_data", "lifecycle"),
    ("aws_s3_bucket.ai_data", "policy"),
    ("aws_s3_bucket.application_data", "tags"),
    ("aws_iam_user.s3_access", "policy"),
    ("aws_iam_user.s3_access", "tags"),
    ("aws_cloudwatch_log_group.aurora_postgresql", "retention_days"),
    ("aws_cloudwatch_log_group.redis_slow_log", "kms_key"),
    ("aws_cloudwatch_log_group.bedrock_invocations", "tags"),
    ("aws_security_group.aurora", "ingress"),
    ("aws_security_group.redis", "egress"),
    ("aws_security_group.aurora", "tags"),
    ("aws_db_subnet_group.aurora", "subnet_ids"),
    ("aws_db_subnet_group.aurora", "tags"),
    ("aws_rds_cluster_parameter_group.aurora", "parameters"),
    ("aws_rds_cluster.aurora", "backup_retention_days"),
    ("aws_rds_cluster.aurora", "deletion_protection"),
    ("aws_rds_cluster.aurora", "copy_tags_to_snapshot"),
    ("aws_rds_cluster.aurora", "log_exports"),
    ("aws_rds_cluster.aurora", "tags"),
    ("aws_rds_cluster_instance.aurora", "instance_class"),
    ("aws_rds_cluster_instance.aurora", "count"),
    ("aws_rds_cluster_instance.aurora", "tags"),
    ("aws_vpc_endpoint.rds", "private_dns"),
    ("aws_vpc_endpoint.elasticache", "tags"),
    ("aws_elasticache_subnet_group.redis", "subnet_ids"),
    ("aws_elasticache_subnet_group.redis", "tags"),
    ("aws_elasticache_parameter_group.redis", "parameters"),
    ("aws_elasticache_replication_group.redis", "node_type"),
    ("aws_elasticache_replication_group.redis", "slow_log"),
    ("aws_elasticache_replication_group.redis", "tags"),
    ("aws_bedrock_inference_profile.profiles", "profiles"),
    ("aws_bedrock_model_invocation_logging_configuration.this", "text_data_delivery"),
    ("aws_iam_role.bedrock_logging", "policies"),
    ("aws_iam_role.bedrock_logging", "trust"),
    ("aws_iam_role.bedrock_logging", "tags"),
    ("aws_prometheus_workspace.this", "alias"),
    ("aws_prometheus_workspace.this", "log_group_arn"),
    ("aws_prometheus_workspace.this", "tags"),
    ("aws_secretsmanager_secret.psql-host", "description"),
    ("aws_secretsmanager_secret.redis-host", "tags"),
];

/// An SDK error with its sources: the service's code and message.
fn why<E: std::error::Error>(e: E) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn extra_tag() -> (String, String) {
    ("Owner".to_string(), "changed-by-hand".to_string())
}

pub(crate) async fn security_group(sdk: &SdkConfig, name: &str) -> String {
    ec2_query::Client::new(sdk)
        .describe_security_groups(&[ec2_query::Filter::new("group-name", name)], &[])
        .await
        .expect("described")[0]
        .id
        .clone()
}

pub(crate) async fn vpc_endpoint(sdk: &SdkConfig, name: &str) -> String {
    ec2_query::Client::new(sdk)
        .describe_vpc_endpoints(&[ec2_query::Filter::new("tag:Name", name)], &[])
        .await
        .expect("described")[0]
        .id
        .clone()
}

/// The environment's workspace (its alias may have been changed already).
pub(crate) async fn prometheus(sdk: &SdkConfig, nid: &str) -> String {
    aws_sdk_amp::Client::new(sdk)
        .list_workspaces()
        .send()
        .await
        .expect("listed")
        .workspaces()
        .iter()
        .find(|w| w.alias().is_some_and(|a| a.starts_with(nid)))
        .expect("the environment's workspace")
        .workspace_id()
        .to_string()
}

/// One out-of-band change of `field` on `address`.
async fn change(sb: &Sandbox, sdk: &SdkConfig, address: &str, field: &str) -> Result<(), String> {
    use aws_sdk_s3::types as s3t;
    let nid = sb.nid.as_str();
    let region = "eu-central-2";
    let rds = aws_sdk_rds::Client::new(sdk);
    let ec2 = ec2_query::Client::new(sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let cache = aws_sdk_elasticache::Client::new(sdk);
    let iam = sb.iam().await;
    let s3 = sb.s3().await;
    let (tk, tv) = extra_tag();
    let rds_tag = aws_sdk_rds::types::Tag::builder()
        .key(&tk)
        .value(&tv)
        .build();
    let cache_tag = aws_sdk_elasticache::types::Tag::builder()
        .key(&tk)
        .value(&tv)
        .build();
    let ec2_tag = [(&tk, &tv)];
    let rds_arn = |kind: &str, id: &str| format!("arn:aws:rds:{region}:{ACCOUNT}:{kind}:{id}");
    let cache_arn =
        |kind: &str, id: &str| format!("arn:aws:elasticache:{region}:{ACCOUNT}:{kind}:{id}");
    let done = match (address, field) {
        ("aws_s3_bucket.ai_data", "versioning") => s3
            .put_bucket_versioning()
            .bucket(sb.bucket("ai_data"))
            .versioning_configuration(
                s3t::VersioningConfiguration::builder()
                    .status(s3t::BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_s3_bucket.application_data", "encryption") => s3
            .put_bucket_encryption()
            .bucket(sb.bucket("application_data"))
            .server_side_encryption_configuration(
                s3t::ServerSideEncryptionConfiguration::builder()
                    .rules(
                        s3t::ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                s3t::ServerSideEncryptionByDefault::builder()
                                    .sse_algorithm(s3t::ServerSideEncryption::Aes256)
                                    .build()
                                    .expect("rule"),
                            )
                            .build(),
                    )
                    .build()
                    .expect("configuration"),
            )
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_s3_bucket.ai_data", "public_access_block") => s3
            .put_public_access_block()
            .bucket(sb.bucket("ai_data"))
            .public_access_block_configuration(
                s3t::PublicAccessBlockConfiguration::builder()
                    .block_public_acls(false)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_s3_bucket.application_data", "lifecycle") => s3
            .delete_bucket_lifecycle()
            .bucket(sb.bucket("application_data"))
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_s3_bucket.ai_data", "policy") => s3
            .delete_bucket_policy()
            .bucket(sb.bucket("ai_data"))
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_s3_bucket.application_data", "tags") => {
            let bucket = sb.bucket("application_data");
            let mut tags: Vec<s3t::Tag> = s3
                .get_bucket_tagging()
                .bucket(&bucket)
                .send()
                .await
                .expect("tags")
                .tag_set()
                .to_vec();
            tags.push(
                s3t::Tag::builder()
                    .key(&tk)
                    .value(&tv)
                    .build()
                    .expect("tag"),
            );
            s3.put_bucket_tagging()
                .bucket(&bucket)
                .tagging(
                    s3t::Tagging::builder()
                        .set_tag_set(Some(tags))
                        .build()
                        .expect("tagging"),
                )
                .send()
                .await
                .map(drop)
                .map_err(why)
        }
        ("aws_iam_user.s3_access", "policy") => {
            let user = format!("{nid}-s3-access");
            let names = iam
                .list_user_policies()
                .user_name(&user)
                .send()
                .await
                .expect("listed");
            iam.delete_user_policy()
                .user_name(&user)
                .policy_name(&names.policy_names()[0])
                .send()
                .await
                .map(drop)
                .map_err(why)
        }
        ("aws_iam_user.s3_access", "tags") => iam
            .tag_user()
            .user_name(format!("{nid}-s3-access"))
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(&tk)
                    .value(&tv)
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_cloudwatch_log_group.aurora_postgresql", "retention_days") => logs
            .put_retention_policy()
            .log_group_name(format!("/aws/rds/cluster/{nid}-aurora/postgresql"))
            .retention_in_days(1)
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_cloudwatch_log_group.redis_slow_log", "kms_key") => logs
            .disassociate_kms_key()
            .log_group_name(format!("/aws/vendedlogs/elasticache/{nid}-redis/slow-log"))
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_cloudwatch_log_group.bedrock_invocations", "tags") => logs
            .tag_resource()
            .resource_arn(format!(
                "arn:aws:logs:{region}:{ACCOUNT}:log-group:/bedrock/model-invocations"
            ))
            .tags(&tk, &tv)
            .send()
            .await
            .map(drop)
            .map_err(why),
        // The legacy top-level form of the call (no `IpPermissions`), as a console script sends it.
        ("aws_security_group.aurora", "ingress") => ec2
            .call(
                ec2_query::Query::new("AuthorizeSecurityGroupIngress")
                    .param(
                        "GroupId",
                        security_group(sdk, &format!("{nid}-aurora")).await,
                    )
                    .param("IpProtocol", "tcp")
                    .param("FromPort", "9999")
                    .param("ToPort", "9999")
                    .param("CidrIp", "192.0.2.0/24"),
            )
            .await
            .map(drop)
            .map_err(why),
        ("aws_security_group.redis", "egress") => ec2
            .change_rules(
                ec2_query::RuleChange::AuthorizeEgress,
                &security_group(sdk, &format!("{nid}-redis")).await,
                &[ec2_query::Permission {
                    protocol: "tcp".into(),
                    from_port: Some(25),
                    to_port: Some(25),
                    cidrs: vec!["192.0.2.0/24".into()],
                }],
            )
            .await
            .map_err(why),
        ("aws_security_group.aurora", "tags") => ec2
            .create_tags(
                &security_group(sdk, &format!("{nid}-aurora")).await,
                ec2_tag,
            )
            .await
            .map_err(why),
        ("aws_db_subnet_group.aurora", "subnet_ids") => {
            let g = rds
                .describe_db_subnet_groups()
                .db_subnet_group_name(format!("{nid}-aurora"))
                .send()
                .await
                .expect("described");
            let subnets: Vec<String> = g.db_subnet_groups()[0]
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_string))
                .collect();
            rds.modify_db_subnet_group()
                .db_subnet_group_name(format!("{nid}-aurora"))
                .set_subnet_ids(Some(subnets[..subnets.len() - 1].to_vec()))
                .send()
                .await
                .map(drop)
                .map_err(why)
        }
        ("aws_db_subnet_group.aurora", "tags") => rds
            .add_tags_to_resource()
            .resource_name(rds_arn("subgrp", &format!("{nid}-aurora")))
            .tags(rds_tag)
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_rds_cluster_parameter_group.aurora", "parameters") => rds
            .modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(format!("{nid}-aurora-pg14"))
            .parameters(
                aws_sdk_rds::types::Parameter::builder()
                    .parameter_name("rds.force_ssl")
                    .parameter_value("0")
                    .apply_method(aws_sdk_rds::types::ApplyMethod::Immediate)
                    .build(),
            )
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_rds_cluster.aurora", f) if f != "tags" => {
            let mut req = rds
                .modify_db_cluster()
                .db_cluster_identifier(format!("{nid}-aurora"))
                .apply_immediately(true);
            req = match f {
                "backup_retention_days" => req.backup_retention_period(3),
                "deletion_protection" => req.deletion_protection(true),
                "copy_tags_to_snapshot" => req.copy_tags_to_snapshot(false),
                "log_exports" => req.cloudwatch_logs_export_configuration(
                    aws_sdk_rds::types::CloudwatchLogsExportConfiguration::builder()
                        .disable_log_types("postgresql")
                        .build(),
                ),
                other => panic!("no change for aws_rds_cluster.aurora.{other}"),
            };
            req.send().await.map(drop).map_err(why)
        }
        ("aws_rds_cluster.aurora", "tags") => rds
            .add_tags_to_resource()
            .resource_name(rds_arn("cluster", &format!("{nid}-aurora")))
            .tags(rds_tag)
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_rds_cluster_instance.aurora", "instance_class") => rds
            .modify_db_instance()
            .db_instance_identifier(format!("{nid}-aurora-1"))
            .db_instance_class("db.t4g.large")
            .apply_immediately(true)
            .send()
            .await
            .map(drop)
            .map_err(why),
        // An instance with our tags (one without them is not ours, and is left alone).
        ("aws_rds_cluster_instance.aurora", "count") => rds
            .create_db_instance()
            .db_instance_identifier(format!("{nid}-aurora-2"))
            .db_cluster_identifier(format!("{nid}-aurora"))
            .engine("aurora-postgresql")
            .db_instance_class("db.t4g.medium")
            .set_tags(Some(
                sb.env()
                    .resource_tags()
                    .iter()
                    .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_rds_cluster_instance.aurora", "tags") => rds
            .add_tags_to_resource()
            .resource_name(rds_arn("db", &format!("{nid}-aurora-1")))
            .tags(rds_tag)
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_vpc_endpoint.rds", "private_dns") => ec2
            .modify_vpc_endpoint(&ec2_query::VpcEndpointChange {
                id: &vpc_endpoint(sdk, &format!("{nid}-rds")).await,
                private_dns_enabled: Some(false),
                ..Default::default()
            })
            .await
            .map_err(why),
        ("aws_vpc_endpoint.elasticache", "tags") => ec2
            .create_tags(
                &vpc_endpoint(sdk, &format!("{nid}-elasticache")).await,
                ec2_tag,
            )
            .await
            .map_err(why),
        ("aws_elasticache_subnet_group.redis", "subnet_ids") => {
            let g = cache
                .describe_cache_subnet_groups()
                .cache_subnet_group_name(format!("{nid}-redis"))
                .send()
                .await
                .expect("described");
            let subnets: Vec<String> = g.cache_subnet_groups()[0]
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_string))
                .collect();
            cache
                .modify_cache_subnet_group()
                .cache_subnet_group_name(format!("{nid}-redis"))
                .set_subnet_ids(Some(subnets[..subnets.len() - 1].to_vec()))
                .send()
                .await
                .map(drop)
                .map_err(why)
        }
        ("aws_elasticache_subnet_group.redis", "tags") => cache
            .add_tags_to_resource()
            .resource_name(cache_arn("subnetgroup", &format!("{nid}-redis")))
            .tags(cache_tag)
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_elasticache_parameter_group.redis", "parameters") => cache
            .modify_cache_parameter_group()
            .cache_parameter_group_name(format!("{nid}-redis7"))
            .parameter_name_values(
                aws_sdk_elasticache::types::ParameterNameValue::builder()
                    .parameter_name("maxmemory-policy")
                    .parameter_value("allkeys-lru")
                    .build(),
            )
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_elasticache_replication_group.redis", "node_type") => cache
            .modify_replication_group()
            .replication_group_id(format!("{nid}-redis"))
            .cache_node_type("cache.t3.small")
            .apply_immediately(true)
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_elasticache_replication_group.redis", "slow_log") => cache
            .modify_replication_group()
            .replication_group_id(format!("{nid}-redis"))
            .log_delivery_configurations(
                aws_sdk_elasticache::types::LogDeliveryConfigurationRequest::builder()
                    .log_type(aws_sdk_elasticache::types::LogType::SlowLog)
                    .enabled(false)
                    .build(),
            )
            .apply_immediately(true)
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_elasticache_replication_group.redis", "tags") => cache
            .add_tags_to_resource()
            .resource_name(cache_arn("replicationgroup", &format!("{nid}-redis")))
            .tags(cache_tag)
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_bedrock_inference_profile.profiles", "profiles") => {
            let bedrock = aws_sdk_bedrock::Client::new(sdk);
            let listed = bedrock
                .list_inference_profiles()
                .type_equals(aws_sdk_bedrock::types::InferenceProfileType::Application)
                .send()
                .await
                .expect("listed");
            let ours = listed
                .inference_profile_summaries()
                .iter()
                .find(|p| p.inference_profile_name().starts_with(nid))
                .expect("one of ours")
                .inference_profile_arn()
                .to_string();
            bedrock
                .delete_inference_profile()
                .inference_profile_identifier(ours)
                .send()
                .await
                .map(drop)
                .map_err(why)
        }
        ("aws_bedrock_model_invocation_logging_configuration.this", "text_data_delivery") => {
            let bedrock = aws_sdk_bedrock::Client::new(sdk);
            let now = bedrock
                .get_model_invocation_logging_configuration()
                .send()
                .await
                .expect("read")
                .logging_config()
                .cloned()
                .expect("configured");
            let changed = aws_sdk_bedrock::types::LoggingConfig::builder()
                .set_cloud_watch_config(now.cloud_watch_config().cloned())
                .text_data_delivery_enabled(false)
                .set_image_data_delivery_enabled(now.image_data_delivery_enabled())
                .set_embedding_data_delivery_enabled(now.embedding_data_delivery_enabled())
                .build();
            bedrock
                .put_model_invocation_logging_configuration()
                .logging_config(changed)
                .send()
                .await
                .map(drop)
                .map_err(why)
        }
        ("aws_iam_role.bedrock_logging", "policies") => {
            let role = format!("{nid}-bedrock-logging");
            let names = iam
                .list_role_policies()
                .role_name(&role)
                .send()
                .await
                .expect("listed");
            iam.delete_role_policy()
                .role_name(&role)
                .policy_name(&names.policy_names()[0])
                .send()
                .await
                .map(drop)
                .map_err(why)
        }
        ("aws_iam_role.bedrock_logging", "trust") => iam
            .update_assume_role_policy()
            .role_name(format!("{nid}-bedrock-logging"))
            .policy_document(
                serde_json::json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": { "Service": "ec2.amazonaws.com" },
                        "Action": "sts:AssumeRole",
                    }],
                })
                .to_string(),
            )
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_iam_role.bedrock_logging", "tags") => iam
            .tag_role()
            .role_name(format!("{nid}-bedrock-logging"))
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(&tk)
                    .value(&tv)
                    .build()
                    .expect("tag"),
            )
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_prometheus_workspace.this", f) => {
            let amp = aws_sdk_amp::Client::new(sdk);
            let id = prometheus(sdk, nid).await;
            match f {
                "alias" => amp
                    .update_workspace_alias()
                    .workspace_id(&id)
                    .alias(format!("{nid}-renamed"))
                    .send()
                    .await
                    .map(drop)
                    .map_err(why),
                "log_group_arn" => amp
                    .delete_logging_configuration()
                    .workspace_id(&id)
                    .send()
                    .await
                    .map(drop)
                    .map_err(why),
                _ => amp
                    .tag_resource()
                    .resource_arn(format!("arn:aws:aps:{region}:{ACCOUNT}:workspace/{id}"))
                    .tags(&tk, &tv)
                    .send()
                    .await
                    .map(drop)
                    .map_err(why),
            }
        }
        ("aws_secretsmanager_secret.psql-host", "description") => sb
            .secrets()
            .await
            .update_secret()
            .secret_id(format!("{nid}/psql-host"))
            .description("changed by hand")
            .send()
            .await
            .map(drop)
            .map_err(why),
        ("aws_secretsmanager_secret.redis-host", "tags") => sb
            .secrets()
            .await
            .tag_resource()
            .secret_id(format!("{nid}/redis-host"))
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(&tk)
                    .value(&tv)
                    .build(),
            )
            .send()
            .await
            .map(drop)
            .map_err(why),
        (a, f) => panic!("the table names {a}.{f}, which no arm changes"),
    };
    done.map_err(|e| format!("changing {address}.{field} out of band: {e}"))
}

#[tokio::test]
async fn one_plan_names_drift_on_every_field_that_can_change_in_place() {
    let sb = Sandbox::new("e2e-drift-table").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let sdk = sb.sdk().await;
    // The arms find some resources through AWS's lists (profiles, workspaces), which lag
    // behind the deploy that made them.
    sb.settle().await;
    let mut failed = Vec::new();
    for (address, field) in TABLE {
        if let Err(e) = change(&sb, &sdk, address, field).await {
            failed.push(e);
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
    // Changed out of band earlier: the plan runs once AWS's lists show it.
    sb.settle().await;
    let plan = sb.plan(Mode::Deploy).await;
    // Each as an update of what is there: a resource no longer found would be planned as a
    // creation, naming every field.
    let created: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.action == layer_core::Action::Create)
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(created, Vec::<String>::new(), "{}", plan.render(false));
    let missed: Vec<String> = TABLE
        .iter()
        .filter(|(address, field)| !fields(&plan, address).contains(*field))
        .map(|(address, field)| format!("{address}.{field}"))
        .collect();
    assert!(
        missed.is_empty(),
        "changed out of band but not named by plan: {missed:#?}\n{}",
        plan.render(false)
    );
    // Deploy repairs it all, as the least-privileged deploy role with IAM enforced: every update
    // path's permissions are declared.
    sb.enforce_least_privilege(layer_core::access::Command::Deploy)
        .await;
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve"]).await,
        0,
        "deploy repairs it all; refused: {:?}",
        sb.aws.authz().denials()
    );
    assert_eq!(sb.aws.authz().denials(), vec![]);
    // Once AWS's lists show what the repair made (the workspace's tags and alias come from one).
    sb.settle().await;
    let after = sb.plan(Mode::Deploy).await;
    assert!(!after.has_changes(), "{}", after.render(false));
    // Read back, field by field, against the configuration rather than the tool's own plan.
    sb.aws.authz().set(false);
    let mut wrong = Vec::new();
    for (address, field) in TABLE {
        if let Err(e) = super::read_back::read_back(&sb, &sdk, address, field).await {
            wrong.push(e);
        }
    }
    assert!(
        wrong.is_empty(),
        "repaired, but not to the configuration: {wrong:#?}"
    );
}
