//! The ElastiCache Redis family.
//!
//! **Status: settings only.** This crate owns and validates the `[redis]` section; the
//! replication group, subnet and security groups, parameter group, slow-log group and VPC
//! endpoint resources are not built yet, so a deploy does not create Redis today.

use layer_core::config::Environment;
use layer_core::naming::{resolve, NameRule};
use layer_core::Result;
use serde::Deserialize;

/// The section of the environment files this crate owns.
pub const SECTION: &str = "redis";

/// `[redis]`: the spec's `elasticache_*` variables.
#[derive(Debug, Clone, Deserialize)]
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
        resolve(
            "replication_group",
            format!("{}-redis", env.naming_id),
            None,
            NameRule::ElastiCacheId,
        )
        .map_err(|e| env.invalid("naming_id", &e))?;
        Ok(s)
    }
}
