//! A VPC interface endpoint. Endpoints have no name, so ours is found by its service and its
//! `Name` tag in the VPC; ownership is then decided by our tags as for everything else.

use std::collections::BTreeSet;

use async_trait::async_trait;
use ec2_query::{Client, Filter, NewVpcEndpoint, VpcEndpoint, VpcEndpointChange};
use layer_core::access::{arn, Access, Need};
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

/// The endpoint's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointSpec {
    /// `com.amazonaws.{region}.rds`, …
    pub service_name: String,
    /// The subnets it has interfaces in.
    pub subnet_ids: BTreeSet<String>,
    /// Its security groups.
    pub security_group_ids: BTreeSet<String>,
    /// Private DNS on.
    pub private_dns: bool,
    /// Tags (ours plus `Name`).
    pub tags: Tags,
}

/// An interface endpoint.
#[derive(Debug, Clone, TypedBuilder)]
pub struct InterfaceEndpoint {
    client: Client,
    /// Address key, e.g. `rds` for `aws_vpc_endpoint.rds`.
    #[builder(setter(into))]
    key: String,
    /// The `Name` tag.
    #[builder(setter(into))]
    name: String,
    #[builder(setter(into))]
    service_name: String,
    vpc_id: String,
    subnet_ids: Vec<String>,
    security_group_ids: Vec<String>,
    /// The layer output that carries its id (`aurora_endpoint_id`, …).
    #[builder(setter(into))]
    output: String,
}

impl InterfaceEndpoint {
    /// An endpoint of `service` (`rds`, `elasticache`, …) on the isolated subnets, with the
    /// infrastructure layer's endpoint security group; its id is the layer output `output`.
    pub fn isolated(
        client: Client,
        service: &str,
        name: &str,
        region: &str,
        infra: &layer_core::config::Infrastructure,
        output: &str,
    ) -> Self {
        InterfaceEndpoint::builder()
            .client(client)
            .key(service)
            .name(name)
            .service_name(format!("com.amazonaws.{region}.{service}"))
            .vpc_id(infra.vpc_id.clone())
            .subnet_ids(infra.isolated_subnet_ids.clone())
            .security_group_ids(vec![infra.vpc_endpoint_security_group_id.clone()])
            .output(output)
            .build()
    }

    fn id_of(&self, observed: &Observed<EndpointSpec>) -> String {
        observed
            .outputs
            .get(&self.output)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    }
}

#[async_trait]
impl Resource for InterfaceEndpoint {
    type Spec = EndpointSpec;

    fn address(&self) -> Address {
        Address::new(format!("aws_vpc_endpoint.{}", self.key))
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    /// A VPC holds one interface endpoint with private DNS per service: deployments in one VPC
    /// share it, and the one that made it owns it.
    fn shared_name_advice(&self) -> String {
        format!(
            "a VPC holds one interface endpoint with private DNS for {}, and that deployment's serves this one too: set `enable_endpoint = false` in the section of its family ([aurora] for rds, [redis] for elasticache) of this environment's file",
            self.service_name
        )
    }

    fn access(&self) -> Vec<Access> {
        let endpoints = || [arn("ec2", "vpc-endpoint/*")];
        vec![
            Access::unscoped(
                Need::Observe,
                "Ec2Read",
                &["ec2:DescribeVpcEndpoints"],
                "EC2's Describe actions support no resource-level permissions",
            ),
            Access::new(
                Need::Change,
                "VpcEndpoints",
                &["ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint"],
                [
                    arn("ec2", "vpc-endpoint/*"),
                    arn("ec2", &format!("vpc/{}", self.vpc_id)),
                    arn("ec2", "subnet/*"),
                    arn("ec2", "security-group/*"),
                ],
            ),
            Access::new(
                Need::Change,
                "VpcEndpointTags",
                &["ec2:CreateTags", "ec2:DeleteTags"],
                endpoints(),
            ),
            Access::unscoped(
                Need::Change,
                "VpcEndpointPrivateDns",
                &["route53:AssociateVPCWithHostedZone"],
                "an interface endpoint with private DNS associates the VPC with a hosted zone AWS owns, whose ARN is not known beforehand",
            ),
            Access::new(
                Need::Delete,
                "VpcEndpointTags",
                &["ec2:DeleteVpcEndpoints"],
                endpoints(),
            ),
        ]
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["service_name"]
    }

    fn desired(&self, cx: &Context, _inputs: &Inputs) -> Result<EndpointSpec> {
        let mut tags = cx.tags.clone();
        tags.insert("Name".into(), self.name.clone());
        Ok(EndpointSpec {
            service_name: self.service_name.clone(),
            subnet_ids: self.subnet_ids.iter().cloned().collect(),
            security_group_ids: self.security_group_ids.iter().cloned().collect(),
            private_dns: true,
            tags,
        })
    }

    async fn observe(&self, _cx: &Context, _inputs: &Inputs) -> Result<Observation<EndpointSpec>> {
        let filters = [
            Filter::new("vpc-id", &self.vpc_id),
            Filter::new("service-name", &self.service_name),
        ];
        let found = self
            .client
            .describe_vpc_endpoints(&filters, &[])
            .await
            .map_err(|e| Error::aws_on("ec2", "DescribeVpcEndpoints", &self.name, &e))?;
        let live: Vec<&VpcEndpoint> = found
            .iter()
            .filter(|e| {
                !matches!(
                    e.state.to_ascii_lowercase().as_str(),
                    "deleted" | "deleting"
                )
            })
            .collect();
        let named = |e: &&VpcEndpoint| e.tags.get("Name") == Some(&self.name);
        // Ours by its Name tag; otherwise the service's endpoint with private DNS in this VPC
        // (made by Terraform, say), which AWS allows only once: adopted, never duplicated.
        let live = live
            .iter()
            .copied()
            .find(named)
            .or_else(|| live.iter().copied().find(|e| e.private_dns_enabled));
        let Some(e) = live else {
            return Ok(Observation::Absent);
        };
        let tags: Tags = e.tags.clone();
        let spec = EndpointSpec {
            service_name: e.service_name.clone(),
            subnet_ids: e.subnet_ids.iter().cloned().collect(),
            security_group_ids: e.group_ids.iter().cloned().collect(),
            private_dns: e.private_dns_enabled,
            tags: tags.clone(),
        };
        let mut outputs = Outputs::new();
        outputs.insert(self.output.clone(), e.id.clone().into());
        Ok(Observed::builder()
            .spec(spec)
            .tags(tags)
            .outputs(outputs)
            .build()
            .present())
    }

    async fn create(&self, _cx: &Context, desired: &EndpointSpec, _inputs: &Inputs) -> Result<()> {
        // A client token makes the retries of a call whose answer was lost idempotent.
        let token = format!("{}-{}", self.key, ec2_query::client_token());
        let new = NewVpcEndpoint {
            client_token: Some(token),
            kind: "Interface",
            vpc_id: &self.vpc_id,
            service_name: &desired.service_name,
            subnet_ids: desired.subnet_ids.iter().cloned().collect(),
            security_group_ids: desired.security_group_ids.iter().cloned().collect(),
            private_dns_enabled: Some(desired.private_dns),
            tags: desired.tags.clone().into_iter().collect(),
            ..NewVpcEndpoint::default()
        };
        self.client
            .create_vpc_endpoint(&new)
            .await
            .map_err(|e| Error::aws_on("ec2", "CreateVpcEndpoint", &self.name, &e))?;
        Ok(())
    }

    async fn update(
        &self,
        _cx: &Context,
        desired: &EndpointSpec,
        observed: &Observed<EndpointSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let id = self.id_of(observed);
        let o = &observed.spec;
        let changed = |f: &str| changes.iter().any(|c| c.field() == f);
        if changed("subnet_ids") || changed("security_group_ids") || changed("private_dns") {
            let add_subnets: Vec<String> = desired
                .subnet_ids
                .difference(&o.subnet_ids)
                .cloned()
                .collect();
            let remove_subnets: Vec<String> = o
                .subnet_ids
                .difference(&desired.subnet_ids)
                .cloned()
                .collect();
            let add_sgs: Vec<String> = desired
                .security_group_ids
                .difference(&o.security_group_ids)
                .cloned()
                .collect();
            let remove_sgs: Vec<String> = o
                .security_group_ids
                .difference(&desired.security_group_ids)
                .cloned()
                .collect();
            let change = VpcEndpointChange {
                id: &id,
                add_subnet_ids: add_subnets,
                remove_subnet_ids: remove_subnets,
                add_security_group_ids: add_sgs,
                remove_security_group_ids: remove_sgs,
                private_dns_enabled: Some(desired.private_dns),
            };
            self.client
                .modify_vpc_endpoint(&change)
                .await
                .map_err(|e| Error::aws_on("ec2", "ModifyVpcEndpoint", &self.name, &e))?;
        }
        if changed("tags") {
            let stale = layer_core::tags::stale_keys(&observed.tags, &desired.tags);
            if !stale.is_empty() {
                self.client
                    .delete_tags(&id, &stale)
                    .await
                    .map_err(|e| Error::aws_on("ec2", "DeleteTags", &self.name, &e))?;
            }
            self.client
                .create_tags(&id, &desired.tags)
                .await
                .map_err(|e| Error::aws_on("ec2", "CreateTags", &self.name, &e))?;
        }
        Ok(())
    }

    async fn delete(&self, _cx: &Context, observed: &Observed<EndpointSpec>) -> Result<()> {
        let id = self.id_of(observed);
        let unsuccessful = self
            .client
            .delete_vpc_endpoints(&[&id])
            .await
            .map_err(|e| Error::aws_on("ec2", "DeleteVpcEndpoints", &self.name, &e))?;
        // Failures come back in `Unsuccessful`, with a success status.
        if let Some(u) = unsuccessful.first() {
            let or = |s: &str, default: &str| {
                if s.is_empty() {
                    default.to_string()
                } else {
                    s.to_string()
                }
            };
            return Err(Error::Aws {
                operation: format!("ec2:DeleteVpcEndpoints on {} ({id})", self.name),
                message: format!(
                    "{}: {}",
                    or(&u.code, "Unsuccessful"),
                    or(&u.message, "the endpoint was not deleted")
                ),
            });
        }
        Ok(())
    }
}
