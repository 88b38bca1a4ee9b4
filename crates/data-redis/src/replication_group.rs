//! The Redis replication group. Stateful: port, encryption and subnet group changes are
//! replacements that need `--allow-replace`. Replica counts change through the replica-count
//! APIs; failover and multi-AZ are switched in the order AWS requires: replicas first when
//! enabling, last when disabling.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CloudWatchLogsDestinationDetails, DestinationDetails, DestinationType,
    LogDeliveryConfigurationRequest, LogFormat, LogType, MultiAzStatus,
    ReplicationGroup as SdkGroup,
};
use aws_sdk_elasticache::Client;
use layer_core::access::{arn, key_grants, log_deliveries, service_linked_role, Access, Need};
use layer_core::resource::{Context, Observation, Observed, ResourceKind};
use layer_core::version::EngineVersion;
use layer_core::FieldChange;
use layer_core::{Address, Error, Flag, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

use crate::tags::{self};
use crate::RedisSettings;

/// Where the slow log goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlowLog {
    /// The CloudWatch log group.
    pub log_group: String,
    /// `json`.
    pub format: String,
}

/// The group's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicationGroupSpec {
    /// Engine version (a floor).
    pub engine_version: EngineVersion,
    /// Node type.
    pub node_type: String,
    /// Nodes: a primary and replicas.
    pub num_cache_clusters: u32,
    /// Automatic failover.
    pub automatic_failover: bool,
    /// Multi-AZ.
    pub multi_az: bool,
    /// Port.
    pub port: i32,
    /// Encryption at rest.
    pub at_rest_encryption: bool,
    /// Its key.
    pub kms_key: Option<String>,
    /// Encryption in transit.
    pub transit_encryption: bool,
    /// The subnet group.
    pub subnet_group: String,
    /// Security groups.
    pub security_group_ids: BTreeSet<String>,
    /// The parameter group.
    pub parameter_group: String,
    /// Slow-log delivery.
    pub slow_log: Option<SlowLog>,
    /// Tags.
    pub tags: Tags,
}

/// The replication group.
#[derive(Debug, Clone, TypedBuilder)]
pub struct ReplicationGroup {
    client: Client,
    name: String,
    settings: RedisSettings,
    kms_key_arn: String,
    subnet_group: String,
    parameter_group: String,
    log_group: String,
}

fn sg_address() -> Address {
    Address::new("aws_security_group.redis")
}

fn slow_log_request(log: &SlowLog) -> LogDeliveryConfigurationRequest {
    LogDeliveryConfigurationRequest::builder()
        .log_type(LogType::SlowLog)
        .destination_type(DestinationType::CloudWatchLogs)
        .destination_details(
            DestinationDetails::builder()
                .cloud_watch_logs_details(
                    CloudWatchLogsDestinationDetails::builder()
                        .log_group(&log.log_group)
                        .build(),
                )
                .build(),
        )
        .log_format(LogFormat::from(log.format.as_str()))
        .enabled(true)
        .build()
}

impl ReplicationGroup {
    async fn describe(&self) -> Result<Option<SdkGroup>> {
        match self
            .client
            .describe_replication_groups()
            .replication_group_id(&self.name)
            .send()
            .await
        {
            Ok(out) => Ok(out.replication_groups().first().cloned()),
            Err(e) if e.code() == Some("ReplicationGroupNotFoundFault") => Ok(None),
            Err(e) => Err(Error::aws_on(
                "elasticache",
                "DescribeReplicationGroups",
                &self.name,
                &e,
            )),
        }
    }

    async fn wait_available(&self, cx: &Context) -> Result<()> {
        layer_core::wait::until(
            cx,
            &format!("Redis replication group {}", self.name),
            || async {
                let g = self.describe().await?.ok_or_else(|| {
                    Error::Other(format!("Redis group {} disappeared", self.name))
                })?;
                let status = g.status().unwrap_or_default();
                Ok((status != "available").then(|| status.to_string()))
            },
        )
        .await
    }

    async fn modify(
        &self,
        cx: &Context,
        what: &str,
        f: impl FnOnce(aws_sdk_elasticache::operation::modify_replication_group::builders::ModifyReplicationGroupFluentBuilder) -> aws_sdk_elasticache::operation::modify_replication_group::builders::ModifyReplicationGroupFluentBuilder,
    ) -> Result<()> {
        // AWS refuses a modification while the group is busy: wait for it to be available.
        self.wait_available(cx).await?;
        tracing::info!(group = %self.name, "modifying: {what}");
        let req = self
            .client
            .modify_replication_group()
            .replication_group_id(&self.name)
            .apply_immediately(true);
        f(req)
            .send()
            .await
            .map_err(|e| Error::aws_on("elasticache", "ModifyReplicationGroup", &self.name, &e))?;
        self.wait_available(cx).await
    }

    async fn replicas(&self, cx: &Context, observed: u32, desired: u32) -> Result<()> {
        let n = desired as i32 - 1;
        self.wait_available(cx).await?;
        if desired > observed {
            self.client
                .increase_replica_count()
                .replication_group_id(&self.name)
                .new_replica_count(n)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| {
                    Error::aws_on("elasticache", "IncreaseReplicaCount", &self.name, &e)
                })?;
        } else {
            self.client
                .decrease_replica_count()
                .replication_group_id(&self.name)
                .new_replica_count(n)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| {
                    Error::aws_on("elasticache", "DecreaseReplicaCount", &self.name, &e)
                })?;
        }
        self.wait_available(cx).await
    }
}

#[async_trait]
impl Resource for ReplicationGroup {
    type Spec = ReplicationGroupSpec;

    fn address(&self) -> Address {
        Address::new("aws_elasticache_replication_group.redis")
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        let group = || arn("elasticache", &format!("replicationgroup:{}", self.name));
        let nodes = || arn("elasticache", &format!("cluster:{}-*", self.name));
        vec![
            Access::new(
                Need::Observe,
                "RedisReplicationGroup",
                &[
                    "elasticache:DescribeReplicationGroups",
                    "elasticache:DescribeCacheClusters",
                    "elasticache:ListTagsForResource",
                ],
                [group(), nodes()],
            ),
            Access::new(
                Need::Change,
                "RedisReplicationGroup",
                &[
                    "elasticache:AddTagsToResource",
                    "elasticache:RemoveTagsFromResource",
                    "elasticache:IncreaseReplicaCount",
                    "elasticache:DecreaseReplicaCount",
                ],
                [group(), nodes()],
            ),
            // CreateReplicationGroup is authorized on the group and on the groups it names.
            Access::new(
                Need::Change,
                "RedisReplicationGroupCreate",
                &[
                    "elasticache:CreateReplicationGroup",
                    "elasticache:ModifyReplicationGroup",
                ],
                [
                    group(),
                    nodes(),
                    arn(
                        "elasticache",
                        &format!("parametergroup:{}", self.parameter_group),
                    ),
                    arn("elasticache", &format!("subnetgroup:{}", self.subnet_group)),
                ],
            ),
            // Encryption at rest with the general key: ElastiCache makes a grant as the caller.
            key_grants(&self.kms_key_arn),
            log_deliveries(Need::Change),
            // Deleting the group ends its slow-log delivery.
            log_deliveries(Need::Delete),
            // The first replication group of an account makes ElastiCache's service-linked role.
            service_linked_role("elasticache.amazonaws.com", "AWSServiceRoleForElastiCache"),
            Access::new(
                Need::Delete,
                "RedisReplicationGroup",
                &["elasticache:DeleteReplicationGroup"],
                [group(), nodes()],
            ),
        ]
    }

    fn kind(&self) -> ResourceKind {
        ResourceKind::Stateful
    }

    fn depends_on(&self) -> Vec<Address> {
        vec![
            Address::new("aws_cloudwatch_log_group.redis_slow_log"),
            sg_address(),
            Address::new("aws_elasticache_subnet_group.redis"),
            Address::new("aws_elasticache_parameter_group.redis"),
        ]
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &[
            "port",
            "at_rest_encryption",
            "kms_key",
            "transit_encryption",
            "subnet_group",
        ]
    }

    fn diff(
        &self,
        desired: &ReplicationGroupSpec,
        observed: &ReplicationGroupSpec,
    ) -> Vec<FieldChange> {
        layer_core::version::diff_with_floor(desired, observed, self.replace_fields(), |s| {
            &mut s.engine_version
        })
    }

    fn update_guard(&self, changes: &[FieldChange]) -> Option<(Flag, String)> {
        layer_core::version::major_upgrade_guard(changes, &self.name)
    }

    fn desired(&self, cx: &Context, inputs: &Inputs) -> Result<ReplicationGroupSpec> {
        let s = &self.settings;
        Ok(ReplicationGroupSpec {
            engine_version: EngineVersion(s.engine_version.clone()),
            node_type: s.node_type.clone(),
            num_cache_clusters: s.num_cache_nodes,
            automatic_failover: s.automatic_failover_enabled,
            multi_az: s.multi_az_enabled,
            port: i32::from(s.port),
            at_rest_encryption: true,
            kms_key: Some(self.kms_key_arn.clone()),
            transit_encryption: true,
            subnet_group: self.subnet_group.clone(),
            security_group_ids: [inputs.str(&sg_address(), shared_resources::SECURITY_GROUP_ID)?]
                .into(),
            parameter_group: self.parameter_group.clone(),
            slow_log: Some(SlowLog {
                log_group: self.log_group.clone(),
                format: "json".into(),
            }),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(
        &self,
        _cx: &Context,
        _inputs: &Inputs,
    ) -> Result<Observation<ReplicationGroupSpec>> {
        let Some(g) = self.describe().await? else {
            return Ok(Observation::Absent);
        };
        // A group AWS is deleting cannot be brought back; its name is free once it is gone.
        if let Some(state @ "deleting") = g.status() {
            return Ok(Observation::Leaving(state.to_string()));
        }
        let arn = g.arn().unwrap_or_default().to_string();
        let first = g.member_clusters().first().cloned().unwrap_or_default();
        let cluster = self
            .client
            .describe_cache_clusters()
            .cache_cluster_id(&first)
            .send()
            .await
            .map_err(|e| Error::aws_on("elasticache", "DescribeCacheClusters", &first, &e))?;
        let cluster = cluster
            .cache_clusters()
            .first()
            .cloned()
            .unwrap_or_else(|| aws_sdk_elasticache::types::CacheCluster::builder().build());
        let tags = tags::read(&self.client, &arn).await?;
        let primary = g.node_groups().first().and_then(|n| n.primary_endpoint());
        let slow_log = g
            .log_delivery_configurations()
            .iter()
            .find(|l| l.log_type() == Some(&LogType::SlowLog))
            .map(|l| SlowLog {
                log_group: l
                    .destination_details()
                    .and_then(|d| d.cloud_watch_logs_details())
                    .and_then(|c| c.log_group())
                    .unwrap_or_default()
                    .to_string(),
                format: l
                    .log_format()
                    .map(|f| f.as_str().to_string())
                    .unwrap_or_default(),
            });
        let spec = ReplicationGroupSpec {
            engine_version: EngineVersion(cluster.engine_version().unwrap_or_default().to_string()),
            node_type: g.cache_node_type().unwrap_or_default().to_string(),
            num_cache_clusters: g.member_clusters().len() as u32,
            automatic_failover: matches!(
                g.automatic_failover(),
                Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
            ),
            multi_az: matches!(g.multi_az(), Some(MultiAzStatus::Enabled)),
            port: primary.and_then(|p| p.port()).unwrap_or_default(),
            at_rest_encryption: g.at_rest_encryption_enabled().unwrap_or(false),
            kms_key: g.kms_key_id().map(str::to_string),
            transit_encryption: g.transit_encryption_enabled().unwrap_or(false),
            subnet_group: cluster
                .cache_subnet_group_name()
                .unwrap_or_default()
                .to_string(),
            security_group_ids: cluster
                .security_groups()
                .iter()
                .filter_map(|s| s.security_group_id().map(str::to_string))
                .collect(),
            parameter_group: cluster
                .cache_parameter_group()
                .and_then(|p| p.cache_parameter_group_name())
                .unwrap_or_default()
                .to_string(),
            slow_log,
            tags: tags.clone(),
        };
        let mut o = Outputs::new();
        o.insert(
            "elasticache_replication_group_id".into(),
            self.name.clone().into(),
        );
        o.insert(
            "elasticache_primary_endpoint_address".into(),
            primary.and_then(|p| p.address()).unwrap_or_default().into(),
        );
        o.insert(
            "elasticache_configuration_endpoint_address".into(),
            g.configuration_endpoint()
                .and_then(|e| e.address())
                .map(|a| a.into())
                .unwrap_or(serde_json::Value::Null),
        );
        o.insert("elasticache_port".into(), spec.port.into());
        o.insert("_arn".into(), arn.into());
        Ok(Observed::builder()
            .spec(spec)
            .tags(tags)
            .outputs(o)
            .holds_data(true)
            .build()
            .present())
    }

    async fn create(&self, cx: &Context, d: &ReplicationGroupSpec, _inputs: &Inputs) -> Result<()> {
        let mut req = self
            .client
            .create_replication_group()
            .replication_group_id(&self.name)
            .replication_group_description("data-and-ai layer cache and pub/sub")
            .engine("redis")
            .engine_version(&d.engine_version.0)
            .cache_node_type(&d.node_type)
            .num_cache_clusters(d.num_cache_clusters as i32)
            .automatic_failover_enabled(d.automatic_failover)
            .multi_az_enabled(d.multi_az)
            .port(d.port)
            .at_rest_encryption_enabled(d.at_rest_encryption)
            .set_kms_key_id(d.kms_key.clone())
            .transit_encryption_enabled(d.transit_encryption)
            .cache_subnet_group_name(&d.subnet_group)
            .set_security_group_ids(Some(d.security_group_ids.iter().cloned().collect()))
            .cache_parameter_group_name(&d.parameter_group)
            .set_tags(Some(tags::sdk(&d.tags)));
        if let Some(log) = &d.slow_log {
            req = req.log_delivery_configurations(slow_log_request(log));
        }
        match req.send().await {
            Ok(_) => {}
            // An interrupted earlier run made it: converge. One still being deleted must go first.
            Err(e) if e.code() == Some("ReplicationGroupAlreadyExists") => {
                let status = self
                    .describe()
                    .await?
                    .and_then(|g| g.status().map(str::to_string));
                if status.as_deref().is_none_or(|s| s == "deleting") {
                    return Err(Error::Other(format!(
                        "a Redis replication group named `{}` is still being deleted; run the command again once it is gone",
                        self.name
                    )));
                }
                // Converged by the engine when ours, refused when not.
                return Err(Error::AlreadyExists(format!(
                    "Redis replication group `{}`",
                    self.name
                )));
            }
            Err(e) => {
                return Err(Error::aws_on(
                    "elasticache",
                    "CreateReplicationGroup",
                    &self.name,
                    &e,
                ))
            }
        }
        self.wait_available(cx).await
    }

    async fn update(
        &self,
        cx: &Context,
        d: &ReplicationGroupSpec,
        observed: &Observed<ReplicationGroupSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let o = &observed.spec;
        let changed = |f: &str| changes.iter().any(|c| c.field() == f);
        // Enabling: replicas first, then failover, then multi-AZ (which needs failover).
        if d.num_cache_clusters > o.num_cache_clusters {
            self.replicas(cx, o.num_cache_clusters, d.num_cache_clusters)
                .await?;
        }
        if d.automatic_failover && !o.automatic_failover {
            self.modify(cx, "automatic failover on", |r| {
                r.automatic_failover_enabled(true)
            })
            .await?;
        }
        if d.multi_az && !o.multi_az {
            self.modify(cx, "multi-AZ on", |r| r.multi_az_enabled(true))
                .await?;
        }
        // Everything else in place, in one modification.
        let other = [
            "node_type",
            "engine_version",
            "security_group_ids",
            "parameter_group",
            "slow_log",
        ];
        if other.iter().any(|f| changed(f)) {
            self.modify(cx, "settings", |mut r| {
                if changed("node_type") {
                    r = r.cache_node_type(&d.node_type);
                }
                if changed("engine_version") {
                    r = r.engine_version(&d.engine_version.0);
                }
                if changed("security_group_ids") {
                    r = r.set_security_group_ids(Some(
                        d.security_group_ids.iter().cloned().collect(),
                    ));
                }
                if changed("parameter_group") {
                    r = r.cache_parameter_group_name(&d.parameter_group);
                }
                if let (true, Some(log)) = (changed("slow_log"), &d.slow_log) {
                    r = r.log_delivery_configurations(slow_log_request(log));
                }
                r
            })
            .await?;
        }
        // Disabling: multi-AZ, then failover, then the replicas.
        if !d.multi_az && o.multi_az {
            self.modify(cx, "multi-AZ off", |r| r.multi_az_enabled(false))
                .await?;
        }
        if !d.automatic_failover && o.automatic_failover {
            self.modify(cx, "automatic failover off", |r| {
                r.automatic_failover_enabled(false)
            })
            .await?;
        }
        if d.num_cache_clusters < o.num_cache_clusters {
            self.replicas(cx, o.num_cache_clusters, d.num_cache_clusters)
                .await?;
        }
        if changed("tags") {
            let arn = observed
                .outputs
                .get("_arn")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            tags::converge(&self.client, arn, &observed.tags, &d.tags).await?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Context, _observed: &Observed<ReplicationGroupSpec>) -> Result<()> {
        match self
            .client
            .delete_replication_group()
            .replication_group_id(&self.name)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some("ReplicationGroupNotFoundFault") => return Ok(()),
            Err(e) => {
                return Err(Error::aws_on(
                    "elasticache",
                    "DeleteReplicationGroup",
                    &self.name,
                    &e,
                ))
            }
        }
        self.wait_gone(cx).await
    }

    async fn wait_gone(&self, cx: &Context) -> Result<()> {
        layer_core::wait::until(
            cx,
            &format!("Redis replication group {} to be deleted", self.name),
            || async {
                Ok(self
                    .describe()
                    .await?
                    .map(|g| g.status().unwrap_or("deleting").to_string()))
            },
        )
        .await
    }
}

#[cfg(test)]
mod diff_tests {
    use super::*;
    use layer_core::config::Environment;

    fn dev() -> Environment {
        let dir = std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        )
        .join("../../environments");
        let sections = [
            "s3",
            "aurora",
            "redis",
            "bedrock",
            "secrets",
            "monitoring",
            "verify",
            "outputs",
        ];
        Environment::load(&dir, "dev", &sections).expect("dev loads")
    }

    /// What the replication group's diff marks in place and what forces a replacement, as a
    /// snapshot (`UPDATE_EXPECT=1` rewrites it for review).
    #[test]
    fn the_replication_group_s_diff_marks_what_changes_in_place_and_what_replaces_it() {
        let env = dev();
        let sdk = layer_core::aws::offline_config(&env.region);
        let key = "arn:aws:kms:eu-central-2:123456789012:key/general".to_string();
        let group = ReplicationGroup::builder()
            .client(Client::new(&sdk))
            .name("dal-dev-redis".into())
            .settings(RedisSettings::load(&env).expect("[redis] loads"))
            .kms_key_arn(key.clone())
            .subnet_group("dal-dev-redis".into())
            .parameter_group("dal-dev-redis7".into())
            .log_group("/aws/vendedlogs/elasticache/dal-dev-redis/slow-log".into())
            .build();
        let desired = ReplicationGroupSpec {
            engine_version: EngineVersion("7.1".into()),
            node_type: "cache.t4g.small".into(),
            num_cache_clusters: 2,
            automatic_failover: true,
            multi_az: true,
            port: 6380,
            at_rest_encryption: true,
            kms_key: Some(key),
            transit_encryption: true,
            subnet_group: "dal-dev-redis".into(),
            security_group_ids: ["sg-1".to_string()].into(),
            parameter_group: "dal-dev-redis7".into(),
            slow_log: Some(SlowLog {
                log_group: "/aws/vendedlogs/elasticache/dal-dev-redis/slow-log".into(),
                format: "json".into(),
            }),
            tags: [("Environment".to_string(), "dev".to_string())].into(),
        };
        let mut observed = desired.clone();
        observed.engine_version = EngineVersion("7.1.0".into());
        observed.node_type = "cache.t4g.micro".into();
        observed.num_cache_clusters = 1;
        observed.port = 6379;
        observed.transit_encryption = false;
        observed.slow_log = None;
        let changes = group.diff(&desired, &observed);
        expect_test::expect![[r#"
            node_type: "cache.t4g.micro" -> "cache.t4g.small"
            num_cache_clusters: 1 -> 2
            port: 6379 -> 6380  # forces replacement
            slow_log: (none) -> {"format":"json","log_group":"/aws/vendedlogs/elasticache/dal-dev-redis/slow-log"}
            transit_encryption: false -> true  # forces replacement
        "#]].assert_eq(&layer_core::diff::lines(&changes));
    }
}
