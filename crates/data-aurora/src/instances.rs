//! The cluster's instances, managed as one set so that changes roll without an outage from our
//! own hands: one instance at a time, readers first, the writer last after a failover to an
//! already-changed reader; scaling down removes readers only.

use async_trait::async_trait;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::DbInstance;
use aws_sdk_rds::Client;
use layer_core::access::{arn, key_grants, Access, Need};
use layer_core::diff::Changes as _;
use layer_core::resource::{Context, Observation, Observed, ResourceKind};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

use crate::tags::{self};

/// The set's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceSetSpec {
    /// How many instances.
    pub count: u32,
    /// Their class (several classes observed show as a comma-separated list).
    pub instance_class: String,
    /// Performance Insights on every instance.
    pub performance_insights: bool,
    /// Its key.
    pub performance_insights_kms_key: Option<String>,
    /// Tags (of every instance).
    pub tags: Tags,
}

layer_core::spec_fields!(InstanceSetSpec {
    PERFORMANCE_INSIGHTS_KMS_KEY: performance_insights_kms_key,
    INSTANCE_CLASS: instance_class,
    TAGS: tags
});

/// The instances of the cluster.
#[derive(Debug, Clone, TypedBuilder)]
pub struct InstanceSet {
    client: Client,
    cluster: String,
    count: u32,
    instance_class: String,
    performance_insights: bool,
    kms_key_arn: String,
}

#[derive(Debug, Clone)]
struct Member {
    id: String,
    writer: bool,
    class: String,
    pi: bool,
    pi_key: Option<String>,
    tags: Tags,
    arn: String,
}

impl InstanceSet {
    async fn members(&self) -> Result<Vec<Member>> {
        let cluster = match self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(&self.cluster)
            .send()
            .await
        {
            Ok(out) => out.db_clusters().first().cloned(),
            Err(e) if e.code() == Some("DBClusterNotFoundFault") => None,
            Err(e) => {
                return Err(Error::aws_on(
                    "rds",
                    "DescribeDBClusters",
                    &self.cluster,
                    &e,
                ))
            }
        };
        let Some(cluster) = cluster else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for m in cluster.db_cluster_members() {
            let Some(id) = m.db_instance_identifier() else {
                continue;
            };
            let Some(i) = self.describe(id).await? else {
                continue;
            };
            if matches!(i.db_instance_status(), Some("deleting")) {
                continue;
            }
            out.push(Member {
                id: id.to_string(),
                writer: m.is_cluster_writer().unwrap_or(false),
                class: i.db_instance_class().unwrap_or_default().to_string(),
                pi: i.performance_insights_enabled().unwrap_or(false),
                pi_key: i.performance_insights_kms_key_id().map(str::to_string),
                tags: tags::from_sdk(i.tag_list()),
                arn: i.db_instance_arn().unwrap_or_default().to_string(),
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The instances this set manages: those carrying our tags. Each instance's own tags decide;
    /// one without them is never modified or deleted. When none carries them, all are shown, so
    /// that plan offers them for adoption (which tags them).
    async fn set(&self, cx: &Context) -> Result<Vec<Member>> {
        let all = self.members().await?;
        let owned: Vec<Member> = all
            .iter()
            .filter(|m| layer_core::tags::is_owned(&m.tags, &cx.tags))
            .cloned()
            .collect();
        Ok(if owned.is_empty() { all } else { owned })
    }

    async fn describe(&self, id: &str) -> Result<Option<DbInstance>> {
        match self
            .client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
        {
            Ok(out) => Ok(out.db_instances().first().cloned()),
            Err(e)
                if e.code() == Some("DBInstanceNotFound")
                    || e.code() == Some("DBInstanceNotFoundFault") =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::aws_on("rds", "DescribeDBInstances", id, &e)),
        }
    }

    async fn wait_available(&self, cx: &Context, id: &str) -> Result<()> {
        layer_core::wait::until(cx, &format!("Aurora instance {id}"), || async {
            let i = self
                .describe(id)
                .await?
                .ok_or_else(|| Error::Other(format!("Aurora instance {id} disappeared")))?;
            let status = i.db_instance_status().unwrap_or_default();
            let pending = i
                .pending_modified_values()
                .is_some_and(|p| p.db_instance_class().is_some());
            Ok((status != "available" || pending).then(|| {
                if pending {
                    format!("{status}, class change pending")
                } else {
                    status.to_string()
                }
            }))
        })
        .await
    }

    /// Wait until the cluster and instance `id` can be modified: AWS refuses a modification
    /// while either is `modifying`, `backing-up`, `rebooting` (an old writer after a failover) or
    /// `failing-over`.
    async fn wait_modifiable(&self, cx: &Context, id: Option<&str>) -> Result<()> {
        let cluster = self.cluster.clone();
        layer_core::wait::until(
            cx,
            &format!("Aurora cluster {cluster} to be available"),
            || async {
                let status = self
                    .client
                    .describe_db_clusters()
                    .db_cluster_identifier(&self.cluster)
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("rds", "DescribeDBClusters", &self.cluster, &e))?
                    .db_clusters()
                    .first()
                    .and_then(|c| c.status().map(str::to_string))
                    .unwrap_or_default();
                Ok((status != "available").then_some(status))
            },
        )
        .await?;
        match id {
            Some(id) => self.wait_available(cx, id).await,
            None => Ok(()),
        }
    }

    async fn wait_gone(&self, cx: &Context, id: &str) -> Result<()> {
        layer_core::wait::until(
            cx,
            &format!("Aurora instance {id} to be deleted"),
            || async {
                Ok(self
                    .describe(id)
                    .await?
                    .map(|i| i.db_instance_status().unwrap_or("deleting").to_string()))
            },
        )
        .await
    }

    fn pi_key(&self) -> Option<String> {
        self.performance_insights.then(|| self.kms_key_arn.clone())
    }

    async fn create_one(&self, cx: &Context, id: &str, d: &InstanceSetSpec) -> Result<()> {
        let mut req = self
            .client
            .create_db_instance()
            .db_instance_identifier(id)
            .db_cluster_identifier(&self.cluster)
            .engine("aurora-postgresql")
            .db_instance_class(&d.instance_class)
            .publicly_accessible(false)
            .enable_performance_insights(d.performance_insights)
            .set_tags(Some(tags::sdk(&d.tags)));
        if d.performance_insights {
            req = req.set_performance_insights_kms_key_id(d.performance_insights_kms_key.clone());
        }
        match req.send().await {
            Ok(_) => {}
            // Converged by the engine when ours, refused when not (see the cluster's create).
            Err(e) if e.code() == Some("DBInstanceAlreadyExists") => {
                return Err(Error::AlreadyExists(format!("Aurora instance `{id}`")))
            }
            Err(e) => return Err(Error::aws_on("rds", "CreateDBInstance", id, &e)),
        }
        self.wait_available(cx, id).await
    }

    async fn modify_one(&self, cx: &Context, m: &Member, d: &InstanceSetSpec) -> Result<()> {
        self.wait_modifiable(cx, Some(&m.id)).await?;
        tracing::info!(instance = %m.id, writer = m.writer, class = %d.instance_class, "modifying instance");
        let mut req = self
            .client
            .modify_db_instance()
            .db_instance_identifier(&m.id)
            .apply_immediately(true)
            .db_instance_class(&d.instance_class)
            .enable_performance_insights(d.performance_insights);
        if d.performance_insights {
            req = req.set_performance_insights_kms_key_id(d.performance_insights_kms_key.clone());
        }
        req.send()
            .await
            .map_err(|e| Error::aws_on("rds", "ModifyDBInstance", &m.id, &e))?;
        self.wait_available(cx, &m.id).await
    }

    fn needs_change(m: &Member, d: &InstanceSetSpec) -> bool {
        m.class != d.instance_class
            || m.pi != d.performance_insights
            || (d.performance_insights && m.pi_key != d.performance_insights_kms_key)
    }
}

#[async_trait]
impl Resource for InstanceSet {
    type Spec = InstanceSetSpec;

    fn address(&self) -> Address {
        Address::new("aws_rds_cluster_instance.aurora")
    }

    fn kind(&self) -> ResourceKind {
        ResourceKind::Disruptive
    }

    /// Instances live in their cluster: AWS deletes no cluster that still has instances.
    fn lives_in_dependencies(&self) -> bool {
        true
    }

    fn diff(&self, desired: &InstanceSetSpec, observed: &InstanceSetSpec) -> Vec<FieldChange> {
        let mut changes = layer_core::diff::diff(desired, observed, &[]);
        // AWS cannot change an instance's Performance Insights key once one is set: a
        // replacement of the instances, never an in-place change.
        if observed.performance_insights_kms_key.is_some() {
            for c in &mut changes {
                if c.is(InstanceSetSpec::PERFORMANCE_INSIGHTS_KMS_KEY) && c.after.is_some() {
                    c.forces_replacement = true;
                }
            }
        }
        changes
    }

    fn name(&self) -> String {
        format!("{}-*", self.cluster)
    }

    fn access(&self) -> Vec<Access> {
        let cluster = || arn("rds", &format!("cluster:{}", self.cluster));
        let instances = || arn("rds", &format!("db:{}-*", self.cluster));
        let mut out = vec![
            Access::new(
                Need::Observe,
                "AuroraCluster",
                &["rds:DescribeDBClusters"],
                [cluster()],
            ),
            Access::new(
                Need::Observe,
                "AuroraInstances",
                &["rds:DescribeDBInstances", "rds:ListTagsForResource"],
                [instances()],
            ),
            // CreateDBInstance is authorized on the instance, the cluster it joins, and the
            // default parameter and option groups it takes.
            Access::new(
                Need::Change,
                "AuroraInstanceCreate",
                &["rds:CreateDBInstance"],
                [
                    instances(),
                    cluster(),
                    arn("rds", "pg:default.*"),
                    arn("rds", "og:default:*"),
                ],
            ),
            Access::new(
                Need::Change,
                "AuroraInstances",
                &[
                    "rds:ModifyDBInstance",
                    "rds:AddTagsToResource",
                    "rds:RemoveTagsFromResource",
                ],
                [instances()],
            ),
            Access::new(
                Need::Change,
                "AuroraCluster",
                &["rds:FailoverDBCluster"],
                [cluster()],
            ),
            Access::new(
                Need::Delete,
                "AuroraInstances",
                &["rds:DeleteDBInstance"],
                [instances()],
            ),
        ];
        if self.performance_insights {
            // Performance Insights encrypted with the general key.
            out.push(key_grants(&self.kms_key_arn));
        }
        out
    }

    fn depends_on(&self) -> Vec<Address> {
        vec![Address::new(crate::CLUSTER_ADDRESS)]
    }

    fn update_note(&self, changes: &[FieldChange]) -> Option<String> {
        changes
            .iter()
            .any(|c| {
                c.is(InstanceSetSpec::INSTANCE_CLASS)
                    || c.field().starts_with("performance_insights")
            })
            .then(|| {
                "rolls one instance at a time: readers first, then the writer after a failover"
                    .to_string()
            })
    }

    fn desired(&self, cx: &Context, _inputs: &Inputs) -> Result<InstanceSetSpec> {
        Ok(InstanceSetSpec {
            count: self.count,
            instance_class: self.instance_class.clone(),
            performance_insights: self.performance_insights,
            performance_insights_kms_key: self.pi_key(),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(
        &self,
        cx: &Context,
        _inputs: &Inputs,
    ) -> Result<Observation<InstanceSetSpec>> {
        let members = self.set(cx).await?;
        let Some(first) = members.first() else {
            return Ok(Observation::Absent);
        };
        let mut classes: Vec<&str> = members.iter().map(|m| m.class.as_str()).collect();
        classes.sort();
        classes.dedup();
        let pi = members.iter().all(|m| m.pi);
        let spec = InstanceSetSpec {
            count: members.len() as u32,
            instance_class: classes.join(","),
            performance_insights: pi,
            performance_insights_kms_key: if pi { first.pi_key.clone() } else { None },
            tags: first.tags.clone(),
        };
        let mut outputs = Outputs::new();
        outputs.insert(
            "_instances".into(),
            members
                .iter()
                .map(|m| m.id.clone())
                .collect::<Vec<_>>()
                .into(),
        );
        Ok(Observed::builder()
            .tags(first.tags.clone())
            .spec(spec)
            .outputs(outputs)
            .build()
            .present())
    }

    async fn create(&self, cx: &Context, d: &InstanceSetSpec, _inputs: &Inputs) -> Result<()> {
        // The first instance becomes the writer; the readers follow, together.
        self.create_one(cx, &format!("{}-1", self.cluster), d)
            .await?;
        let rest: Vec<String> = (2..=d.count)
            .map(|n| format!("{}-{n}", self.cluster))
            .collect();
        futures::future::try_join_all(rest.iter().map(|id| self.create_one(cx, id, d))).await?;
        Ok(())
    }

    async fn update(
        &self,
        cx: &Context,
        d: &InstanceSetSpec,
        _observed: &Observed<InstanceSetSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let mut members = self.set(cx).await?;
        // Scale up: new readers get the new settings from the start; ids taken by any instance
        // of the cluster (ours or not) are skipped.
        let mut taken: Vec<String> = self.members().await?.into_iter().map(|m| m.id).collect();
        let mut n = 1;
        while (members.len() as u32) < d.count {
            let id = format!("{}-{n}", self.cluster);
            n += 1;
            if taken.contains(&id) {
                continue;
            }
            self.create_one(cx, &id, d).await?;
            taken.push(id);
            members = self.set(cx).await?;
        }
        // Roll: readers one at a time, then the writer after a failover.
        let (writers, readers): (Vec<Member>, Vec<Member>) =
            members.iter().cloned().partition(|m| m.writer);
        let keep = d.count as usize;
        // Readers beyond the count go (scale down removes readers only), highest first.
        let mut readers = readers;
        readers.sort_by(|a, b| b.id.cmp(&a.id));
        let surplus = members.len().saturating_sub(keep).min(readers.len());
        let (remove, mut readers): (Vec<Member>, Vec<Member>) = {
            let r: Vec<Member> = readers.drain(..surplus).collect();
            (r, readers)
        };
        for m in &remove {
            tracing::info!(instance = %m.id, "removing reader");
            self.client
                .delete_db_instance()
                .db_instance_identifier(&m.id)
                .send()
                .await
                .map_err(|e| Error::aws_on("rds", "DeleteDBInstance", &m.id, &e))?;
            self.wait_gone(cx, &m.id).await?;
        }
        readers.sort_by(|a, b| a.id.cmp(&b.id));
        for m in readers.iter().filter(|m| Self::needs_change(m, d)) {
            self.modify_one(cx, m, d).await?;
        }
        for w in writers.iter().filter(|m| Self::needs_change(m, d)) {
            if let Some(target) = readers.first() {
                self.wait_modifiable(cx, Some(&target.id)).await?;
                tracing::info!(from = %w.id, to = %target.id, "failing over before changing the writer");
                self.client
                    .failover_db_cluster()
                    .db_cluster_identifier(&self.cluster)
                    .target_db_instance_identifier(&target.id)
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("rds", "FailoverDBCluster", &self.cluster, &e))?;
                let cluster = self.cluster.clone();
                layer_core::wait::until(
                    cx,
                    &format!("failover of {cluster} to {}", target.id),
                    || async {
                        let now = self.members().await?;
                        let done = now.iter().any(|m| m.id == target.id && m.writer);
                        Ok((!done).then(|| "failing over".to_string()))
                    },
                )
                .await?;
            }
            self.modify_one(cx, w, d).await?;
        }
        if changes.touches(InstanceSetSpec::TAGS) {
            for m in self.set(cx).await? {
                tags::converge(&self.client, &m.arn, &m.tags, &d.tags).await?;
            }
        }
        Ok(())
    }

    async fn delete(&self, cx: &Context, _observed: &Observed<InstanceSetSpec>) -> Result<()> {
        let (members, foreign): (Vec<Member>, Vec<Member>) = self
            .members()
            .await?
            .into_iter()
            .partition(|m| layer_core::tags::is_owned(&m.tags, &cx.tags));
        for m in &members {
            match self
                .client
                .delete_db_instance()
                .db_instance_identifier(&m.id)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e)
                    if e.code() == Some("DBInstanceNotFound")
                        || e.code() == Some("DBInstanceNotFoundFault") => {}
                Err(e) => return Err(Error::aws_on("rds", "DeleteDBInstance", &m.id, &e)),
            }
        }
        futures::future::try_join_all(members.iter().map(|m| self.wait_gone(cx, &m.id))).await?;
        if !foreign.is_empty() {
            let ids: Vec<&str> = foreign.iter().map(|m| m.id.as_str()).collect();
            return Err(Error::Other(format!(
                "Aurora instances without our tags were left alone: {}; the cluster `{}` cannot be deleted while they exist: delete them yourself, or adopt them (deploy --adopt) and destroy again",
                ids.join(", "),
                self.cluster
            )));
        }
        Ok(())
    }
}
