//! The cluster parameter group: TLS enforced (`rds.force_ssl`). Only the parameters we set are
//! compared; a change to a static parameter needs a reboot, and plan and apply say so.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::{ApplyMethod, Parameter};
use aws_sdk_rds::Client;
use layer_core::access::{arn, Access};
use layer_core::diff::Changes as _;
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

use crate::tags::{self};

/// Parameters that take effect only after a reboot.
const STATIC: &[&str] = &[
    "shared_preload_libraries",
    "max_connections",
    "rds.logical_replication",
];

/// The group's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParameterGroupSpec {
    /// `aurora-postgresql14`.
    pub family: String,
    /// The parameters we set.
    pub parameters: BTreeMap<String, String>,
    /// Tags.
    pub tags: Tags,
}

layer_core::spec_fields!(ParameterGroupSpec {
    PARAMETERS: parameters,
    TAGS: tags
});

/// A cluster parameter group.
#[derive(Debug, Clone, TypedBuilder)]
pub struct ClusterParameterGroup {
    client: Client,
    name: String,
    family: String,
    parameters: BTreeMap<String, String>,
}

const ARN: &str = "_arn";

impl ClusterParameterGroup {
    async fn set(&self, parameters: &BTreeMap<String, String>) -> Result<()> {
        let params: Vec<Parameter> = parameters
            .iter()
            .map(|(k, v)| {
                let method = if STATIC.contains(&k.as_str()) {
                    ApplyMethod::PendingReboot
                } else {
                    ApplyMethod::Immediate
                };
                Parameter::builder()
                    .parameter_name(k)
                    .parameter_value(v)
                    .apply_method(method)
                    .build()
            })
            .collect();
        self.client
            .modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(&self.name)
            .set_parameters(Some(params))
            .send()
            .await
            .map_err(|e| Error::aws_on("rds", "ModifyDBClusterParameterGroup", &self.name, &e))?;
        Ok(())
    }
}

#[async_trait]
impl Resource for ClusterParameterGroup {
    type Spec = ParameterGroupSpec;

    fn address(&self) -> Address {
        Address::new("aws_rds_cluster_parameter_group.aurora")
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        let group = [arn("rds", &format!("cluster-pg:{}", self.name))];
        Access::set("AuroraParameterGroup", group)
            .observe(&[
                "rds:DescribeDBClusterParameterGroups",
                "rds:DescribeDBClusterParameters",
                "rds:ListTagsForResource",
            ])
            .change(&[
                "rds:CreateDBClusterParameterGroup",
                "rds:ModifyDBClusterParameterGroup",
                "rds:AddTagsToResource",
                "rds:RemoveTagsFromResource",
            ])
            .delete(&["rds:DeleteDBClusterParameterGroup"])
            .build()
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["family"]
    }

    fn update_note(&self, changes: &[FieldChange]) -> Option<String> {
        let statics: Vec<&str> = changes
            .iter()
            .filter_map(|c| c.path.strip_prefix("parameters."))
            .filter(|p| STATIC.contains(p))
            .collect();
        (!statics.is_empty()).then(|| {
            format!(
                "{} take effect only after the cluster's instances reboot",
                statics.join(", ")
            )
        })
    }

    fn desired(&self, cx: &Context, _inputs: &Inputs) -> Result<ParameterGroupSpec> {
        Ok(ParameterGroupSpec {
            family: self.family.clone(),
            parameters: self.parameters.clone(),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(
        &self,
        _cx: &Context,
        _inputs: &Inputs,
    ) -> Result<Observation<ParameterGroupSpec>> {
        let out = match self
            .client
            .describe_db_cluster_parameter_groups()
            .db_cluster_parameter_group_name(&self.name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("DBParameterGroupNotFound") => {
                return Ok(Observation::Absent)
            }
            Err(e) => {
                return Err(Error::aws_on(
                    "rds",
                    "DescribeDBClusterParameterGroups",
                    &self.name,
                    &e,
                ))
            }
        };
        let Some(g) = out.db_cluster_parameter_groups().first() else {
            return Ok(Observation::Absent);
        };
        let arn = g
            .db_cluster_parameter_group_arn()
            .unwrap_or_default()
            .to_string();
        // The family has several hundred parameters, paged by 100: read the ones set on the
        // group (Source = user), through every page.
        let mut parameters = std::collections::BTreeMap::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .describe_db_cluster_parameters()
                .db_cluster_parameter_group_name(&self.name)
                .source("user")
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| Error::aws_on("rds", "DescribeDBClusterParameters", &self.name, &e))?;
            parameters.extend(
                page.parameters()
                    .iter()
                    .filter_map(|p| {
                        Some((
                            p.parameter_name()?.to_string(),
                            p.parameter_value()?.to_string(),
                        ))
                    })
                    .filter(|(k, _)| self.parameters.contains_key(k)),
            );
            match page.marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        let tags = tags::read(&self.client, &arn).await?;
        let spec = ParameterGroupSpec {
            family: g
                .db_parameter_group_family()
                .unwrap_or_default()
                .to_string(),
            parameters,
            tags: tags.clone(),
        };
        let mut outputs = Outputs::new();
        outputs.insert(ARN.into(), arn.into());
        Ok(Observed::builder()
            .spec(spec)
            .tags(tags)
            .outputs(outputs)
            .build()
            .present())
    }

    async fn create(
        &self,
        _cx: &Context,
        desired: &ParameterGroupSpec,
        _inputs: &Inputs,
    ) -> Result<()> {
        self.client
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(&self.name)
            .db_parameter_group_family(&desired.family)
            .description("Aurora PostgreSQL: TLS enforced")
            .set_tags(Some(tags::sdk(&desired.tags)))
            .send()
            .await
            .map_err(|e| {
                layer_core::Error::on_create(
                    "rds:CreateDBClusterParameterGroup",
                    &self.name,
                    &e,
                    &["DBParameterGroupAlreadyExists"],
                )
            })?;
        self.set(&desired.parameters).await
    }

    async fn update(
        &self,
        _cx: &Context,
        desired: &ParameterGroupSpec,
        observed: &Observed<ParameterGroupSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        if changes.touches(ParameterGroupSpec::PARAMETERS) {
            self.set(&desired.parameters).await?;
        }
        if changes.touches(ParameterGroupSpec::TAGS) {
            let arn = observed
                .outputs
                .get(ARN)
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            tags::converge(&self.client, arn, &observed.tags, &desired.tags).await?;
        }
        Ok(())
    }

    async fn delete(&self, _cx: &Context, _observed: &Observed<ParameterGroupSpec>) -> Result<()> {
        match self
            .client
            .delete_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(&self.name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("DBParameterGroupNotFound") => Ok(()),
            Err(e) => Err(Error::aws_on(
                "rds",
                "DeleteDBClusterParameterGroup",
                &self.name,
                &e,
            )),
        }
    }
}
