//! The DB subnet group on the isolated subnets.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::Client;
use layer_core::access::{arn, Access};
use layer_core::diff::Changes as _;
use layer_core::resource::{Context, Observation, Observed};
use layer_core::Error;
use layer_core::FieldChange;
use layer_core::{Address, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

use crate::tags::{self};

/// The subnet group's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubnetGroupSpec {
    /// The subnets.
    pub subnet_ids: BTreeSet<String>,
    /// Tags.
    pub tags: Tags,
}

layer_core::spec_fields!(SubnetGroupSpec {
    SUBNET_IDS: subnet_ids,
    TAGS: tags
});

/// A DB subnet group.
#[derive(Debug, Clone, TypedBuilder)]
pub struct DbSubnetGroup {
    client: Client,
    name: String,
    subnet_ids: Vec<String>,
}

const ARN: &str = "_arn";

#[async_trait]
impl Resource for DbSubnetGroup {
    type Spec = SubnetGroupSpec;

    fn address(&self) -> Address {
        Address::new("aws_db_subnet_group.aurora")
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        let group = [arn("rds", &format!("subgrp:{}", self.name))];
        Access::set("AuroraSubnetGroup", group)
            .observe(&["rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"])
            .change(&[
                "rds:CreateDBSubnetGroup",
                "rds:ModifyDBSubnetGroup",
                "rds:AddTagsToResource",
                "rds:RemoveTagsFromResource",
            ])
            .delete(&["rds:DeleteDBSubnetGroup"])
            .build()
    }

    fn desired(&self, cx: &Context, _inputs: &Inputs) -> Result<SubnetGroupSpec> {
        Ok(SubnetGroupSpec {
            subnet_ids: self.subnet_ids.iter().cloned().collect(),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(
        &self,
        _cx: &Context,
        _inputs: &Inputs,
    ) -> Result<Observation<SubnetGroupSpec>> {
        let out = match self
            .client
            .describe_db_subnet_groups()
            .db_subnet_group_name(&self.name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("DBSubnetGroupNotFoundFault") => {
                return Ok(Observation::Absent)
            }
            Err(e) => {
                return Err(Error::aws_on(
                    "rds",
                    "DescribeDBSubnetGroups",
                    &self.name,
                    &e,
                ))
            }
        };
        let Some(g) = out.db_subnet_groups().first() else {
            return Ok(Observation::Absent);
        };
        let arn = g.db_subnet_group_arn().unwrap_or_default().to_string();
        let tags = tags::read(&self.client, &arn).await?;
        let subnet_ids = g
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier().map(str::to_string))
            .collect();
        let mut outputs = Outputs::new();
        outputs.insert(ARN.into(), arn.into());
        Ok(Observed::builder()
            .spec(SubnetGroupSpec {
                subnet_ids,
                tags: tags.clone(),
            })
            .tags(tags)
            .outputs(outputs)
            .build()
            .present())
    }

    async fn create(
        &self,
        _cx: &Context,
        desired: &SubnetGroupSpec,
        _inputs: &Inputs,
    ) -> Result<()> {
        self.client
            .create_db_subnet_group()
            .db_subnet_group_name(&self.name)
            .db_subnet_group_description("Aurora PostgreSQL on the isolated subnets")
            .set_subnet_ids(Some(desired.subnet_ids.iter().cloned().collect()))
            .set_tags(Some(tags::sdk(&desired.tags)))
            .send()
            .await
            .map_err(|e| {
                layer_core::Error::on_create(
                    "rds:CreateDBSubnetGroup",
                    &self.name,
                    &e,
                    &[
                        "DBSubnetGroupAlreadyExists",
                        "DBSubnetGroupAlreadyExistsFault",
                    ],
                )
            })?;
        Ok(())
    }

    async fn update(
        &self,
        _cx: &Context,
        desired: &SubnetGroupSpec,
        observed: &Observed<SubnetGroupSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        if changes.touches(SubnetGroupSpec::SUBNET_IDS) {
            self.client
                .modify_db_subnet_group()
                .db_subnet_group_name(&self.name)
                .set_subnet_ids(Some(desired.subnet_ids.iter().cloned().collect()))
                .send()
                .await
                .map_err(|e| Error::aws_on("rds", "ModifyDBSubnetGroup", &self.name, &e))?;
        }
        if changes.touches(SubnetGroupSpec::TAGS) {
            let arn = observed
                .outputs
                .get(ARN)
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            tags::converge(&self.client, arn, &observed.tags, &desired.tags).await?;
        }
        Ok(())
    }

    async fn delete(&self, _cx: &Context, _observed: &Observed<SubnetGroupSpec>) -> Result<()> {
        match self
            .client
            .delete_db_subnet_group()
            .db_subnet_group_name(&self.name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("DBSubnetGroupNotFoundFault") => Ok(()),
            Err(e) => Err(Error::aws_on("rds", "DeleteDBSubnetGroup", &self.name, &e)),
        }
    }
}
