//! A VPC security group whose rules are managed as sets: what we list is allowed, nothing else.
//! AWS adds an allow-all egress rule to every new group; it is revoked unless asked for.

use std::collections::BTreeSet;

use async_trait::async_trait;
use ec2_query::{Client, Filter, Permission, ProvideErrorMetadata as _, RuleChange};
use layer_core::access::{arn, Access, Need};
use layer_core::diff::Changes as _;
use layer_core::resource::{Context, Observation, Observed};
use layer_core::wait;
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

/// One rule: protocol (`tcp`, `-1` for all), port range, CIDR.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rule {
    /// `tcp`, `udp`, `icmp` or `-1`.
    pub protocol: String,
    /// First port.
    pub from_port: i32,
    /// Last port.
    pub to_port: i32,
    /// The CIDR it allows.
    pub cidr: String,
}

impl Rule {
    /// A TCP rule for one port.
    pub fn tcp(port: i32, cidr: &str) -> Self {
        Rule {
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            cidr: cidr.into(),
        }
    }
}

/// The group's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityGroupSpec {
    /// Inbound rules.
    pub ingress: BTreeSet<Rule>,
    /// Outbound rules.
    pub egress: BTreeSet<Rule>,
    /// Tags.
    pub tags: Tags,
}

layer_core::spec_fields!(SecurityGroupSpec { TAGS: tags });

/// A security group.
#[derive(Debug, Clone, TypedBuilder)]
pub struct SecurityGroup {
    client: Client,
    /// Address key, e.g. `aurora` for `aws_security_group.aurora`.
    #[builder(setter(into))]
    key: String,
    #[builder(setter(into))]
    name: String,
    #[builder(setter(into))]
    description: String,
    vpc_id: String,
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
}

fn rules(perms: &[Permission]) -> BTreeSet<Rule> {
    let mut out = BTreeSet::new();
    for p in perms {
        let protocol = if p.protocol.is_empty() {
            "-1"
        } else {
            &p.protocol
        };
        let (from, to) = if protocol == "-1" {
            (0, 0)
        } else {
            (p.from_port.unwrap_or(0), p.to_port.unwrap_or(0))
        };
        for cidr in &p.cidrs {
            out.insert(Rule {
                protocol: protocol.to_string(),
                from_port: from,
                to_port: to,
                cidr: cidr.clone(),
            });
        }
    }
    out
}

fn permission(r: &Rule) -> Permission {
    let ports = (r.protocol != "-1").then_some((r.from_port, r.to_port));
    Permission {
        protocol: r.protocol.clone(),
        from_port: ports.map(|p| p.0),
        to_port: ports.map(|p| p.1),
        cidrs: vec![r.cidr.clone()],
    }
}

impl SecurityGroup {
    /// A group that allows one TCP port from the VPC and sends only to the VPC.
    pub fn vpc_only(
        client: Client,
        key: &str,
        name: &str,
        description: &str,
        infra: &layer_core::config::Infrastructure,
        port: i32,
    ) -> Self {
        SecurityGroup::builder()
            .client(client)
            .key(key)
            .name(name)
            .description(description)
            .vpc_id(infra.vpc_id.clone())
            .ingress(vec![Rule::tcp(port, &infra.vpc_cidr)])
            .egress(vec![Rule {
                protocol: "-1".into(),
                from_port: 0,
                to_port: 0,
                cidr: infra.vpc_cidr.clone(),
            }])
            .build()
    }

    fn id_of(observed: &Observed<SecurityGroupSpec>) -> String {
        observed
            .outputs
            .get(crate::SECURITY_GROUP_ID)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    }

    async fn set_rules(
        &self,
        id: &str,
        ingress: bool,
        add: Vec<&Rule>,
        remove: Vec<&Rule>,
    ) -> Result<()> {
        // EC2 is eventually consistent: a group made a moment ago (by this run, or by a create
        // whose answer was lost) may be unknown to the next calls (`InvalidGroup.NotFound`). A
        // refused call changed nothing, so it is sent again.
        let what = format!("security group {}", self.name);
        let unseen = &["InvalidGroup.NotFound"];
        for (add, rules) in [(false, remove), (true, add)] {
            if rules.is_empty() {
                continue;
            }
            let perms: Vec<Permission> = rules.into_iter().map(permission).collect();
            wait::while_unseen(&what, unseen, wait::UNSEEN_LIMIT, || {
                self.change_rules(id, ingress, add, perms.clone())
            })
            .await?;
        }
        Ok(())
    }

    /// Add (or revoke) rules. EC2 refuses a whole call if one of its rules is there already (or
    /// gone already): so is the SDK's retry of a call whose first answer was lost, the change
    /// made. Then each rule goes on its own, and one already there (or gone) is done.
    async fn change_rules(
        &self,
        id: &str,
        ingress: bool,
        add: bool,
        perms: Vec<Permission>,
    ) -> Result<()> {
        let done = if add {
            "InvalidPermission.Duplicate"
        } else {
            "InvalidPermission.NotFound"
        };
        let several = perms.len() > 1;
        match self.send_rules(id, ingress, add, perms.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if !e.is_code(done) => return Err(e),
            Err(_) if !several => return Ok(()),
            Err(_) => {}
        }
        for p in perms {
            match self.send_rules(id, ingress, add, vec![p]).await {
                Err(e) if !e.is_code(done) => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// One Authorize or Revoke call.
    async fn send_rules(
        &self,
        id: &str,
        ingress: bool,
        add: bool,
        perms: Vec<Permission>,
    ) -> Result<()> {
        let change = RuleChange::of(ingress, add);
        self.client
            .change_rules(change, id, &perms)
            .await
            .map_err(|e| Error::aws_on("ec2", change.action(), &self.name, &e))
    }
}

#[async_trait]
impl Resource for SecurityGroup {
    type Spec = SecurityGroupSpec;

    fn address(&self) -> Address {
        Address::new(format!("aws_security_group.{}", self.key))
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        let groups = || {
            [
                arn("ec2", "security-group/*"),
                arn("ec2", "security-group-rule/*"),
            ]
        };
        vec![
            Access::unscoped(
                Need::Observe,
                "Ec2Read",
                &["ec2:DescribeSecurityGroups"],
                "EC2's Describe actions support no resource-level permissions",
            ),
            Access::new(
                Need::Change,
                "SecurityGroups",
                &["ec2:CreateSecurityGroup"],
                [
                    arn("ec2", "security-group/*"),
                    arn("ec2", &format!("vpc/{}", self.vpc_id)),
                ],
            ),
            Access::new(
                Need::Change,
                "SecurityGroupRules",
                &[
                    "ec2:CreateTags",
                    "ec2:DeleteTags",
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:AuthorizeSecurityGroupEgress",
                    "ec2:RevokeSecurityGroupIngress",
                    "ec2:RevokeSecurityGroupEgress",
                ],
                groups(),
            ),
            Access::new(
                Need::Delete,
                "SecurityGroupRules",
                &["ec2:DeleteSecurityGroup"],
                groups(),
            ),
        ]
    }

    fn desired(&self, cx: &Context, _inputs: &Inputs) -> Result<SecurityGroupSpec> {
        Ok(SecurityGroupSpec {
            ingress: self.ingress.iter().cloned().collect(),
            egress: self.egress.iter().cloned().collect(),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(
        &self,
        _cx: &Context,
        _inputs: &Inputs,
    ) -> Result<Observation<SecurityGroupSpec>> {
        let filters = [
            Filter::new("group-name", &self.name),
            Filter::new("vpc-id", &self.vpc_id),
        ];
        let found = self
            .client
            .describe_security_groups(&filters, &[])
            .await
            .map_err(|e| Error::aws_on("ec2", "DescribeSecurityGroups", &self.name, &e))?;
        let Some(g) = found.into_iter().next() else {
            return Ok(Observation::Absent);
        };
        let tags: Tags = g.tags.into_iter().collect();
        let spec = SecurityGroupSpec {
            ingress: rules(&g.ingress),
            egress: rules(&g.egress),
            tags: tags.clone(),
        };
        let mut outputs = Outputs::new();
        outputs.insert(crate::SECURITY_GROUP_ID.into(), g.id.into());
        Ok(Observed::builder()
            .spec(spec)
            .tags(tags)
            .outputs(outputs)
            .build()
            .present())
    }

    async fn create(
        &self,
        cx: &Context,
        desired: &SecurityGroupSpec,
        _inputs: &Inputs,
    ) -> Result<()> {
        let created = self
            .client
            .create_security_group(&self.name, &self.description, &self.vpc_id, &cx.tags)
            .await;
        let id = match created {
            Ok(id) => id,
            Err(e) => {
                return Err(Error::on_create(
                    "ec2:CreateSecurityGroup",
                    &self.name,
                    &e,
                    &["InvalidGroup.Duplicate"],
                ))
            }
        };
        // The new group has AWS's allow-all egress rule; converge both directions from there.
        let default_egress: BTreeSet<Rule> = [Rule {
            protocol: "-1".into(),
            from_port: 0,
            to_port: 0,
            cidr: "0.0.0.0/0".into(),
        }]
        .into();
        self.set_rules(&id, true, desired.ingress.iter().collect(), Vec::new())
            .await?;
        self.set_rules(
            &id,
            false,
            desired.egress.difference(&default_egress).collect(),
            default_egress.difference(&desired.egress).collect(),
        )
        .await
    }

    async fn update(
        &self,
        _cx: &Context,
        desired: &SecurityGroupSpec,
        observed: &Observed<SecurityGroupSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let id = Self::id_of(observed);
        let o = &observed.spec;
        self.set_rules(
            &id,
            true,
            desired.ingress.difference(&o.ingress).collect(),
            o.ingress.difference(&desired.ingress).collect(),
        )
        .await?;
        self.set_rules(
            &id,
            false,
            desired.egress.difference(&o.egress).collect(),
            o.egress.difference(&desired.egress).collect(),
        )
        .await?;
        if changes.touches(SecurityGroupSpec::TAGS) {
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

    async fn delete(&self, cx: &Context, observed: &Observed<SecurityGroupSpec>) -> Result<()> {
        let id = Self::id_of(observed);
        // Network interfaces of a just-deleted cluster hold on to the group for a while on AWS.
        layer_core::wait::until(
            cx,
            &format!("security group {} to be free", self.name),
            || async {
                match self.client.delete_security_group(&id).await {
                    Ok(_) => Ok(None),
                    Err(e) if e.code() == Some("InvalidGroup.NotFound") => Ok(None),
                    Err(e) if e.code() == Some("DependencyViolation") => {
                        Ok(Some("still in use".to_string()))
                    }
                    Err(e) => Err(Error::aws_on("ec2", "DeleteSecurityGroup", &self.name, &e)),
                }
            },
        )
        .await
    }
}
