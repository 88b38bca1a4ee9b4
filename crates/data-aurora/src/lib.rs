//! The Aurora PostgreSQL family.
//!
//! **Status: settings only.** This crate owns and validates the `[aurora]` section of the
//! environment files; the cluster, instances, subnet and security groups, parameter group, log
//! group and VPC endpoint resources are not built yet (see the Aurora and Redis issue), so a
//! deploy does not create Aurora today.

use layer_core::config::Environment;
use layer_core::naming::{resolve, NameRule};
use layer_core::Result;
use serde::Deserialize;

/// The section of the environment files this crate owns.
pub const SECTION: &str = "aurora";

/// The instance class families Aurora PostgreSQL offers.
const INSTANCE_FAMILIES: &[&str] = &[
    "r5", "r6g", "r6gd", "r6i", "r6id", "r7g", "r7i", "r8g", "x2g", "t3", "t4g",
];

/// `[aurora]`: the spec's `aurora_*` variables and the databases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuroraSettings {
    /// `aurora_instance_class`.
    pub instance_class: String,
    /// `aurora_instance_count`.
    pub instance_count: u32,
    /// `aurora_deletion_protection`.
    pub deletion_protection: bool,
    /// `aurora_skip_final_snapshot`.
    pub skip_final_snapshot: bool,
    /// `enable_aurora_endpoint`.
    pub enable_endpoint: bool,
    /// Engine version floor (major.minor); AWS upgrades minors by itself.
    pub engine_version: String,
    /// The initial database.
    pub database_name: String,
    /// `postgresql_databases`: the per-service databases, with a connection-string secret each.
    pub postgresql_databases: Vec<String>,
    /// Backup retention in days.
    pub backup_retention_days: u32,
    /// Performance Insights on the instances.
    pub performance_insights: bool,
    /// Retention of the PostgreSQL log group, in days.
    pub log_retention_days: u32,
    /// `rds.force_ssl`.
    pub force_ssl: bool,
    /// Name overrides.
    #[serde(default)]
    pub names: std::collections::BTreeMap<String, String>,
}

impl AuroraSettings {
    /// Read and validate the section.
    pub fn load(env: &Environment) -> Result<Self> {
        let s: Self = env.section(SECTION)?;
        if s.instance_count == 0 {
            return Err(env.invalid(
                "aurora.instance_count",
                "an Aurora cluster needs at least one instance; use 1 or more",
            ));
        }
        let family = s
            .instance_class
            .strip_prefix("db.")
            .and_then(|rest| rest.split('.').next());
        if !family.is_some_and(|f| INSTANCE_FAMILIES.contains(&f)) {
            return Err(env.invalid(
                "aurora.instance_class",
                &format!("`{}` is not an Aurora PostgreSQL instance class; use db.<family>.<size> with a family of {}", s.instance_class, INSTANCE_FAMILIES.join(", ")),
            ));
        }
        if s.engine_version.split('.').count() != 2
            || s.engine_version
                .split('.')
                .any(|p| p.parse::<u32>().is_err())
        {
            return Err(env.invalid("aurora.engine_version", "use major.minor, e.g. 14.19"));
        }
        if !(1..=35).contains(&s.backup_retention_days) {
            return Err(env.invalid("aurora.backup_retention_days", "use 1 to 35 days"));
        }
        if s.deletion_protection && s.skip_final_snapshot && env.protected {
            return Err(env.invalid(
                "aurora.skip_final_snapshot",
                "a protected environment keeps its final snapshot; set it to false",
            ));
        }
        for (key, value) in &s.names {
            if !["cluster", "parameter_group"].contains(&key.as_str()) {
                return Err(env.invalid(
                    &format!("aurora.names.{key}"),
                    "unknown name; use cluster or parameter_group",
                ));
            }
            resolve(key, String::new(), Some(value), NameRule::RdsIdentifier)
                .map_err(|e| env.invalid("aurora.names", &e))?;
        }
        let nid = env.naming_id.as_str();
        resolve(
            "cluster",
            format!("{nid}-aurora-pg14"),
            None,
            NameRule::RdsIdentifier,
        )
        .map_err(|e| env.invalid("naming_id", &e))?;
        Ok(s)
    }
}
