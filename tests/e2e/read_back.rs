//! Drift repair read back independently: after the repair, each field of the drift table is read
//! with the SDK and compared with a value derived from the environment's configuration (its
//! settings, the infrastructure layer's outputs, the spec's fixed values), not with the tool's own
//! next plan.

use std::collections::BTreeMap;

use aws_types::SdkConfig;
use dal_tests::{Sandbox, ACCOUNT};
use serde_json::Value;

/// What a field should read, from the configuration.
struct Expected {
    settings: BTreeMap<&'static str, Value>,
    infra: layer_core::config::Infrastructure,
    tags: BTreeMap<String, String>,
    nid: String,
}

impl Expected {
    async fn of(sb: &Sandbox) -> Self {
        let env = sb.env();
        let mut settings = BTreeMap::new();
        for family in ["s3", "aurora", "redis", "bedrock"] {
            let section: Value = env.section(family).expect("the section reads");
            settings.insert(family, section);
        }
        let session = sb.session().await;
        Expected {
            settings,
            infra: session.infra.clone(),
            tags: env.resource_tags().into_iter().collect(),
            nid: sb.nid.clone(),
        }
    }

    fn setting(&self, family: &str, key: &str) -> &Value {
        let v = &self.settings[family][key];
        assert!(!v.is_null(), "{family}.{key} is configured");
        v
    }

    fn number(&self, family: &str, key: &str) -> i64 {
        self.setting(family, key).as_i64().expect("a number")
    }
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, read: T, want: T) -> Result<(), String> {
    if read == want {
        Ok(())
    } else {
        Err(format!("{what}: read {read:?}, configured {want:?}"))
    }
}

/// Our tags all there, the hand-made one gone.
fn tags_ok(read: BTreeMap<String, String>, want: &BTreeMap<String, String>) -> Result<(), String> {
    let missing: Vec<_> = want
        .iter()
        .filter(|(k, v)| read.get(*k) != Some(v))
        .collect();
    if read.contains_key("Owner") || !missing.is_empty() {
        return Err(format!("tags {read:?}: missing {missing:?} or Owner left"));
    }
    Ok(())
}

/// The tags of the resource at `address`, read with its service's own call.
async fn tags_of(sb: &Sandbox, sdk: &SdkConfig, address: &str) -> BTreeMap<String, String> {
    let nid = sb.nid.as_str();
    let region = "eu-central-2";
    let rds = aws_sdk_rds::Client::new(sdk);
    let cache = aws_sdk_elasticache::Client::new(sdk);
    let ec2 = ec2_query::Client::new(sdk);
    let rds_tags = |kind: &str, id: String| {
        let arn = format!("arn:aws:rds:{region}:{ACCOUNT}:{kind}:{id}");
        let rds = rds.clone();
        async move {
            let out = rds.list_tags_for_resource().resource_name(arn).send().await;
            let out = out.expect("rds tags");
            let list = out.tag_list().iter();
            list.map(|t| {
                (
                    t.key().unwrap_or_default().into(),
                    t.value().unwrap_or_default().into(),
                )
            })
            .collect()
        }
    };
    let cache_tags = |kind: &str, id: String| {
        let arn = format!("arn:aws:elasticache:{region}:{ACCOUNT}:{kind}:{id}");
        let cache = cache.clone();
        async move {
            let out = cache
                .list_tags_for_resource()
                .resource_name(arn)
                .send()
                .await;
            let out = out.expect("elasticache tags");
            let list = out.tag_list().iter();
            list.map(|t| {
                (
                    t.key().unwrap_or_default().into(),
                    t.value().unwrap_or_default().into(),
                )
            })
            .collect()
        }
    };
    let ec2_tags = |filter: (&str, String)| {
        let ec2 = ec2.clone();
        let f = ec2_query::Filter::new(filter.0, filter.1);
        async move {
            let out = ec2.describe_tags(&[f]).await.expect("ec2 tags");
            out.into_iter().map(|t| (t.key, t.value)).collect()
        }
    };
    match address {
        "aws_s3_bucket.application_data" => {
            let out = sb
                .s3()
                .await
                .get_bucket_tagging()
                .bucket(sb.bucket("application_data"));
            let out = out.send().await.expect("bucket tags");
            out.tag_set()
                .iter()
                .map(|t| (t.key().into(), t.value().into()))
                .collect()
        }
        "aws_iam_user.s3_access" => {
            let out = sb
                .iam()
                .await
                .list_user_tags()
                .user_name(format!("{nid}-s3-access"));
            let out = out.send().await.expect("user tags");
            out.tags()
                .iter()
                .map(|t| (t.key().into(), t.value().into()))
                .collect()
        }
        "aws_iam_role.bedrock_logging" => {
            let out = sb
                .iam()
                .await
                .list_role_tags()
                .role_name(format!("{nid}-bedrock-logging"));
            let out = out.send().await.expect("role tags");
            out.tags()
                .iter()
                .map(|t| (t.key().into(), t.value().into()))
                .collect()
        }
        "aws_cloudwatch_log_group.bedrock_invocations" => {
            let arn =
                format!("arn:aws:logs:{region}:{ACCOUNT}:log-group:/bedrock/model-invocations");
            let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
            let out = logs.list_tags_for_resource().resource_arn(arn).send().await;
            out.expect("log group tags")
                .tags()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect()
        }
        "aws_security_group.aurora" => {
            let id = super::drift::security_group(sdk, &format!("{nid}-aurora")).await;
            ec2_tags(("resource-id", id)).await
        }
        "aws_vpc_endpoint.elasticache" => {
            let id = super::drift::vpc_endpoint(sdk, &format!("{nid}-elasticache")).await;
            ec2_tags(("resource-id", id)).await
        }
        "aws_db_subnet_group.aurora" => rds_tags("subgrp", format!("{nid}-aurora")).await,
        "aws_rds_cluster.aurora" => rds_tags("cluster", format!("{nid}-aurora")).await,
        "aws_rds_cluster_instance.aurora" => rds_tags("db", format!("{nid}-aurora-1")).await,
        "aws_elasticache_subnet_group.redis" => {
            cache_tags("subnetgroup", format!("{nid}-redis")).await
        }
        "aws_elasticache_replication_group.redis" => {
            cache_tags("replicationgroup", format!("{nid}-redis")).await
        }
        "aws_prometheus_workspace.this" => {
            let amp = aws_sdk_amp::Client::new(sdk);
            let id = super::drift::prometheus(sdk, nid).await;
            let out = amp
                .describe_workspace()
                .workspace_id(id)
                .send()
                .await
                .expect("workspace");
            let w = out.workspace().cloned().expect("a workspace");
            w.tags().cloned().unwrap_or_default().into_iter().collect()
        }
        "aws_secretsmanager_secret.redis-host" => {
            let out = sb
                .secrets()
                .await
                .describe_secret()
                .secret_id(format!("{nid}/redis-host"));
            let out = out.send().await.expect("secret");
            out.tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().into(),
                        t.value().unwrap_or_default().into(),
                    )
                })
                .collect()
        }
        other => panic!("no tag reader for {other}"),
    }
}

/// Read `field` of `address` back and compare it with the configuration.
pub(crate) async fn read_back(
    sb: &Sandbox,
    sdk: &SdkConfig,
    address: &str,
    field: &str,
) -> Result<(), String> {
    let want = Expected::of(sb).await;
    if field == "tags" {
        return tags_ok(tags_of(sb, sdk, address).await, &want.tags)
            .map_err(|e| format!("{address}.tags: {e}"));
    }
    let what = format!("{address}.{field}");
    match address {
        a if a.starts_with("aws_s3_bucket.") => s3(sb, &want, a, field).await,
        a if a.starts_with("aws_rds_") || a == "aws_db_subnet_group.aurora" => {
            aurora(sdk, &want, a, field).await
        }
        a if a.starts_with("aws_elasticache_") => redis(sdk, &want, a, field).await,
        _ => others(sb, sdk, &want, address, field).await,
    }
    .map_err(|e| format!("{what}: {e}"))
}

async fn s3(sb: &Sandbox, want: &Expected, address: &str, field: &str) -> Result<(), String> {
    let s3 = sb.s3().await;
    let bucket = sb.bucket(address.trim_start_matches("aws_s3_bucket."));
    match field {
        "versioning" => {
            let v = s3
                .get_bucket_versioning()
                .bucket(&bucket)
                .send()
                .await
                .expect("versioning");
            same(
                "status",
                v.status().map(|s| s.as_str().to_string()),
                Some("Enabled".into()),
            )
        }
        "encryption" => {
            let e = s3
                .get_bucket_encryption()
                .bucket(&bucket)
                .send()
                .await
                .expect("encryption");
            let rules = e
                .server_side_encryption_configuration()
                .expect("configured")
                .rules();
            let by_default = rules[0]
                .apply_server_side_encryption_by_default()
                .expect("default");
            same("algorithm", by_default.sse_algorithm().as_str(), "aws:kms")?;
            same(
                "key",
                by_default.kms_master_key_id(),
                Some(want.infra.general_kms_key_arn.as_str()),
            )
        }
        "public_access_block" => {
            let p = s3
                .get_public_access_block()
                .bucket(&bucket)
                .send()
                .await
                .expect("block");
            let c = p.public_access_block_configuration().expect("configured");
            let all = [
                c.block_public_acls(),
                c.ignore_public_acls(),
                c.block_public_policy(),
                c.restrict_public_buckets(),
            ];
            same("all four blocks", all, [Some(true); 4])
        }
        "lifecycle" => {
            let l = s3
                .get_bucket_lifecycle_configuration()
                .bucket(&bucket)
                .send()
                .await;
            let l = l.map_err(|e| format!("no lifecycle: {e:?}"))?;
            let days: Vec<(String, i32)> = l
                .rules()
                .iter()
                .flat_map(|r| r.transitions())
                .map(|t| {
                    (
                        t.storage_class()
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_default(),
                        t.days().unwrap_or(0),
                    )
                })
                .collect();
            let ia = want.number("s3", "application_data_ia_days") as i32;
            let glacier = want.number("s3", "application_data_glacier_days") as i32;
            same(
                "transitions",
                days,
                vec![("STANDARD_IA".into(), ia), ("GLACIER".into(), glacier)],
            )
        }
        "policy" => {
            let p = s3.get_bucket_policy().bucket(&bucket).send().await;
            let p = p.map_err(|e| format!("no policy: {e:?}"))?;
            let doc: Value = serde_json::from_str(p.policy().unwrap_or_default()).expect("JSON");
            let text = doc.to_string();
            let endpoint = &want.infra.s3_gateway_endpoint_id;
            let denies = text.contains("\"Deny\"")
                && text.contains("aws:SourceVpce")
                && text.contains(endpoint.as_str());
            same(
                "denies what does not come through the S3 endpoint",
                denies,
                true,
            )
        }
        other => panic!("no reader for {address}.{other}"),
    }
}

async fn aurora(
    sdk: &SdkConfig,
    want: &Expected,
    address: &str,
    field: &str,
) -> Result<(), String> {
    let rds = aws_sdk_rds::Client::new(sdk);
    let nid = &want.nid;
    let cluster = || async {
        let out = rds
            .describe_db_clusters()
            .db_cluster_identifier(format!("{nid}-aurora"))
            .send()
            .await;
        out.expect("cluster").db_clusters()[0].clone()
    };
    match (address, field) {
        ("aws_rds_cluster.aurora", "backup_retention_days") => same(
            "retention",
            cluster().await.backup_retention_period().map(i64::from),
            Some(want.number("aurora", "backup_retention_days")),
        ),
        ("aws_rds_cluster.aurora", "deletion_protection") => same(
            "deletion protection",
            cluster().await.deletion_protection(),
            want.setting("aurora", "deletion_protection").as_bool(),
        ),
        ("aws_rds_cluster.aurora", "copy_tags_to_snapshot") => same(
            "copy tags",
            cluster().await.copy_tags_to_snapshot(),
            Some(true),
        ),
        ("aws_rds_cluster.aurora", "log_exports") => same(
            "exports",
            cluster().await.enabled_cloudwatch_logs_exports().to_vec(),
            vec!["postgresql".to_string()],
        ),
        ("aws_rds_cluster_instance.aurora", "instance_class") => {
            let out = rds
                .describe_db_instances()
                .db_instance_identifier(format!("{nid}-aurora-1"))
                .send()
                .await;
            let class = out.expect("instance").db_instances()[0]
                .db_instance_class()
                .map(str::to_string);
            same(
                "class",
                class,
                want.setting("aurora", "instance_class")
                    .as_str()
                    .map(str::to_string),
            )
        }
        ("aws_rds_cluster_instance.aurora", "count") => same(
            "instances",
            cluster().await.db_cluster_members().len() as i64,
            want.number("aurora", "instance_count"),
        ),
        ("aws_rds_cluster_parameter_group.aurora", "parameters") => {
            let out = rds
                .describe_db_cluster_parameters()
                .db_cluster_parameter_group_name(format!("{nid}-aurora-pg14"))
                .source("user")
                .send()
                .await
                .expect("parameters");
            let force = out
                .parameters()
                .iter()
                .find(|p| p.parameter_name() == Some("rds.force_ssl"));
            let want_ssl = if want.setting("aurora", "force_ssl").as_bool() == Some(true) {
                "1"
            } else {
                "0"
            };
            same(
                "rds.force_ssl",
                force.and_then(|p| p.parameter_value()),
                Some(want_ssl),
            )
        }
        ("aws_db_subnet_group.aurora", "subnet_ids") => {
            let out = rds
                .describe_db_subnet_groups()
                .db_subnet_group_name(format!("{nid}-aurora"))
                .send()
                .await;
            let g = out.expect("subnet group").db_subnet_groups()[0].clone();
            let mut ids: Vec<String> = g
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_string))
                .collect();
            ids.sort();
            let mut wanted = want.infra.isolated_subnet_ids.clone();
            wanted.sort();
            same("subnets", ids, wanted)
        }
        (a, f) => panic!("no reader for {a}.{f}"),
    }
}

async fn redis(sdk: &SdkConfig, want: &Expected, address: &str, field: &str) -> Result<(), String> {
    let cache = aws_sdk_elasticache::Client::new(sdk);
    let nid = &want.nid;
    let group = || async {
        let out = cache
            .describe_replication_groups()
            .replication_group_id(format!("{nid}-redis"))
            .send()
            .await;
        out.expect("group").replication_groups()[0].clone()
    };
    match (address, field) {
        ("aws_elasticache_replication_group.redis", "node_type") => same(
            "node type",
            group().await.cache_node_type().map(str::to_string),
            want.setting("redis", "node_type")
                .as_str()
                .map(str::to_string),
        ),
        ("aws_elasticache_replication_group.redis", "slow_log") => {
            let g = group().await;
            let slow = g
                .log_delivery_configurations()
                .iter()
                .find(|d| d.log_type().map(|t| t.as_str()) == Some("slow-log"));
            let to = slow
                .and_then(|d| d.destination_details())
                .and_then(|d| d.cloud_watch_logs_details())
                .and_then(|c| c.log_group());
            same(
                "slow log to",
                to,
                Some(format!("/aws/vendedlogs/elasticache/{nid}-redis/slow-log").as_str()),
            )
        }
        ("aws_elasticache_subnet_group.redis", "subnet_ids") => {
            let out = cache
                .describe_cache_subnet_groups()
                .cache_subnet_group_name(format!("{nid}-redis"))
                .send()
                .await;
            let g = out.expect("subnet group").cache_subnet_groups()[0].clone();
            let mut ids: Vec<String> = g
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_string))
                .collect();
            ids.sort();
            let mut wanted = want.infra.isolated_subnet_ids.clone();
            wanted.sort();
            same("subnets", ids, wanted)
        }
        ("aws_elasticache_parameter_group.redis", "parameters") => {
            let out = cache
                .describe_cache_parameters()
                .cache_parameter_group_name(format!("{nid}-redis7"))
                .send()
                .await
                .expect("parameters");
            let p = out
                .parameters()
                .iter()
                .find(|p| p.parameter_name() == Some("maxmemory-policy"));
            // The layer sets none: the family's default stands.
            same(
                "maxmemory-policy",
                p.and_then(|p| p.parameter_value()),
                Some("volatile-lru"),
            )
        }
        (a, f) => panic!("no reader for {a}.{f}"),
    }
}

async fn others(
    sb: &Sandbox,
    sdk: &SdkConfig,
    want: &Expected,
    address: &str,
    field: &str,
) -> Result<(), String> {
    let nid = &want.nid;
    let iam = sb.iam().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let group = |name: String| {
        let logs = logs.clone();
        async move {
            let out = logs
                .describe_log_groups()
                .log_group_name_prefix(&name)
                .send()
                .await
                .expect("groups");
            out.log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(name.as_str()))
                .cloned()
                .expect("the group")
        }
    };
    match (address, field) {
        ("aws_iam_user.s3_access", "policy") => {
            let user = format!("{nid}-s3-access");
            let names = iam
                .list_user_policies()
                .user_name(&user)
                .send()
                .await
                .expect("policies");
            let name = names.policy_names().first().ok_or("no inline policy")?;
            let doc = iam
                .get_user_policy()
                .user_name(&user)
                .policy_name(name)
                .send()
                .await
                .expect("policy");
            let text = urlencoding_decode(doc.policy_document());
            let covers = [sb.bucket("application_data"), sb.bucket("ai_data")]
                .iter()
                .all(|b| text.contains(b.as_str()))
                && text.contains("s3:GetObject")
                && text.contains(&want.infra.general_kms_key_arn);
            same("grants both buckets and the general key", covers, true)
        }
        ("aws_cloudwatch_log_group.aurora_postgresql", "retention_days") => {
            let g = group(format!("/aws/rds/cluster/{nid}-aurora/postgresql")).await;
            same(
                "retention",
                g.retention_in_days().map(i64::from),
                Some(want.number("aurora", "log_retention_days")),
            )
        }
        ("aws_cloudwatch_log_group.redis_slow_log", "kms_key") => {
            let g = group(format!("/aws/vendedlogs/elasticache/{nid}-redis/slow-log")).await;
            same(
                "key",
                g.kms_key_id(),
                Some(want.infra.logs_kms_key_arn.as_str()),
            )
        }
        ("aws_security_group.aurora", "ingress") => {
            let rules = ingress(sdk, &format!("{nid}-aurora"), true).await;
            same(
                "ingress",
                rules,
                vec![(5432, 5432, want.infra.vpc_cidr.clone())],
            )
        }
        ("aws_security_group.redis", "egress") => {
            let rules = ingress(sdk, &format!("{nid}-redis"), false).await;
            same(
                "no egress opened by hand",
                rules.iter().any(|r| r.0 == 25),
                false,
            )
        }
        ("aws_vpc_endpoint.rds", "private_dns") => {
            let ec2 = ec2_query::Client::new(sdk);
            let id = super::drift::vpc_endpoint(sdk, &format!("{nid}-rds")).await;
            let out = ec2
                .describe_vpc_endpoints(&[], &[&id])
                .await
                .expect("endpoint");
            same("private DNS", out[0].private_dns_enabled, true)
        }
        ("aws_bedrock_inference_profile.profiles", "profiles") => {
            let bedrock = aws_sdk_bedrock::Client::new(sdk);
            let out = bedrock
                .list_inference_profiles()
                .type_equals(aws_sdk_bedrock::types::InferenceProfileType::Application)
                .send()
                .await
                .expect("profiles");
            let mut ours: Vec<String> = out
                .inference_profile_summaries()
                .iter()
                .filter_map(|p| {
                    p.inference_profile_name()
                        .strip_prefix(&format!("{nid}-"))
                        .map(str::to_string)
                })
                .collect();
            ours.sort();
            let table = want
                .setting("bedrock", "inference_profiles")
                .as_object()
                .expect("a table");
            let enabled = table
                .iter()
                .filter(|(_, p)| p["enabled"].as_bool() != Some(false));
            let mut configured: Vec<String> = enabled.map(|(k, _)| k.clone()).collect();
            configured.sort();
            same("profiles", ours, configured)
        }
        ("aws_bedrock_model_invocation_logging_configuration.this", "text_data_delivery") => {
            let bedrock = aws_sdk_bedrock::Client::new(sdk);
            let out = bedrock
                .get_model_invocation_logging_configuration()
                .send()
                .await
                .expect("logging");
            same(
                "text delivery",
                out.logging_config()
                    .and_then(|c| c.text_data_delivery_enabled()),
                Some(true),
            )
        }
        ("aws_iam_role.bedrock_logging", "policies") => {
            let role = format!("{nid}-bedrock-logging");
            let names = iam
                .list_role_policies()
                .role_name(&role)
                .send()
                .await
                .expect("policies");
            let name = names.policy_names().first().ok_or("no inline policy")?;
            let doc = iam
                .get_role_policy()
                .role_name(&role)
                .policy_name(name)
                .send()
                .await
                .expect("policy");
            let text = urlencoding_decode(doc.policy_document());
            let group = want
                .setting("bedrock", "log_group_name")
                .as_str()
                .expect("a name")
                .to_string();
            same(
                "writes to the invocation log group",
                text.contains("logs:PutLogEvents") && text.contains(&group),
                true,
            )
        }
        ("aws_iam_role.bedrock_logging", "trust") => {
            let out = iam
                .get_role()
                .role_name(format!("{nid}-bedrock-logging"))
                .send()
                .await
                .expect("role");
            let text = urlencoding_decode(
                out.role()
                    .and_then(|r| r.assume_role_policy_document())
                    .unwrap_or_default(),
            );
            same(
                "trusts Bedrock only",
                text.contains("bedrock.amazonaws.com") && !text.contains("ec2.amazonaws.com"),
                true,
            )
        }
        ("aws_prometheus_workspace.this", f) => {
            let amp = aws_sdk_amp::Client::new(sdk);
            let id = super::drift::prometheus(sdk, nid).await;
            if f == "alias" {
                let out = amp
                    .describe_workspace()
                    .workspace_id(&id)
                    .send()
                    .await
                    .expect("workspace");
                let alias = out.workspace().and_then(|w| w.alias()).map(str::to_string);
                return same("alias", alias, Some(format!("{nid}-prometheus")));
            }
            let out = amp
                .describe_logging_configuration()
                .workspace_id(&id)
                .send()
                .await;
            let arn = out
                .ok()
                .and_then(|o| o.logging_configuration)
                .map(|l| l.log_group_arn().to_string());
            same(
                "log group",
                arn.map(|a| a.trim_end_matches(":*").to_string()),
                Some(
                    want.infra
                        .prometheus_log_group_arn
                        .trim_end_matches(":*")
                        .to_string(),
                ),
            )
        }
        ("aws_secretsmanager_secret.psql-host", "description") => {
            let out = sb
                .secrets()
                .await
                .describe_secret()
                .secret_id(format!("{nid}/psql-host"))
                .send()
                .await
                .expect("secret");
            let d = out.description().unwrap_or_default().to_string();
            same(
                "description is the tool's",
                d != "changed by hand" && !d.is_empty(),
                true,
            )
        }
        (a, f) => panic!("no reader for {a}.{f}"),
    }
}

/// IAM answers policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A security group's ingress (or egress) rules as (from, to, CIDR).
async fn ingress(sdk: &SdkConfig, name: &str, inbound: bool) -> Vec<(i32, i32, String)> {
    let ec2 = ec2_query::Client::new(sdk);
    let f = ec2_query::Filter::new("group-name", name);
    let out = ec2
        .describe_security_groups(&[f], &[])
        .await
        .expect("group");
    let g = &out[0];
    let rules = if inbound { &g.ingress } else { &g.egress };
    rules
        .iter()
        .flat_map(|p| {
            p.cidrs.iter().map(move |c| {
                (
                    p.from_port.unwrap_or(-1),
                    p.to_port.unwrap_or(-1),
                    c.clone(),
                )
            })
        })
        .collect()
}
