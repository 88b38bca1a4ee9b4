//! The cache subnet group (isolated subnets) and the `redis7` parameter group.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::ParameterNameValue;
use aws_sdk_elasticache::Client;
use layer_core::access::{arn, Access};
use layer_core::diff::Changes as _;
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

use crate::tags::{self};

const ARN: &str = "_arn";

fn arn_of<S>(o: &Observed<S>) -> &str {
    o.outputs
        .get(ARN)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

/// The subnet group's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheSubnetGroupSpec {
    /// The subnets.
    pub subnet_ids: BTreeSet<String>,
    /// Tags.
    pub tags: Tags,
}

layer_core::spec_fields!(CacheSubnetGroupSpec {
    SUBNET_IDS: subnet_ids,
    TAGS: tags
});

/// The cache subnet group.
#[derive(Debug, Clone, TypedBuilder)]
pub struct CacheSubnetGroup {
    client: Client,
    name: String,
    subnet_ids: Vec<String>,
}

#[async_trait]
impl Resource for CacheSubnetGroup {
    type Spec = CacheSubnetGroupSpec;

    fn address(&self) -> Address {
        Address::new("aws_elasticache_subnet_group.redis")
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        let group = [arn("elasticache", &format!("subnetgroup:{}", self.name))];
        Access::set("RedisSubnetGroup", group)
            .observe(&[
                "elasticache:DescribeCacheSubnetGroups",
                "elasticache:ListTagsForResource",
            ])
            .change(&[
                "elasticache:CreateCacheSubnetGroup",
                "elasticache:ModifyCacheSubnetGroup",
                "elasticache:AddTagsToResource",
                "elasticache:RemoveTagsFromResource",
            ])
            .delete(&["elasticache:DeleteCacheSubnetGroup"])
            .build()
    }

    fn desired(&self, cx: &Context, _inputs: &Inputs) -> Result<CacheSubnetGroupSpec> {
        Ok(CacheSubnetGroupSpec {
            subnet_ids: self.subnet_ids.iter().cloned().collect(),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(
        &self,
        _cx: &Context,
        _inputs: &Inputs,
    ) -> Result<Observation<CacheSubnetGroupSpec>> {
        let out = match self
            .client
            .describe_cache_subnet_groups()
            .cache_subnet_group_name(&self.name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("CacheSubnetGroupNotFoundFault") => {
                return Ok(Observation::Absent)
            }
            Err(e) => {
                return Err(Error::aws_on(
                    "elasticache",
                    "DescribeCacheSubnetGroups",
                    &self.name,
                    &e,
                ))
            }
        };
        let Some(g) = out.cache_subnet_groups().first() else {
            return Ok(Observation::Absent);
        };
        let arn = g.arn().unwrap_or_default().to_string();
        let tags = tags::read(&self.client, &arn).await?;
        let subnet_ids = g
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_identifier().map(str::to_string))
            .collect();
        let mut outputs = Outputs::new();
        outputs.insert(ARN.into(), arn.into());
        Ok(Observed::builder()
            .spec(CacheSubnetGroupSpec {
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
        d: &CacheSubnetGroupSpec,
        _inputs: &Inputs,
    ) -> Result<()> {
        self.client
            .create_cache_subnet_group()
            .cache_subnet_group_name(&self.name)
            .cache_subnet_group_description("ElastiCache Redis on the isolated subnets")
            .set_subnet_ids(Some(d.subnet_ids.iter().cloned().collect()))
            .set_tags(Some(tags::sdk(&d.tags)))
            .send()
            .await
            .map_err(|e| {
                layer_core::Error::on_create(
                    "elasticache:CreateCacheSubnetGroup",
                    &self.name,
                    &e,
                    &[
                        "CacheSubnetGroupAlreadyExists",
                        "CacheSubnetGroupAlreadyExistsFault",
                    ],
                )
            })?;
        Ok(())
    }

    async fn update(
        &self,
        _cx: &Context,
        d: &CacheSubnetGroupSpec,
        o: &Observed<CacheSubnetGroupSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        if changes.touches(CacheSubnetGroupSpec::SUBNET_IDS) {
            self.client
                .modify_cache_subnet_group()
                .cache_subnet_group_name(&self.name)
                .set_subnet_ids(Some(d.subnet_ids.iter().cloned().collect()))
                .send()
                .await
                .map_err(|e| {
                    Error::aws_on("elasticache", "ModifyCacheSubnetGroup", &self.name, &e)
                })?;
        }
        if changes.touches(CacheSubnetGroupSpec::TAGS) {
            tags::converge(&self.client, arn_of(o), &o.tags, &d.tags).await?;
        }
        Ok(())
    }

    async fn delete(&self, _cx: &Context, _o: &Observed<CacheSubnetGroupSpec>) -> Result<()> {
        match self
            .client
            .delete_cache_subnet_group()
            .cache_subnet_group_name(&self.name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("CacheSubnetGroupNotFoundFault") => Ok(()),
            Err(e) => Err(Error::aws_on(
                "elasticache",
                "DeleteCacheSubnetGroup",
                &self.name,
                &e,
            )),
        }
    }
}

/// The parameter group's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParameterGroupSpec {
    /// `redis7`.
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

/// The cache parameter group.
#[derive(Debug, Clone, TypedBuilder)]
pub struct CacheParameterGroup {
    client: Client,
    name: String,
    family: String,
    parameters: BTreeMap<String, String>,
}

impl CacheParameterGroup {
    async fn set(&self, parameters: &BTreeMap<String, String>) -> Result<()> {
        if parameters.is_empty() {
            return Ok(());
        }
        let values: Vec<ParameterNameValue> = parameters
            .iter()
            .map(|(k, v)| {
                ParameterNameValue::builder()
                    .parameter_name(k)
                    .parameter_value(v)
                    .build()
            })
            .collect();
        self.client
            .modify_cache_parameter_group()
            .cache_parameter_group_name(&self.name)
            .set_parameter_name_values(Some(values))
            .send()
            .await
            .map_err(|e| {
                Error::aws_on("elasticache", "ModifyCacheParameterGroup", &self.name, &e)
            })?;
        Ok(())
    }
}

#[async_trait]
impl Resource for CacheParameterGroup {
    type Spec = ParameterGroupSpec;

    fn address(&self) -> Address {
        Address::new("aws_elasticache_parameter_group.redis")
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        let group = [arn("elasticache", &format!("parametergroup:{}", self.name))];
        Access::set("RedisParameterGroup", group)
            .observe(&[
                "elasticache:DescribeCacheParameterGroups",
                "elasticache:DescribeCacheParameters",
                "elasticache:ListTagsForResource",
            ])
            .change(&[
                "elasticache:CreateCacheParameterGroup",
                "elasticache:ModifyCacheParameterGroup",
                "elasticache:ResetCacheParameterGroup",
                "elasticache:AddTagsToResource",
                "elasticache:RemoveTagsFromResource",
            ])
            .delete(&["elasticache:DeleteCacheParameterGroup"])
            .build()
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["family"]
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
            .describe_cache_parameter_groups()
            .cache_parameter_group_name(&self.name)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("CacheParameterGroupNotFound") => {
                return Ok(Observation::Absent)
            }
            Err(e) => {
                return Err(Error::aws_on(
                    "elasticache",
                    "DescribeCacheParameterGroups",
                    &self.name,
                    &e,
                ))
            }
        };
        let Some(g) = out.cache_parameter_groups().first() else {
            return Ok(Observation::Absent);
        };
        let arn = g.arn().unwrap_or_default().to_string();
        // Every page: AWS pages parameters even when filtered to the ones the group sets.
        let mut parameters = BTreeMap::new();
        let mut marker = None;
        loop {
            let page = self
                .client
                .describe_cache_parameters()
                .cache_parameter_group_name(&self.name)
                .source("user")
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| {
                    Error::aws_on("elasticache", "DescribeCacheParameters", &self.name, &e)
                })?;
            parameters.extend(page.parameters().iter().filter_map(|p| {
                Some((
                    p.parameter_name()?.to_string(),
                    p.parameter_value()?.to_string(),
                ))
            }));
            match page.marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        let tags = tags::read(&self.client, &arn).await?;
        let spec = ParameterGroupSpec {
            family: g
                .cache_parameter_group_family()
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

    async fn create(&self, _cx: &Context, d: &ParameterGroupSpec, _inputs: &Inputs) -> Result<()> {
        match self
            .client
            .create_cache_parameter_group()
            .cache_parameter_group_name(&self.name)
            .cache_parameter_group_family(&d.family)
            .description("ElastiCache Redis 7")
            .set_tags(Some(tags::sdk(&d.tags)))
            .send()
            .await
        {
            Ok(_) => {}
            // Converged by the engine when ours, refused when not.
            Err(e) if e.code() == Some("CacheParameterGroupAlreadyExists") => {
                return Err(Error::AlreadyExists(format!(
                    "cache parameter group `{}`",
                    self.name
                )))
            }
            Err(e) => {
                return Err(Error::aws_on(
                    "elasticache",
                    "CreateCacheParameterGroup",
                    &self.name,
                    &e,
                ))
            }
        }
        self.set(&d.parameters).await
    }

    async fn update(
        &self,
        _cx: &Context,
        d: &ParameterGroupSpec,
        o: &Observed<ParameterGroupSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        if changes.touches(ParameterGroupSpec::PARAMETERS) {
            // One set by hand that we do not manage goes back to the family's default.
            let stale: Vec<ParameterNameValue> = o
                .spec
                .parameters
                .keys()
                .filter(|k| !d.parameters.contains_key(*k))
                .map(|k| ParameterNameValue::builder().parameter_name(k).build())
                .collect();
            if !stale.is_empty() {
                self.client
                    .reset_cache_parameter_group()
                    .cache_parameter_group_name(&self.name)
                    .set_parameter_name_values(Some(stale))
                    .send()
                    .await
                    .map_err(|e| {
                        Error::aws_on("elasticache", "ResetCacheParameterGroup", &self.name, &e)
                    })?;
            }
            self.set(&d.parameters).await?;
        }
        if changes.touches(ParameterGroupSpec::TAGS) {
            tags::converge(&self.client, arn_of(o), &o.tags, &d.tags).await?;
        }
        Ok(())
    }

    async fn delete(&self, _cx: &Context, _o: &Observed<ParameterGroupSpec>) -> Result<()> {
        match self
            .client
            .delete_cache_parameter_group()
            .cache_parameter_group_name(&self.name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("CacheParameterGroupNotFound") => Ok(()),
            Err(e) => Err(Error::aws_on(
                "elasticache",
                "DeleteCacheParameterGroup",
                &self.name,
                &e,
            )),
        }
    }
}
