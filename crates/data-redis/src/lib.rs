//! The ElastiCache Redis family: the replication group (Redis 7.1 on port 6380, encrypted at rest
//! and in transit, slow log to CloudWatch in JSON), its subnet, security and parameter groups,
//! the slow-log group, and the ElastiCache interface endpoint. Owns the `[redis]` section of the
//! environment files and `aws-sdk-elasticache`.

mod groups;
pub mod ping;
mod replication_group;
mod tags;
pub mod verify;

use std::sync::Arc;

use aws_types::SdkConfig;
use layer_core::config::Infrastructure;
use layer_core::engine::AnyResource;
use shared_resources::{InterfaceEndpoint, LogGroup, SecurityGroup};

pub use groups::{CacheParameterGroup, CacheSubnetGroup, CacheSubnetGroupSpec, ParameterGroupSpec};
pub use replication_group::{ReplicationGroup, ReplicationGroupSpec, SlowLog};

use layer_core::config::Environment;
use layer_core::naming::{resolve, NameRule};
use layer_core::Result;
use serde::Deserialize;

/// The section of the environment files this crate owns.
pub const SECTION: &str = "redis";

/// `[redis]`: the spec's `elasticache_*` variables.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `elasticache_node_type`.
    pub node_type: String,
    /// `elasticache_num_cache_nodes`.
    pub num_cache_nodes: u32,
    /// `elasticache_automatic_failover_enabled`.
    pub automatic_failover_enabled: bool,
    /// `elasticache_multi_az_enabled`.
    pub multi_az_enabled: bool,
    /// `enable_elasticache_endpoint`.
    pub enable_endpoint: bool,
    /// Engine version floor (major.minor).
    pub engine_version: String,
    /// The port (6380 triggers auto-TLS in the chat service).
    pub port: u16,
    /// Retention of the slow-log group, in days.
    pub log_retention_days: u32,
    /// Name overrides (`[redis.names]`), for adopting a layer whose names differ from ours.
    #[serde(default)]
    pub names: RedisNameOverrides,
}

/// `[redis.names]`: every name the family gives can be set, as the conventions promise.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisNameOverrides {
    replication_group: Option<String>,
    subnet_group: Option<String>,
    security_group: Option<String>,
    parameter_group: Option<String>,
    log_group: Option<String>,
    endpoint: Option<String>,
}

/// The family's resolved names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisNames {
    /// The replication group.
    pub replication_group: String,
    /// The cache subnet group.
    pub subnet_group: String,
    /// The security group.
    pub security_group: String,
    /// The cache parameter group.
    pub parameter_group: String,
    /// The slow-log group.
    pub log_group: String,
    /// The interface endpoint's `Name` tag.
    pub endpoint: String,
}

impl RedisSettings {
    /// Read and validate the section.
    pub fn load(env: &Environment) -> Result<Self> {
        let s: Self = env.section(SECTION)?;
        if !s.node_type.starts_with("cache.") {
            return Err(env.invalid(
                "redis.node_type",
                &format!(
                    "`{}` is not a node type; use cache.<family>.<size>",
                    s.node_type
                ),
            ));
        }
        if s.num_cache_nodes == 0 || s.num_cache_nodes > 6 {
            return Err(env.invalid(
                "redis.num_cache_nodes",
                "use 1 to 6 nodes (a primary and up to 5 replicas)",
            ));
        }
        layer_core::config::check_log_retention(s.log_retention_days)
            .map_err(|why| env.invalid("redis.log_retention_days", &why))?;
        if s.engine_version.split('.').next() != Some("7") {
            return Err(env.invalid(
                "redis.engine_version",
                &format!(
                    "`{}` does not fit the parameter group family redis7; use 7.x (e.g. 7.1)",
                    s.engine_version
                ),
            ));
        }
        if s.multi_az_enabled && !s.automatic_failover_enabled {
            return Err(env.invalid(
                "redis.multi_az_enabled",
                "multi-AZ needs automatic_failover_enabled = true",
            ));
        }
        if s.automatic_failover_enabled && s.num_cache_nodes < 2 {
            return Err(env.invalid(
                "redis.automatic_failover_enabled",
                "automatic failover needs num_cache_nodes of 2 or more",
            ));
        }
        s.names(env)?;
        Ok(s)
    }

    /// The resolved names: each the environment's override or the default.
    pub fn names(&self, env: &Environment) -> Result<RedisNames> {
        let nid = env.naming_id.as_str();
        let o = &self.names;
        let err = |e: String| env.invalid("redis.names", &e);
        let group = resolve(
            "replication_group",
            format!("{nid}-redis"),
            o.replication_group.as_ref(),
            NameRule::ElastiCacheId,
        )
        .map_err(err)?;
        Ok(RedisNames {
            subnet_group: resolve(
                "subnet_group",
                group.clone(),
                o.subnet_group.as_ref(),
                NameRule::SubnetGroup,
            )
            .map_err(err)?,
            security_group: resolve(
                "security_group",
                group.clone(),
                o.security_group.as_ref(),
                NameRule::SecurityGroup,
            )
            .map_err(err)?,
            parameter_group: resolve(
                "parameter_group",
                format!("{nid}-redis7"),
                o.parameter_group.as_ref(),
                NameRule::ElastiCacheId,
            )
            .map_err(err)?,
            // Under `/aws/vendedlogs/`, as AWS advises for delivered logs: CloudWatch Logs then
            // grants delivery with one wildcard in its resource policy instead of a line per
            // group, whose 5,120 characters a few layers in an account would fill.
            log_group: resolve(
                "log_group",
                format!("/aws/vendedlogs/elasticache/{group}/slow-log"),
                o.log_group.as_ref(),
                NameRule::LogGroup,
            )
            .map_err(err)?,
            endpoint: resolve(
                "endpoint",
                format!("{nid}-elasticache"),
                o.endpoint.as_ref(),
                NameRule::TagValue,
            )
            .map_err(err)?,
            replication_group: group,
        })
    }
}

/// Build the family's resources for an environment.
/// ElastiCache Redis, as a family of the layer.
#[derive(Debug, Clone, Copy)]
pub struct Redis;

impl layer_core::family::Family for Redis {
    const SECTION: &'static str = SECTION;
    type Settings = RedisSettings;

    fn settings(env: &Environment) -> Result<RedisSettings> {
        RedisSettings::load(env)
    }

    fn resources(
        layer: layer_core::family::Layer<'_>,
        settings: &RedisSettings,
    ) -> Result<Vec<Arc<dyn AnyResource>>> {
        resources(layer.env, layer.infra, layer.sdk, settings)
    }
}

fn resources(
    env: &Environment,
    infra: &Infrastructure,
    sdk: &SdkConfig,
    s: &RedisSettings,
) -> Result<Vec<Arc<dyn AnyResource>>> {
    let names = s.names(env)?;
    let client = aws_sdk_elasticache::Client::new(sdk);
    let ec2 = ec2_query::Client::new(sdk);
    let mut out: Vec<Arc<dyn AnyResource>> = vec![
        Arc::new(
            LogGroup::builder()
                .client(aws_sdk_cloudwatchlogs::Client::new(sdk))
                .key("redis_slow_log")
                .name(names.log_group.clone())
                .kms_key_arn(infra.logs_kms_key_arn.clone())
                .retention_days(s.log_retention_days as i32)
                .build(),
        ),
        Arc::new(SecurityGroup::vpc_only(
            ec2.clone(),
            "redis",
            &names.security_group,
            &format!("ElastiCache Redis: {} from the VPC", s.port),
            infra,
            i32::from(s.port),
        )),
        Arc::new(
            CacheSubnetGroup::builder()
                .client(client.clone())
                .name(names.subnet_group.clone())
                .subnet_ids(infra.isolated_subnet_ids.clone())
                .build(),
        ),
        Arc::new(
            CacheParameterGroup::builder()
                .client(client.clone())
                .name(names.parameter_group.clone())
                .family("redis7".to_string())
                .parameters(Default::default())
                .build(),
        ),
        Arc::new(
            ReplicationGroup::builder()
                .client(client)
                .name(names.replication_group.clone())
                .settings(s.clone())
                .kms_key_arn(infra.general_kms_key_arn.clone())
                .subnet_group(names.subnet_group.clone())
                .parameter_group(names.parameter_group.clone())
                .log_group(names.log_group.clone())
                .build(),
        ),
    ];
    if s.enable_endpoint {
        out.push(Arc::new(InterfaceEndpoint::isolated(
            ec2,
            "elasticache",
            &names.endpoint,
            &env.region,
            infra,
            "elasticache_endpoint_id",
        )));
    }
    Ok(out)
}
