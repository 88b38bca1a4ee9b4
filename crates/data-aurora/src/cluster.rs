//! The Aurora PostgreSQL cluster. Stateful: a change of an immutable field is a replacement that
//! needs `--allow-replace`; deletion protection is never switched off by us; the final snapshot
//! id carries a timestamp so that a second destroy does not collide.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::{CloudwatchLogsExportConfiguration, DbCluster};
use aws_sdk_rds::Client;
use layer_core::access::{arn, key_grants, service_linked_role, Access, Need};
use layer_core::resource::{Context, Observation, Observed, ResourceKind};
use layer_core::version::EngineVersion;
use layer_core::FieldChange;
use layer_core::{Address, Error, Flag, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

use crate::tags::{self};
use crate::AuroraSettings;

/// The cluster's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSpec {
    /// `aurora-postgresql`.
    pub engine: String,
    /// Engine version (a floor).
    pub engine_version: EngineVersion,
    /// `dbadmin`.
    pub master_username: String,
    /// AWS manages the master password in its own secret.
    pub manage_master_user_password: bool,
    /// The key of that secret.
    pub master_user_secret_kms_key: Option<String>,
    /// The initial database.
    pub database_name: String,
    /// Storage encryption.
    pub storage_encrypted: bool,
    /// Its key.
    pub kms_key: Option<String>,
    /// The subnet group.
    pub subnet_group: String,
    /// Security groups.
    pub security_group_ids: BTreeSet<String>,
    /// The cluster parameter group.
    pub parameter_group: String,
    /// Log exports.
    pub log_exports: BTreeSet<String>,
    /// Backup retention in days.
    pub backup_retention_days: i32,
    /// Deletion protection.
    pub deletion_protection: bool,
    /// Copy tags to snapshots.
    pub copy_tags_to_snapshot: bool,
    /// Tags.
    pub tags: Tags,
}

layer_core::spec_fields!(ClusterSpec {
    MASTER_USER_SECRET_KMS_KEY: master_user_secret_kms_key,
    ENGINE_VERSION: engine_version
});

/// The cluster.
#[derive(Debug, Clone, TypedBuilder)]
pub struct Cluster {
    client: Client,
    name: String,
    settings: AuroraSettings,
    general_kms_key_arn: String,
    secrets_kms_key_arn: String,
    subnet_group: String,
    parameter_group: String,
}

fn sg_address() -> Address {
    Address::new("aws_security_group.aurora")
}

/// `YYYYMMDDHHMMSS` in UTC, for final snapshot ids.
pub(crate) fn timestamp() -> String {
    let rfc3339 = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    rfc3339.chars().filter(char::is_ascii_digit).collect()
}

impl Cluster {
    async fn describe(&self) -> Result<Option<DbCluster>> {
        match self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(&self.name)
            .send()
            .await
        {
            Ok(out) => Ok(out.db_clusters().first().cloned()),
            Err(e) if e.code() == Some("DBClusterNotFoundFault") => Ok(None),
            Err(e) => Err(Error::aws_on("rds", "DescribeDBClusters", &self.name, &e)),
        }
    }

    async fn wait_available(&self, cx: &Context) -> Result<()> {
        layer_core::wait::until(cx, &format!("Aurora cluster {}", self.name), || async {
            let c = self
                .describe()
                .await?
                .ok_or_else(|| Error::Other(format!("Aurora cluster {} disappeared", self.name)))?;
            let status = c.status().unwrap_or_default();
            let pending = c.pending_modified_values().is_some_and(|p| {
                p.engine_version().is_some()
                    || p.master_user_password().is_some()
                    || p.db_cluster_identifier().is_some()
            });
            Ok((status != "available" || pending).then(|| {
                if pending {
                    format!("{status}, modifications pending")
                } else {
                    status.to_string()
                }
            }))
        })
        .await
    }
}

#[async_trait]
impl Resource for Cluster {
    type Spec = ClusterSpec;

    fn address(&self) -> Address {
        Address::new(crate::CLUSTER_ADDRESS)
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        let cluster = || arn("rds", &format!("cluster:{}", self.name));
        let mut out = vec![
            Access::new(
                Need::Observe,
                "AuroraCluster",
                &["rds:DescribeDBClusters", "rds:ListTagsForResource"],
                [cluster()],
            ),
            // CreateDBCluster is authorized on the cluster and on the groups it names.
            Access::new(
                Need::Change,
                "AuroraClusterCreate",
                &["rds:CreateDBCluster", "rds:ModifyDBCluster"],
                [
                    cluster(),
                    arn("rds", &format!("cluster-pg:{}", self.parameter_group)),
                    arn("rds", &format!("subgrp:{}", self.subnet_group)),
                ],
            ),
            Access::new(
                Need::Change,
                "AuroraCluster",
                &["rds:AddTagsToResource", "rds:RemoveTagsFromResource"],
                [cluster()],
            ),
            // Storage encrypted with the general key: RDS makes a grant on it as the caller.
            key_grants(&self.general_kms_key_arn),
            // The AWS-managed master password: RDS creates and rotates its secret, encrypted
            // with the secrets key, as the caller. Its name (`rds!cluster-<uuid>`) is AWS's.
            Access::new(
                Need::Change,
                "AuroraMasterSecret",
                &[
                    "secretsmanager:CreateSecret",
                    "secretsmanager:TagResource",
                    "secretsmanager:RotateSecret",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:UpdateSecret",
                    "secretsmanager:DeleteSecret",
                ],
                [arn("secretsmanager", "secret:rds!cluster-*")],
            ),
            // Deleting the cluster deletes its managed secret, which RDS's documentation lists
            // among the caller's permissions for the integration.
            Access::new(
                Need::Delete,
                "AuroraMasterSecret",
                &["secretsmanager:DeleteSecret"],
                [arn("secretsmanager", "secret:rds!cluster-*")],
            ),
            Access::new(
                Need::Change,
                "SecretsKey",
                &["kms:GenerateDataKey", "kms:Decrypt"],
                [self.secrets_kms_key_arn.clone()],
            ),
            Access::new(
                Need::Delete,
                "AuroraCluster",
                &["rds:DeleteDBCluster"],
                [cluster()],
            ),
            // The first cluster of an account makes RDS's service-linked role as the caller.
            service_linked_role("rds.amazonaws.com", "AWSServiceRoleForRDS"),
        ];
        if !self.settings.skip_final_snapshot {
            out.push(Access::new(
                Need::Delete,
                "AuroraFinalSnapshot",
                &["rds:CreateDBClusterSnapshot"],
                [
                    cluster(),
                    arn("rds", &format!("cluster-snapshot:{}-final-*", self.name)),
                ],
            ));
        }
        out
    }

    fn kind(&self) -> ResourceKind {
        ResourceKind::Stateful
    }

    fn depends_on(&self) -> Vec<Address> {
        vec![
            Address::new("aws_cloudwatch_log_group.aurora_postgresql"),
            sg_address(),
            Address::new("aws_db_subnet_group.aurora"),
            Address::new("aws_rds_cluster_parameter_group.aurora"),
        ]
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &[
            "engine",
            "master_username",
            "database_name",
            "storage_encrypted",
            "kms_key",
            "subnet_group",
        ]
    }

    fn diff(&self, desired: &ClusterSpec, observed: &ClusterSpec) -> Vec<FieldChange> {
        let mut changes =
            layer_core::version::diff_with_floor(desired, observed, self.replace_fields(), |s| {
                &mut s.engine_version
            });
        // AWS cannot change the KMS key of a master secret it already manages (only when it
        // starts managing one): then the key is a replacement, never an in-place change.
        if observed.manage_master_user_password {
            for c in &mut changes {
                if c.is(ClusterSpec::MASTER_USER_SECRET_KMS_KEY) {
                    c.forces_replacement = true;
                }
            }
        }
        changes
    }

    fn update_guard(&self, changes: &[FieldChange]) -> Option<(Flag, String)> {
        layer_core::version::major_upgrade_guard(changes, &self.name)
    }

    fn update_note(&self, changes: &[FieldChange]) -> Option<String> {
        changes
            .iter()
            .any(|c| c.is(ClusterSpec::ENGINE_VERSION))
            .then(|| "the engine upgrade restarts the cluster".to_string())
    }

    fn desired(&self, cx: &Context, inputs: &Inputs) -> Result<ClusterSpec> {
        let s = &self.settings;
        Ok(ClusterSpec {
            engine: "aurora-postgresql".into(),
            engine_version: EngineVersion(s.engine_version.clone()),
            master_username: "dbadmin".into(),
            manage_master_user_password: true,
            master_user_secret_kms_key: Some(self.secrets_kms_key_arn.clone()),
            database_name: s.database_name.clone(),
            storage_encrypted: true,
            kms_key: Some(self.general_kms_key_arn.clone()),
            subnet_group: self.subnet_group.clone(),
            security_group_ids: [inputs.str(&sg_address(), shared_resources::SECURITY_GROUP_ID)?]
                .into(),
            parameter_group: self.parameter_group.clone(),
            log_exports: ["postgresql".to_string()].into(),
            backup_retention_days: s.backup_retention_days as i32,
            deletion_protection: s.deletion_protection,
            copy_tags_to_snapshot: true,
            tags: cx.tags.clone(),
        })
    }

    async fn observe(&self, _cx: &Context, _inputs: &Inputs) -> Result<Observation<ClusterSpec>> {
        let Some(c) = self.describe().await? else {
            return Ok(Observation::Absent);
        };
        // A cluster AWS is deleting cannot be brought back; its name is free once it is gone.
        if let Some(state @ "deleting") = c.status() {
            return Ok(Observation::Leaving(state.to_string()));
        }
        let tags = tags::from_sdk(c.tag_list());
        let spec = ClusterSpec {
            engine: c.engine().unwrap_or_default().to_string(),
            engine_version: EngineVersion(c.engine_version().unwrap_or_default().to_string()),
            master_username: c.master_username().unwrap_or_default().to_string(),
            manage_master_user_password: c.master_user_secret().is_some(),
            master_user_secret_kms_key: c
                .master_user_secret()
                .and_then(|s| s.kms_key_id())
                .map(str::to_string),
            database_name: c.database_name().unwrap_or_default().to_string(),
            storage_encrypted: c.storage_encrypted().unwrap_or(false),
            kms_key: c.kms_key_id().map(str::to_string),
            subnet_group: c.db_subnet_group().unwrap_or_default().to_string(),
            security_group_ids: c
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                .collect(),
            parameter_group: c
                .db_cluster_parameter_group()
                .unwrap_or_default()
                .to_string(),
            log_exports: c
                .enabled_cloudwatch_logs_exports()
                .iter()
                .cloned()
                .collect(),
            backup_retention_days: c.backup_retention_period().unwrap_or(0),
            deletion_protection: c.deletion_protection().unwrap_or(false),
            copy_tags_to_snapshot: c.copy_tags_to_snapshot().unwrap_or(false),
            tags: tags.clone(),
        };
        let mut o = Outputs::new();
        o.insert("aurora_cluster_id".into(), self.name.clone().into());
        o.insert(
            "aurora_cluster_arn".into(),
            c.db_cluster_arn().unwrap_or_default().into(),
        );
        o.insert(
            "aurora_cluster_endpoint".into(),
            c.endpoint().unwrap_or_default().into(),
        );
        o.insert(
            "aurora_cluster_reader_endpoint".into(),
            c.reader_endpoint().unwrap_or_default().into(),
        );
        o.insert(
            "aurora_cluster_database_name".into(),
            c.database_name().unwrap_or_default().into(),
        );
        o.insert(
            "aurora_master_user_secret_arn".into(),
            c.master_user_secret()
                .and_then(|s| s.secret_arn())
                .unwrap_or_default()
                .into(),
        );
        // For the secrets written from the cluster (psql-username); not a layer output.
        o.insert(
            "_aurora_master_username".into(),
            c.master_username().unwrap_or_default().into(),
        );
        o.insert(
            "aurora_cluster_port".into(),
            c.port().unwrap_or(5432).into(),
        );
        Ok(Observed::builder()
            .spec(spec)
            .tags(tags)
            .outputs(o)
            .holds_data(true)
            .build()
            .present())
    }

    async fn create(&self, cx: &Context, d: &ClusterSpec, _inputs: &Inputs) -> Result<()> {
        let created = self
            .client
            .create_db_cluster()
            .db_cluster_identifier(&self.name)
            .engine(&d.engine)
            .engine_version(&d.engine_version.0)
            .engine_mode("provisioned")
            .master_username(&d.master_username)
            .manage_master_user_password(d.manage_master_user_password)
            .set_master_user_secret_kms_key_id(d.master_user_secret_kms_key.clone())
            .database_name(&d.database_name)
            .storage_encrypted(d.storage_encrypted)
            .set_kms_key_id(d.kms_key.clone())
            .db_subnet_group_name(&d.subnet_group)
            .set_vpc_security_group_ids(Some(d.security_group_ids.iter().cloned().collect()))
            .db_cluster_parameter_group_name(&d.parameter_group)
            .set_enable_cloudwatch_logs_exports(Some(d.log_exports.iter().cloned().collect()))
            .backup_retention_period(d.backup_retention_days)
            .deletion_protection(d.deletion_protection)
            .copy_tags_to_snapshot(d.copy_tags_to_snapshot)
            .set_tags(Some(tags::sdk(&d.tags)))
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Ours (a lost answer, an interrupted run) is converged by the engine; one made by
            // anyone else meanwhile is refused, never taken over.
            Err(e) if e.code() == Some("DBClusterAlreadyExistsFault") => {
                return Err(Error::AlreadyExists(format!(
                    "Aurora cluster `{}`",
                    self.name
                )))
            }
            Err(e) => return Err(Error::aws_on("rds", "CreateDBCluster", &self.name, &e)),
        }
        self.wait_available(cx).await
    }

    async fn update(
        &self,
        cx: &Context,
        d: &ClusterSpec,
        observed: &Observed<ClusterSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let changed = |f: &str| changes.iter().any(|c| c.field() == f);
        let o = &observed.spec;
        let mut req = self
            .client
            .modify_db_cluster()
            .db_cluster_identifier(&self.name)
            .apply_immediately(true);
        let mut any = false;
        if changed("engine_version") {
            let major =
                EngineVersion(o.engine_version.0.clone()).major() != d.engine_version.major();
            req = req
                .engine_version(&d.engine_version.0)
                .allow_major_version_upgrade(major);
            if major {
                req = req.db_cluster_parameter_group_name(&d.parameter_group);
            }
            any = true;
        }
        if changed("security_group_ids") {
            req = req
                .set_vpc_security_group_ids(Some(d.security_group_ids.iter().cloned().collect()));
            any = true;
        }
        if changed("parameter_group") {
            req = req.db_cluster_parameter_group_name(&d.parameter_group);
            any = true;
        }
        if changed("log_exports") {
            let enable: Vec<String> = d.log_exports.difference(&o.log_exports).cloned().collect();
            let disable: Vec<String> = o.log_exports.difference(&d.log_exports).cloned().collect();
            req = req.cloudwatch_logs_export_configuration(
                CloudwatchLogsExportConfiguration::builder()
                    .set_enable_log_types(Some(enable).filter(|v| !v.is_empty()))
                    .set_disable_log_types(Some(disable).filter(|v| !v.is_empty()))
                    .build(),
            );
            any = true;
        }
        if changed("backup_retention_days") {
            req = req.backup_retention_period(d.backup_retention_days);
            any = true;
        }
        if changed("deletion_protection") {
            req = req.deletion_protection(d.deletion_protection);
            any = true;
        }
        if changed("copy_tags_to_snapshot") {
            req = req.copy_tags_to_snapshot(d.copy_tags_to_snapshot);
            any = true;
        }
        // The secret's key is set when management is turned on; once managed, it cannot change.
        if changed("manage_master_user_password") {
            req = req
                .manage_master_user_password(true)
                .set_master_user_secret_kms_key_id(d.master_user_secret_kms_key.clone());
            any = true;
        }
        if any {
            // AWS refuses a modification while the cluster is busy (modifying, backing up,
            // failing over): wait for it to be available first.
            self.wait_available(cx).await?;
            req.send()
                .await
                .map_err(|e| Error::aws_on("rds", "ModifyDBCluster", &self.name, &e))?;
            self.wait_available(cx).await?;
        }
        if changed("tags") {
            let arn = observed
                .outputs
                .get("aurora_cluster_arn")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            tags::converge(&self.client, arn, &observed.tags, &d.tags).await?;
        }
        Ok(())
    }

    /// Deletion protection refuses destroy at plan time, before the instances (deleted first)
    /// are touched.
    fn delete_guard(&self, observed: &Observed<ClusterSpec>) -> Option<(Flag, String)> {
        observed.spec.deletion_protection.then(|| {
            (
                Flag::DeletionProtection,
                format!(
                    "Aurora cluster `{}` has deletion protection on, in the [aurora] section `deletion_protection`",
                    self.name
                ),
            )
        })
    }

    async fn delete(&self, cx: &Context, observed: &Observed<ClusterSpec>) -> Result<()> {
        if observed.spec.deletion_protection {
            return Err(Error::Other(format!(
                "Aurora cluster `{}` has deletion protection, which this tool never switches off by itself; set `deletion_protection = false` in the [aurora] section, deploy, then destroy again",
                self.name
            )));
        }
        let mut req = self
            .client
            .delete_db_cluster()
            .db_cluster_identifier(&self.name);
        if self.settings.skip_final_snapshot {
            req = req.skip_final_snapshot(true);
        } else {
            let snapshot = format!("{}-final-{}", self.name, timestamp());
            tracing::info!(cluster = %self.name, %snapshot, "final snapshot");
            req = req.final_db_snapshot_identifier(snapshot);
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("DBClusterNotFoundFault") => return Ok(()),
            Err(e) => return Err(Error::aws_on("rds", "DeleteDBCluster", &self.name, &e)),
        }
        self.wait_gone(cx).await
    }

    async fn wait_gone(&self, cx: &Context) -> Result<()> {
        layer_core::wait::until(
            cx,
            &format!("Aurora cluster {} to be deleted", self.name),
            || async {
                Ok(self
                    .describe()
                    .await?
                    .map(|c| c.status().unwrap_or("deleting").to_string()))
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_digits() {
        let t = timestamp();
        assert_eq!(t.len(), 14, "{t}");
        assert!(t.starts_with("20"), "{t}");
        assert!(t.chars().all(|c| c.is_ascii_digit()));
    }
}

#[cfg(test)]
mod diff_tests {
    use super::*;
    use layer_core::config::Environment;
    use layer_core::version::EngineVersion;

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

    /// What the cluster's diff marks in place and what forces a replacement, as a snapshot
    /// (`UPDATE_EXPECT=1` rewrites it for review).
    #[test]
    fn the_cluster_s_diff_marks_what_changes_in_place_and_what_replaces_it() {
        let env = dev();
        let sdk = layer_core::aws::offline_config(&env.region);
        let key = |k: &str| format!("arn:aws:kms:eu-central-2:123456789012:key/{k}");
        let cluster = Cluster::builder()
            .client(Client::new(&sdk))
            .name("dal-dev-aurora".into())
            .settings(AuroraSettings::load(&env).expect("[aurora] loads"))
            .general_kms_key_arn(key("general"))
            .secrets_kms_key_arn(key("secrets"))
            .subnet_group("dal-dev-aurora".into())
            .parameter_group("dal-dev-aurora-pg14".into())
            .build();
        let desired = ClusterSpec {
            engine: "aurora-postgresql".into(),
            engine_version: EngineVersion("14.19".into()),
            master_username: "dbadmin".into(),
            manage_master_user_password: true,
            master_user_secret_kms_key: Some(key("secrets")),
            database_name: "postgres".into(),
            storage_encrypted: true,
            kms_key: Some(key("general")),
            subnet_group: "dal-dev-aurora".into(),
            security_group_ids: ["sg-1".to_string()].into(),
            parameter_group: "dal-dev-aurora-pg14".into(),
            log_exports: ["postgresql".to_string()].into(),
            backup_retention_days: 7,
            deletion_protection: true,
            copy_tags_to_snapshot: true,
            tags: [("Environment".to_string(), "dev".to_string())].into(),
        };
        // A newer minor satisfies the floor; the rest differs.
        let mut observed = desired.clone();
        observed.engine_version = EngineVersion("14.20".into());
        observed.backup_retention_days = 1;
        observed.kms_key = Some(key("other"));
        observed.master_user_secret_kms_key = Some(key("other-secrets"));
        observed.log_exports = BTreeSet::new();
        observed.tags.insert("Team".into(), "data".into());
        let changes = cluster.diff(&desired, &observed);
        expect_test::expect![[r#"
            backup_retention_days: 1 -> 7
            kms_key: "arn:aws:kms:eu-central-2:123456789012:key/other" -> "arn:aws:kms:eu-central-2:123456789012:key/general"  # forces replacement
            log_exports: [] -> ["postgresql"]
            master_user_secret_kms_key: "arn:aws:kms:eu-central-2:123456789012:key/other-secrets" -> "arn:aws:kms:eu-central-2:123456789012:key/secrets"  # forces replacement
            tags.Team: "data" -> (none)
        "#]].assert_eq(&layer_core::diff::lines(&changes));
        // An older major is an upgrade.
        let mut older = desired.clone();
        older.engine_version = EngineVersion("13.12".into());
        let changes = cluster.diff(&desired, &older);
        expect_test::expect![[r#"
            engine_version: "13.12" -> "14.19"
        "#]]
        .assert_eq(&layer_core::diff::lines(&changes));
    }
}
