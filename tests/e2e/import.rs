//! Moving in from Terraform: a layer made under Terraform's names and without our tags (here, a
//! deployed layer stripped of every tag of ours, values seeded by the old script's rules) is
//! described by a state document in the AWS provider's attribute names; `import-terraform
//! --write` gives the environment its overrides, the plan then only adopts, `deploy --adopt`
//! converges with no replacement, no creation and no new secret version, and the next plan is
//! empty.

use std::collections::BTreeMap;

use dal_tests::Sandbox;
use layer_core::engine::Mode;
use layer_core::Action;
use serde_json::{json, Value};

const THEIRS: &str = r#"
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

[s3.names]
application_data = "tf-app-data"
ai_data = "tf-ai-data"
s3_access_user = "tf-s3-user"

[monitoring.names]
prometheus = "tf-prometheus"

[tags]
CostCenter = "42"
"#;

/// Keys of ours to strip: the ownership tags and seed's; the layer's own (`CostCenter`) stay.
fn ours(keys: impl IntoIterator<Item = String>) -> Vec<String> {
    keys.into_iter()
        .filter(|k| {
            ["ManagedBy", "Layer", "Environment", "NamingId"].contains(&k.as_str())
                || k.starts_with("seed:")
        })
        .collect()
}

/// Strip our tags from everything the old layer would have made, as Terraform made it.
async fn untag(sb: &Sandbox, arns: &BTreeMap<&str, String>) {
    let sdk = sb.sdk().await;
    let rds = aws_sdk_rds::Client::new(&sdk);
    let ec = aws_sdk_elasticache::Client::new(&sdk);
    for (kind, arn) in arns {
        if kind.starts_with("rds:") {
            let tags = rds
                .list_tags_for_resource()
                .resource_name(arn)
                .send()
                .await
                .unwrap();
            let keys = ours(
                tags.tag_list()
                    .iter()
                    .filter_map(|t| t.key().map(str::to_string)),
            );
            rds.remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .unwrap();
        } else if kind.starts_with("elasticache:") {
            let tags = ec
                .list_tags_for_resource()
                .resource_name(arn)
                .send()
                .await
                .unwrap();
            let keys = ours(
                tags.tag_list()
                    .iter()
                    .filter_map(|t| t.key().map(str::to_string)),
            );
            ec.remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .unwrap();
        }
    }
    let ec2 = ec2_query::Client::new(&sdk);
    for id in [
        &arns["sg:aurora"],
        &arns["sg:redis"],
        &arns["vpce:aurora"],
        &arns["vpce:redis"],
    ] {
        let tags = ec2
            .describe_tags(&[ec2_query::Filter::new("resource-id", id)])
            .await
            .unwrap();
        let keys = ours(tags.into_iter().map(|t| t.key));
        ec2.delete_tags(id, keys).await.unwrap();
    }
    let s3 = sb.s3().await;
    for b in ["tf-app-data", "tf-ai-data"] {
        let tags = s3.get_bucket_tagging().bucket(b).send().await.unwrap();
        let strip = ours(tags.tag_set().iter().map(|t| t.key().to_string()));
        let kept: Vec<_> = tags
            .tag_set()
            .iter()
            .filter(|t| !strip.contains(&t.key().to_string()))
            .cloned()
            .collect();
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(kept))
            .build()
            .unwrap();
        s3.put_bucket_tagging()
            .bucket(b)
            .tagging(tagging)
            .send()
            .await
            .unwrap();
    }
    let iam = sb.iam().await;
    let tags = iam
        .list_user_tags()
        .user_name("tf-s3-user")
        .send()
        .await
        .unwrap();
    iam.untag_user()
        .user_name("tf-s3-user")
        .set_tag_keys(Some(ours(tags.tags().iter().map(|t| t.key().to_string()))))
        .send()
        .await
        .unwrap();
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let tags = logs
        .list_tags_for_resource()
        .resource_arn(&arns["logs:slow"])
        .send()
        .await
        .unwrap();
    let keys = ours(
        tags.tags()
            .map(|t| t.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    logs.untag_resource()
        .resource_arn(&arns["logs:slow"])
        .set_tag_keys(Some(keys))
        .send()
        .await
        .unwrap();
    let amp = aws_sdk_amp::Client::new(&sdk);
    let tags = amp
        .list_tags_for_resource()
        .resource_arn(&arns["aps:workspace"])
        .send()
        .await
        .unwrap();
    let keys = ours(
        tags.tags()
            .map(|t| t.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default(),
    );
    amp.untag_resource()
        .resource_arn(&arns["aps:workspace"])
        .set_tag_keys(Some(keys))
        .send()
        .await
        .unwrap();
    let sm = sb.secrets().await;
    for s in secret_names(sb) {
        let d = sm.describe_secret().secret_id(&s).send().await.unwrap();
        let keys = ours(d.tags().iter().filter_map(|t| t.key().map(str::to_string)));
        sm.untag_resource()
            .secret_id(&s)
            .set_tag_keys(Some(keys))
            .send()
            .await
            .unwrap();
    }
}

fn secret_names(sb: &Sandbox) -> Vec<String> {
    let env = sb.env();
    let aurora = data_aurora::AuroraSettings::load(&env).unwrap();
    secrets_seed::catalog(&aurora.postgresql_databases)
        .into_iter()
        .map(|d| format!("{}/{}", sb.nid, d.name))
        .collect()
}

fn resource(module: &str, kind: &str, name: &str, instances: Vec<Value>) -> Value {
    let mut r = json!({
        "mode": "managed", "type": kind, "name": name,
        "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
        "instances": instances,
    });
    if !module.is_empty() {
        r["module"] = json!(module);
    }
    r
}

fn one(attributes: Value) -> Vec<Value> {
    vec![json!({"schema_version": 0, "attributes": attributes})]
}

/// The old layer's state, in the AWS provider's attribute names, read from what exists; and the
/// ARNs (or ids) of what it holds, by kind.
async fn state(sb: &Sandbox) -> (Value, BTreeMap<&'static str, String>) {
    let sdk = sb.sdk().await;
    let (rds, ec, ec2) = (
        aws_sdk_rds::Client::new(&sdk),
        aws_sdk_elasticache::Client::new(&sdk),
        ec2_query::Client::new(&sdk),
    );
    let mut arns = BTreeMap::new();
    let mut resources = Vec::new();
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("tf-db")
        .send()
        .await
        .unwrap();
    let c = &c.db_clusters()[0];
    let sg_ids: Vec<&str> = c
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    arns.insert("rds:cluster", c.db_cluster_arn().unwrap().to_string());
    resources.push(resource("module.data", "aws_rds_cluster", "this", one(json!({
        "arn": c.db_cluster_arn(), "id": "tf-db", "cluster_identifier": "tf-db", "engine": c.engine(),
        "port": c.port(), "db_cluster_parameter_group_name": c.db_cluster_parameter_group(),
        "db_subnet_group_name": c.db_subnet_group(), "vpc_security_group_ids": sg_ids,
        "deletion_protection": c.deletion_protection(), "backup_retention_period": c.backup_retention_period(),
        "master_password": "CANARY-master-password",
                "master_username": c.master_username(), "storage_encrypted": c.storage_encrypted(),
                "database_name": c.database_name(),
    }))));
    let mut instances = Vec::new();
    for (n, m) in c.db_cluster_members().iter().enumerate() {
        let i = rds
            .describe_db_instances()
            .db_instance_identifier(m.db_instance_identifier().unwrap())
            .send()
            .await
            .unwrap();
        let i = &i.db_instances()[0];
        arns.insert(
            if n == 0 {
                "rds:instance0"
            } else {
                "rds:instance1"
            },
            i.db_instance_arn().unwrap().to_string(),
        );
        instances.push(json!({"index_key": n, "schema_version": 0, "attributes": {
            "arn": i.db_instance_arn(), "identifier": i.db_instance_identifier(), "cluster_identifier": "tf-db",
            "instance_class": i.db_instance_class(),
        }}));
    }
    resources.push(resource(
        "module.data",
        "aws_rds_cluster_instance",
        "this",
        instances,
    ));
    let pg = rds
        .describe_db_cluster_parameter_groups()
        .db_cluster_parameter_group_name("tf-db-params")
        .send()
        .await
        .unwrap();
    let pg_arn = pg.db_cluster_parameter_groups()[0]
        .db_cluster_parameter_group_arn()
        .unwrap()
        .to_string();
    resources.push(resource(
        "module.data",
        "aws_rds_cluster_parameter_group",
        "this",
        one(json!({"arn": pg_arn, "name": "tf-db-params"})),
    ));
    arns.insert("rds:params", pg_arn);
    let sn = rds
        .describe_db_subnet_groups()
        .db_subnet_group_name("tf_db_subnets")
        .send()
        .await
        .unwrap();
    let sn_arn = sn.db_subnet_groups()[0]
        .db_subnet_group_arn()
        .unwrap()
        .to_string();
    resources.push(resource(
        "module.data",
        "aws_db_subnet_group",
        "this",
        one(json!({"arn": sn_arn, "name": "tf_db_subnets"})),
    ));
    arns.insert("rds:subnets", sn_arn);

    let g = ec
        .describe_replication_groups()
        .replication_group_id("tf-cache")
        .send()
        .await
        .unwrap();
    let g = &g.replication_groups()[0];
    let member = ec
        .describe_cache_clusters()
        .cache_cluster_id(g.member_clusters()[0].clone())
        .send()
        .await
        .unwrap();
    let member = &member.cache_clusters()[0];
    let port = g.node_groups()[0].primary_endpoint().and_then(|e| e.port());
    let slow: Vec<Value> = g.log_delivery_configurations().iter().map(|l| json!({
        "log_type": l.log_type().map(|t| t.as_str()), "destination_type": l.destination_type().map(|t| t.as_str()),
        "destination": l.destination_details().and_then(|d| d.cloud_watch_logs_details()).and_then(|d| d.log_group()),
        "log_format": l.log_format().map(|t| t.as_str()),
    })).collect();
    let redis_sgs: Vec<&str> = member
        .security_groups()
        .iter()
        .filter_map(|s| s.security_group_id())
        .collect();
    arns.insert("elasticache:group", g.arn().unwrap().to_string());
    for id in g.member_clusters() {
        let m = ec
            .describe_cache_clusters()
            .cache_cluster_id(id)
            .send()
            .await
            .unwrap();
        arns.insert(
            if arns.contains_key("elasticache:member0") {
                "elasticache:member1"
            } else {
                "elasticache:member0"
            },
            m.cache_clusters()[0].arn().unwrap().to_string(),
        );
    }
    resources.push(resource("", "aws_elasticache_replication_group", "cache", vec![json!({"index_key": 0, "schema_version": 2, "attributes": {
        "arn": g.arn(), "id": "tf-cache", "replication_group_id": "tf-cache", "port": port,
        "node_type": g.cache_node_type(), "num_cache_clusters": g.member_clusters().len(),
        "automatic_failover_enabled": g.automatic_failover().map(|f| f.as_str() == "enabled"),
        "multi_az_enabled": g.multi_az().map(|m| m.as_str() == "enabled"),
        "subnet_group_name": member.cache_subnet_group_name(),
        "parameter_group_name": member.cache_parameter_group().and_then(|p| p.cache_parameter_group_name()),
        "security_group_ids": redis_sgs, "log_delivery_configuration": slow, "auth_token": "CANARY-auth-token",
            "at_rest_encryption_enabled": g.at_rest_encryption_enabled(),
            "transit_encryption_enabled": g.transit_encryption_enabled(),
    }})]));
    let epg = ec
        .describe_cache_parameter_groups()
        .cache_parameter_group_name("tf-cache-params")
        .send()
        .await
        .unwrap();
    let epg_arn = epg.cache_parameter_groups()[0].arn().unwrap().to_string();
    resources.push(resource(
        "",
        "aws_elasticache_parameter_group",
        "cache",
        one(json!({"arn": epg_arn, "name": "tf-cache-params"})),
    ));
    arns.insert("elasticache:params", epg_arn);
    let esn = ec
        .describe_cache_subnet_groups()
        .cache_subnet_group_name("tf-cache-subnets")
        .send()
        .await
        .unwrap();
    let esn_arn = esn.cache_subnet_groups()[0].arn().unwrap().to_string();
    resources.push(resource(
        "",
        "aws_elasticache_subnet_group",
        "cache",
        one(json!({"arn": esn_arn, "name": "tf-cache-subnets"})),
    ));
    arns.insert("elasticache:subnets", esn_arn);

    for (key, name) in [("sg:aurora", "tf-db-sg"), ("sg:redis", "tf-cache-sg")] {
        let sg = ec2
            .describe_security_groups(&[ec2_query::Filter::new("group-name", name)], &[])
            .await
            .unwrap();
        let sg = &sg[0];
        resources.push(resource(
            "",
            "aws_security_group",
            key.trim_start_matches("sg:"),
            one(json!({"id": sg.id, "name": name, "arn": sg.arn})),
        ));
        arns.insert(key, sg.id.clone());
    }
    let endpoints = ec2.describe_vpc_endpoints(&[], &[]).await.unwrap();
    for (key, name) in [("vpce:aurora", "tf-rds"), ("vpce:redis", "tf-elasticache")] {
        let e = endpoints
            .iter()
            .find(|e| e.tags.values().any(|v| v == name))
            .unwrap();
        resources.push(resource(
            "",
            "aws_vpc_endpoint",
            key.trim_start_matches("vpce:"),
            one(json!({"id": e.id, "service_name": e.service_name, "tags": {"Name": name}})),
        ));
        arns.insert(key, e.id.clone());
    }
    (json!({"resources": resources}), arns)
}

/// The rest of the state: buckets, the user and its key, the slow-log group, the workspace,
/// the secrets and a value; and the outputs that say which is which.
async fn state_rest(sb: &Sandbox, doc: &mut Value, arns: &mut BTreeMap<&'static str, String>) {
    let sdk = sb.sdk().await;
    let mut resources = doc["resources"].as_array().unwrap().clone();
    for (key, b) in [("app", "tf-app-data"), ("ai", "tf-ai-data")] {
        resources.push(resource(
            "",
            "aws_s3_bucket",
            "data",
            vec![json!({"index_key": key, "schema_version": 0,
            "attributes": {"id": b, "bucket": b, "arn": format!("arn:aws:s3:::{b}")}})],
        ));
        resources.push(resource(
            "",
            "aws_s3_bucket_versioning",
            key,
            one(json!({"id": b, "bucket": b})),
        ));
    }
    let iam = sb.iam().await;
    let user = iam.get_user().user_name("tf-s3-user").send().await.unwrap();
    resources.push(resource(
        "",
        "aws_iam_user",
        "s3",
        one(json!({"name": "tf-s3-user", "arn": user.user().unwrap().arn()})),
    ));
    let keys = iam
        .list_access_keys()
        .user_name("tf-s3-user")
        .send()
        .await
        .unwrap();
    let key = keys.access_key_metadata()[0].access_key_id().unwrap();
    resources.push(resource(
        "",
        "aws_iam_access_key",
        "s3",
        one(json!({"id": key, "user": "tf-s3-user", "secret": "CANARY-secret-access-key"})),
    ));
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let lg = logs
        .describe_log_groups()
        .log_group_name_prefix("/tf/redis/slow-log")
        .send()
        .await
        .unwrap();
    let lg_arn = lg.log_groups()[0]
        .arn()
        .unwrap()
        .trim_end_matches(":*")
        .to_string();
    resources.push(resource(
        "",
        "aws_cloudwatch_log_group",
        "slow",
        one(json!({"name": "/tf/redis/slow-log", "arn": lg_arn})),
    ));
    arns.insert("logs:slow", lg_arn);
    let amp = aws_sdk_amp::Client::new(&sdk);
    let ws = amp
        .list_workspaces()
        .alias("tf-prometheus")
        .send()
        .await
        .unwrap();
    let ws = &ws.workspaces()[0];
    resources.push(resource(
        "",
        "aws_prometheus_workspace",
        "this",
        one(json!({"id": ws.workspace_id(), "alias": "tf-prometheus", "arn": ws.arn()})),
    ));
    arns.insert("aps:workspace", ws.arn().to_string());
    let sm = sb.secrets().await;
    let mut secrets = Vec::new();
    for (n, s) in secret_names(sb).into_iter().enumerate() {
        let d = sm.describe_secret().secret_id(&s).send().await.unwrap();
        secrets.push(
            json!({"index_key": n, "schema_version": 0, "attributes": {"name": s, "arn": d.arn()}}),
        );
    }
    resources.push(resource(
        "module.secrets",
        "aws_secretsmanager_secret",
        "all",
        secrets,
    ));
    resources.push(resource(
        "module.secrets",
        "aws_secretsmanager_secret_version",
        "psql_port",
        one(json!({"secret_id": "x", "secret_string": "CANARY-secret-string"})),
    ));
    resources.push(resource(
        "",
        "aws_sns_topic",
        "alerts",
        one(json!({"name": "alerts", "arn": "arn:aws:sns:eu-central-2:123456789012:alerts"})),
    ));
    *doc = json!({
        "version": 4, "terraform_version": "1.5.7", "serial": 12, "lineage": "9a0b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d",
        "outputs": {
            "aurora_cluster_id": {"value": "tf-db", "type": "string"},
            "elasticache_replication_group_id": {"value": "tf-cache", "type": "string"},
            "s3_bucket_application_data_id": {"value": "tf-app-data", "type": "string"},
            "s3_bucket_ai_data_id": {"value": "tf-ai-data", "type": "string"},
            "prometheus_workspace_id": {"value": ws.workspace_id(), "type": "string"},
        },
        "resources": resources,
        "check_results": null,
    });
}

async fn versions(sb: &Sandbox) -> BTreeMap<String, Option<String>> {
    let sm = sb.secrets().await;
    let mut out = BTreeMap::new();
    for s in secret_names(sb) {
        let d = sm.describe_secret().secret_id(&s).send().await.unwrap();
        let current = d.version_ids_to_stages().and_then(|v| {
            v.iter()
                .find(|(_, st)| st.iter().any(|s| s == "AWSCURRENT"))
                .map(|(id, _)| id.clone())
        });
        out.insert(s, current);
    }
    out
}

/// Replace the deployed `claude-3-haiku` profile by one made under Terraform's name with the
/// same source and the layer's own tags; its state resource, as the AWS provider records it.
async fn terraform_profile(sb: &Sandbox, tags: &BTreeMap<String, String>) -> Value {
    use aws_sdk_bedrock::types::{InferenceProfileModelSource, InferenceProfileType, Tag};
    let bedrock = aws_sdk_bedrock::Client::new(&sb.sdk().await);
    let listed = bedrock
        .list_inference_profiles()
        .type_equals(InferenceProfileType::Application)
        .send()
        .await
        .unwrap();
    let ours = listed
        .inference_profile_summaries()
        .iter()
        .find(|p| p.inference_profile_name() == "e2e-import-claude-3-haiku")
        .expect("the deployed profile")
        .inference_profile_arn()
        .to_string();
    bedrock
        .delete_inference_profile()
        .inference_profile_identifier(ours)
        .send()
        .await
        .unwrap();
    let source =
        "arn:aws:bedrock:eu-central-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
    let made = bedrock
        .create_inference_profile()
        .inference_profile_name("tf-haiku")
        .model_source(InferenceProfileModelSource::CopyFrom(source.into()))
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    json!({"mode": "managed", "type": "aws_bedrock_inference_profile", "name": "haiku",
        "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
        "instances": [{"attributes": {"name": "tf-haiku", "arn": made.inference_profile_arn(),
            "id": made.inference_profile_arn(), "model_source": [{"copy_from": source}],
            "tags_all": tags}}]})
}

#[tokio::test]
async fn a_terraform_made_layer_is_taken_over_with_no_replacement_and_no_value_changed() {
    let sb = Sandbox::with("e2e-import", |t| format!("{t}\n{THEIRS}")).await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    // The old layer is older than AWS's lists' lag.
    sb.settle().await;
    let (mut doc, mut arns) = state(&sb).await;
    state_rest(&sb, &mut doc, &mut arns).await;
    untag(&sb, &arns).await;
    let before = versions(&sb).await;
    // What the Terraform provider reports as each resource's tags: the layer's own.
    let theirs = sb.env().tags.clone();
    assert_eq!(theirs.get("CostCenter").map(String::as_str), Some("42"));
    for r in doc["resources"].as_array_mut().unwrap() {
        let untagged = [
            "aws_s3_bucket_versioning",
            "aws_iam_access_key",
            "aws_secretsmanager_secret_version",
            "aws_sns_topic",
        ];
        if untagged.contains(&r["type"].as_str().unwrap()) {
            continue;
        }
        for i in r["instances"].as_array_mut().unwrap() {
            i["attributes"]["tags_all"] = json!(theirs);
        }
        // One resource carries a tag of its own.
        if r["type"] == "aws_rds_cluster" {
            r["instances"][0]["attributes"]["tags_all"]["Backup"] = json!("daily");
        }
    }
    aws_sdk_rds::Client::new(&sb.sdk().await)
        .add_tags_to_resource()
        .resource_name(&arns["rds:cluster"])
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("Backup")
                .value("daily")
                .build(),
        )
        .send()
        .await
        .unwrap();
    // One inference profile Terraform made under its own name, for a configured source.
    let haiku = terraform_profile(&sb, &theirs).await;
    doc["resources"].as_array_mut().unwrap().push(haiku);
    // The environment as it was before the import: no override at all.
    sb.edit_env("local", |t| t.replace(THEIRS, ""));
    let file = sb.environments().join("tf.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    sb.settle().await;

    let unedited = std::fs::read_to_string(sb.environments().join("local.toml")).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let said = layer::import::take_over(sb.environments(), "local", &bytes, false)
        .expect("the state maps")
        .to_string();
    assert!(!said.contains("CANARY"), "{said}");
    let path = file.to_str().unwrap();
    assert_eq!(
        sb.cli(&["import-terraform", "local", "--from", path, "--write"])
            .await,
        0
    );
    for expected in [
        "removed {\n  from = module.data.aws_rds_cluster.this\n",
        "terraform state rm 'module.data.aws_rds_cluster_instance.this[0]'",
        "aws_s3_bucket.data[\"ai\"]",
        "aws_sns_topic.alerts: not a resource of this layer",
    ] {
        assert!(said.contains(expected), "`{expected}` missing:\n{said}");
    }
    let written = std::fs::read_to_string(sb.environments().join("local.toml")).unwrap();
    for comment in unedited.lines().filter(|l| l.trim_start().starts_with('#')) {
        assert!(written.contains(comment), "the comment `{comment}` is kept");
    }
    assert!(
        written.contains("[aurora.names]\ncluster = \"tf-db\""),
        "{written}"
    );

    let plan = sb.plan(Mode::Deploy).await;
    let bad: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| {
            matches!(
                c.action,
                Action::Create | Action::Replace { .. } | Action::Delete
            )
        })
        .map(|c| format!("{} {:?}", c.address, c.action))
        .collect();
    assert!(bad.is_empty(), "{bad:?}\n{plan}");
    let untagged: Vec<String> = plan
        .changes
        .iter()
        .flat_map(|c| c.fields.iter().map(move |f| (c, f)))
        .filter(|(_, f)| f.field() == "tags" && f.after.is_none())
        .map(|(c, f)| format!("{} {}", c.address, f.path))
        .collect();
    assert!(
        untagged.is_empty(),
        "the plan removes no tag: {untagged:?}\n{plan}"
    );
    let adopted = plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Adopt)
        .count();
    assert!(adopted >= 40, "{adopted} adopted\n{plan}");

    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--adopt"])
            .await,
        0
    );
    sb.settle().await;
    let after = sb.plan(Mode::Deploy).await;
    assert!(!after.has_changes(), "{after}");
    assert_eq!(versions(&sb).await, before, "no secret got a new version");
    let keys = sb
        .iam()
        .await
        .list_access_keys()
        .user_name("tf-s3-user")
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.access_key_metadata().len(),
        1,
        "the user keeps its one key"
    );
    let amp = aws_sdk_amp::Client::new(&sb.sdk().await);
    assert_eq!(
        amp.list_workspaces()
            .send()
            .await
            .unwrap()
            .workspaces()
            .len(),
        1
    );
    // The Terraform layer's own tag went to [tags], so adoption kept it.
    assert!(written.contains("CostCenter = \"42\""), "{written}");
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    let tags = rds
        .list_tags_for_resource()
        .resource_name(&arns["rds:cluster"])
        .send()
        .await
        .unwrap();
    for (k, v) in [("CostCenter", "42"), ("Backup", "daily")] {
        assert!(
            tags.tag_list()
                .iter()
                .any(|t| t.key() == Some(k) && t.value() == Some(v)),
            "{k} kept: {:?}",
            tags.tag_list()
        );
    }
    // The profile Terraform made is ours under its name, and no second one was made.
    assert!(
        written.contains("[bedrock.names.profiles]\nclaude-3-haiku = \"tf-haiku\""),
        "{written}"
    );
    let listed = aws_sdk_bedrock::Client::new(&sb.sdk().await)
        .list_inference_profiles()
        .type_equals(aws_sdk_bedrock::types::InferenceProfileType::Application)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = listed
        .inference_profile_summaries()
        .iter()
        .map(|p| p.inference_profile_name())
        .collect();
    assert!(
        names.contains(&"tf-haiku") && !names.contains(&"e2e-import-claude-3-haiku"),
        "{names:?}"
    );
    // The cluster's own tag went to [tags_by_resource].
    assert!(
        written.contains("[tags_by_resource.\"aws_rds_cluster.aurora\"]\nBackup = \"daily\""),
        "{written}"
    );
}
