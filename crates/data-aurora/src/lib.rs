//! The Aurora PostgreSQL family: the cluster (provisioned, AWS-managed master password, KMS,
//! TLS enforced by its cluster parameter group, PostgreSQL logs to a log group we create first),
//! its instances (rolled one at a time), subnet and security groups, and the RDS interface
//! endpoint. Owns the `[aurora]` section of the environment files and `aws-sdk-rds`.

mod cluster;
mod instances;
mod parameter_group;
pub mod postgres;
mod rotation;
mod subnet_group;
mod tags;
pub mod verify;

use std::sync::Arc;

use aws_types::SdkConfig;
use layer_core::config::Infrastructure;
use layer_core::engine::AnyResource;
use shared_resources::{InterfaceEndpoint, LogGroup, SecurityGroup};

pub use cluster::{Cluster, ClusterSpec};
pub use instances::{InstanceSet, InstanceSetSpec};
pub use parameter_group::{ClusterParameterGroup, ParameterGroupSpec};
pub use rotation::{MasterRotation, RotationSpec};
pub use subnet_group::{DbSubnetGroup, SubnetGroupSpec};

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
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
    /// Days between rotations of the AWS-managed master password (RDS's default is 7); unset
    /// leaves the schedule as RDS set it, never touched.
    #[serde(default)]
    pub master_password_rotation_days: Option<u32>,
    /// Name overrides (`[aurora.names]`), for adopting a layer whose names differ from ours.
    #[serde(default)]
    pub names: AuroraNameOverrides,
}

/// `[aurora.names]`: every name the family gives can be set, as the conventions promise, but
/// the PostgreSQL log group, whose name RDS derives from the cluster's.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuroraNameOverrides {
    cluster: Option<String>,
    parameter_group: Option<String>,
    subnet_group: Option<String>,
    security_group: Option<String>,
    endpoint: Option<String>,
}

/// A database name PostgreSQL and RDS accept without quoting: a lowercase letter or `_` first,
/// then lowercase letters, digits and `_`, at most 63 characters, not one PostgreSQL keeps.
fn check_database_name(name: &str) -> std::result::Result<(), String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if name.is_empty()
        || name.len() > 63
        || !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(format!(
            "`{name}` is not a database name; use 1 to 63 lowercase letters, digits and _, starting with a letter or _"
        ));
    }
    if ["template0", "template1", "rdsadmin"].contains(&name) {
        return Err(format!(
            "`{name}` is a database PostgreSQL or RDS keeps for itself"
        ));
    }
    Ok(())
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
        if s.instance_count > 16 {
            return Err(env.invalid(
                "aurora.instance_count",
                "an Aurora cluster has a writer and at most 15 readers; use 1 to 16",
            ));
        }
        layer_core::config::check_log_retention(s.log_retention_days)
            .map_err(|why| env.invalid("aurora.log_retention_days", &why))?;
        check_database_name(&s.database_name)
            .map_err(|why| env.invalid("aurora.database_name", &why))?;
        let mut seen = std::collections::BTreeSet::new();
        for db in &s.postgresql_databases {
            check_database_name(db)
                .map_err(|why| env.invalid("aurora.postgresql_databases", &why))?;
            if !seen.insert(db) {
                return Err(env.invalid(
                    "aurora.postgresql_databases",
                    &format!("`{db}` is listed twice; list each database once"),
                ));
            }
        }
        if s.master_password_rotation_days
            .is_some_and(|d| !(1..=1000).contains(&d))
        {
            return Err(env.invalid(
                "aurora.master_password_rotation_days",
                "use 1 to 1000 days (Secrets Manager's range), or leave it unset for RDS's 7",
            ));
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
        s.names(env)?;
        Ok(s)
    }

    /// The resolved names: each the environment's override or the default.
    pub fn names(&self, env: &Environment) -> Result<AuroraNames> {
        let nid = env.naming_id.as_str();
        let o = &self.names;
        let err = |e: String| env.invalid("aurora.names", &e);
        let cluster = resolve(
            "cluster",
            format!("{nid}-aurora"),
            o.cluster.as_ref(),
            NameRule::RdsIdentifier,
        )
        .map_err(err)?;
        // Instances are `{cluster}-{n}`.
        resolve(
            "cluster",
            format!("{cluster}-{}", self.instance_count.max(1)),
            None,
            NameRule::RdsIdentifier,
        )
        .map_err(err)?;
        // The major version is in the default: a major upgrade gets a new group of the new
        // family, and the cluster moves to it in the same modification.
        let major = self.engine_version.split('.').next().unwrap_or("14");
        Ok(AuroraNames {
            parameter_group: resolve(
                "parameter_group",
                format!("{nid}-aurora-pg{major}"),
                o.parameter_group.as_ref(),
                NameRule::RdsIdentifier,
            )
            .map_err(err)?,
            subnet_group: resolve(
                "subnet_group",
                cluster.clone(),
                o.subnet_group.as_ref(),
                NameRule::SubnetGroup,
            )
            .map_err(err)?,
            security_group: resolve(
                "security_group",
                cluster.clone(),
                o.security_group.as_ref(),
                NameRule::SecurityGroup,
            )
            .map_err(err)?,
            log_group: format!("/aws/rds/cluster/{cluster}/postgresql"),
            endpoint: resolve(
                "endpoint",
                format!("{nid}-rds"),
                o.endpoint.as_ref(),
                NameRule::TagValue,
            )
            .map_err(err)?,
            cluster,
        })
    }
}

/// The family's resolved names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuroraNames {
    /// The cluster; instances are `{cluster}-{n}`.
    pub cluster: String,
    /// The cluster parameter group.
    pub parameter_group: String,
    /// The subnet group.
    pub subnet_group: String,
    /// The security group.
    pub security_group: String,
    /// The PostgreSQL log group.
    pub log_group: String,
    /// The interface endpoint's `Name` tag.
    pub endpoint: String,
}

/// Build the family's resources for an environment.
/// Aurora PostgreSQL, as a family of the layer.
#[derive(Debug, Clone, Copy)]
pub struct Aurora;

impl layer_core::family::Family for Aurora {
    const SECTION: &'static str = SECTION;
    type Settings = AuroraSettings;

    fn settings(env: &Environment) -> Result<AuroraSettings> {
        AuroraSettings::load(env)
    }

    fn resources(
        layer: layer_core::family::Layer<'_>,
        settings: &AuroraSettings,
    ) -> Result<Vec<Arc<dyn AnyResource>>> {
        resources(layer.env, layer.infra, layer.sdk, settings)
    }
}

fn resources(
    env: &Environment,
    infra: &Infrastructure,
    sdk: &SdkConfig,
    s: &AuroraSettings,
) -> Result<Vec<Arc<dyn AnyResource>>> {
    let names = s.names(env)?;
    let rds = aws_sdk_rds::Client::new(sdk);
    let ec2 = ec2_query::Client::new(sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let mut out: Vec<Arc<dyn AnyResource>> = vec![
        Arc::new(
            LogGroup::builder()
                .client(logs)
                .key("aurora_postgresql")
                .name(names.log_group.clone())
                .kms_key_arn(infra.logs_kms_key_arn.clone())
                .retention_days(s.log_retention_days as i32)
                .build(),
        ),
        Arc::new(SecurityGroup::vpc_only(
            ec2.clone(),
            "aurora",
            &names.security_group,
            "Aurora PostgreSQL: 5432 from the VPC",
            infra,
            5432,
        )),
        Arc::new(
            DbSubnetGroup::builder()
                .client(rds.clone())
                .name(names.subnet_group.clone())
                .subnet_ids(infra.isolated_subnet_ids.clone())
                .build(),
        ),
        Arc::new(
            ClusterParameterGroup::builder()
                .client(rds.clone())
                .name(names.parameter_group.clone())
                .family(format!(
                    "aurora-postgresql{}",
                    s.engine_version.split('.').next().unwrap_or("14")
                ))
                .parameters(
                    [(
                        "rds.force_ssl".to_string(),
                        if s.force_ssl { "1" } else { "0" }.to_string(),
                    )]
                    .into(),
                )
                .build(),
        ),
        Arc::new(
            Cluster::builder()
                .client(rds.clone())
                .name(names.cluster.clone())
                .settings(s.clone())
                .general_kms_key_arn(infra.general_kms_key_arn.clone())
                .secrets_kms_key_arn(infra.secrets_kms_key_arn.clone())
                .subnet_group(names.subnet_group.clone())
                .parameter_group(names.parameter_group.clone())
                .build(),
        ),
        Arc::new(
            InstanceSet::builder()
                .client(rds)
                .cluster(names.cluster.clone())
                .count(s.instance_count)
                .instance_class(s.instance_class.clone())
                .performance_insights(s.performance_insights)
                .kms_key_arn(infra.general_kms_key_arn.clone())
                .build(),
        ),
    ];
    if let Some(days) = s.master_password_rotation_days {
        out.push(Arc::new(
            MasterRotation::builder()
                .client(aws_sdk_secretsmanager::Client::new(sdk))
                .cluster(names.cluster.clone())
                .rotation_days(days)
                .build(),
        ));
    }
    if s.enable_endpoint {
        out.push(Arc::new(InterfaceEndpoint::isolated(
            ec2,
            "rds",
            &names.endpoint,
            &env.region,
            infra,
            "aurora_endpoint_id",
        )));
    }
    Ok(out)
}

/// The cluster's address in the layer.
pub const CLUSTER_ADDRESS: &str = "aws_rds_cluster.aurora";

/// What a destroy of the cluster `name` leaves when a final snapshot is taken: the snapshot, with
/// how to list and remove it.
pub fn final_snapshot_kept(name: &str, region: &str) -> String {
    format!(
        "the final snapshot of `{name}` is kept: `aws rds describe-db-cluster-snapshots --region {region} --db-cluster-identifier {name} --snapshot-type manual` lists it, `aws rds delete-db-cluster-snapshot --region {region} --db-cluster-snapshot-identifier <id>` removes it"
    )
}
