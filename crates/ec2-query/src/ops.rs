//! The EC2 operations the layer calls, typed: each builds its request with the SDK's parameter
//! names and reads the fields the callers use from the answer.

use std::collections::BTreeMap;

use crate::client::{Client, Ec2Error};
use crate::query::{Filter, Permission, Query};
use crate::xml::Node;

/// Tags as EC2 returns them.
pub type TagMap = BTreeMap<String, String>;

/// A security group as `DescribeSecurityGroups` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its ARN, where EC2 gives one.
    pub arn: Option<String>,
    /// Its VPC.
    pub vpc_id: Option<String>,
    /// Its tags.
    pub tags: TagMap,
    /// Inbound rules.
    pub ingress: Vec<Permission>,
    /// Outbound rules.
    pub egress: Vec<Permission>,
}

/// A VPC endpoint as `DescribeVpcEndpoints` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VpcEndpoint {
    /// `vpce-…`.
    pub id: String,
    /// `available`, `pending`, `deleting`, `deleted`, … as sent (lower case on AWS).
    pub state: String,
    /// `com.amazonaws.{region}.{service}`.
    pub service_name: String,
    /// `Interface` or `Gateway`.
    pub kind: String,
    /// Its subnets (interface endpoints).
    pub subnet_ids: Vec<String>,
    /// Its security groups (interface endpoints).
    pub group_ids: Vec<String>,
    /// Its route tables (gateway endpoints).
    pub route_table_ids: Vec<String>,
    /// Private DNS on.
    pub private_dns_enabled: bool,
    /// Its tags.
    pub tags: TagMap,
}

/// A VPC or a subnet: its id, CIDR block and tags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    /// `vpc-…` or `subnet-…`.
    pub id: String,
    /// Its CIDR block.
    pub cidr_block: String,
    /// Its tags.
    pub tags: TagMap,
}

/// One tag of one resource, as `DescribeTags` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDescription {
    /// The tagged resource.
    pub resource_id: String,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// What a create of a VPC endpoint sends.
#[derive(Debug, Clone, Default)]
pub struct NewVpcEndpoint<'a> {
    /// Makes a retried create idempotent; EC2 answers a second create with the same token with
    /// the first endpoint.
    pub client_token: Option<String>,
    /// `Interface` or `Gateway`.
    pub kind: &'a str,
    /// Its VPC.
    pub vpc_id: &'a str,
    /// Its service.
    pub service_name: &'a str,
    /// Subnets (interface).
    pub subnet_ids: Vec<String>,
    /// Security groups (interface).
    pub security_group_ids: Vec<String>,
    /// Route tables (gateway).
    pub route_table_ids: Vec<String>,
    /// Private DNS (interface); not sent when `None`.
    pub private_dns_enabled: Option<bool>,
    /// Tags on creation.
    pub tags: Vec<(String, String)>,
}

/// What a modify of a VPC endpoint sends; empty lists are left out.
#[derive(Debug, Clone, Default)]
pub struct VpcEndpointChange<'a> {
    /// The endpoint.
    pub id: &'a str,
    /// Subnets to add.
    pub add_subnet_ids: Vec<String>,
    /// Subnets to remove.
    pub remove_subnet_ids: Vec<String>,
    /// Groups to add.
    pub add_security_group_ids: Vec<String>,
    /// Groups to remove.
    pub remove_security_group_ids: Vec<String>,
    /// Private DNS; not sent when `None`.
    pub private_dns_enabled: Option<bool>,
}

/// An item `DeleteVpcEndpoints` could not delete (the call itself succeeds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsuccessful {
    /// The endpoint.
    pub resource_id: String,
    /// EC2's code.
    pub code: String,
    /// EC2's message.
    pub message: String,
}

/// The four calls that change a group's rules; they take the same input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleChange {
    /// `AuthorizeSecurityGroupIngress`.
    AuthorizeIngress,
    /// `AuthorizeSecurityGroupEgress`.
    AuthorizeEgress,
    /// `RevokeSecurityGroupIngress`.
    RevokeIngress,
    /// `RevokeSecurityGroupEgress`.
    RevokeEgress,
}

impl RuleChange {
    /// The change for a direction, adding or revoking.
    pub fn of(ingress: bool, add: bool) -> Self {
        match (ingress, add) {
            (true, true) => RuleChange::AuthorizeIngress,
            (false, true) => RuleChange::AuthorizeEgress,
            (true, false) => RuleChange::RevokeIngress,
            (false, false) => RuleChange::RevokeEgress,
        }
    }

    /// The API action.
    pub fn action(self) -> &'static str {
        match self {
            RuleChange::AuthorizeIngress => "AuthorizeSecurityGroupIngress",
            RuleChange::AuthorizeEgress => "AuthorizeSecurityGroupEgress",
            RuleChange::RevokeIngress => "RevokeSecurityGroupIngress",
            RuleChange::RevokeEgress => "RevokeSecurityGroupEgress",
        }
    }
}

/// A client token no other call of this process (or another) sends: the time in nanoseconds,
/// the process and a counter. Built once per call, so the runtime's retries of it send the same.
pub fn client_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    format!("{nanos}-{}-{n}", std::process::id())
}

fn text(n: &Node, name: &str) -> String {
    n.text_of(name).unwrap_or_default().to_string()
}

/// The text at a path (`vpc/vpcId` of a create's answer), empty when it is absent.
fn text_at(n: &Node, path: &[&str]) -> String {
    n.at(path).map(|n| n.text.clone()).unwrap_or_default()
}

fn texts(n: &Node, list: &str, field: Option<&str>) -> Vec<String> {
    n.items(list)
        .map(|i| match field {
            Some(f) => text(i, f),
            None => i.text.clone(),
        })
        .collect()
}

fn permissions(n: &Node, list: &str) -> Vec<Permission> {
    n.items(list)
        .map(|p| Permission {
            protocol: text(p, "ipProtocol"),
            from_port: p.int_of("fromPort"),
            to_port: p.int_of("toPort"),
            cidrs: texts(p, "ipRanges", Some("cidrIp")),
        })
        .collect()
}

/// Read the groups of a `DescribeSecurityGroups` answer.
pub fn security_groups(answer: &Node) -> Vec<SecurityGroup> {
    answer
        .items("securityGroupInfo")
        .map(|g| SecurityGroup {
            id: text(g, "groupId"),
            name: text(g, "groupName"),
            arn: g.text_of("securityGroupArn").map(str::to_string),
            vpc_id: g.text_of("vpcId").map(str::to_string),
            tags: g.tags(),
            ingress: permissions(g, "ipPermissions"),
            egress: permissions(g, "ipPermissionsEgress"),
        })
        .collect()
}

/// Read the endpoints of a `DescribeVpcEndpoints` answer.
pub fn vpc_endpoints(answer: &Node) -> Vec<VpcEndpoint> {
    answer
        .items("vpcEndpointSet")
        .map(|e| VpcEndpoint {
            id: text(e, "vpcEndpointId"),
            state: text(e, "state"),
            service_name: text(e, "serviceName"),
            kind: text(e, "vpcEndpointType"),
            subnet_ids: texts(e, "subnetIdSet", None),
            group_ids: texts(e, "groupSet", Some("groupId")),
            route_table_ids: texts(e, "routeTableIdSet", None),
            private_dns_enabled: e.bool_of("privateDnsEnabled").unwrap_or(false),
            tags: e.tags(),
        })
        .collect()
}

fn networks(answer: &Node, list: &str, id: &str) -> Vec<Network> {
    answer
        .items(list)
        .map(|n| Network {
            id: text(n, id),
            cidr_block: text(n, "cidrBlock"),
            tags: n.tags(),
        })
        .collect()
}

impl Client {
    /// `DescribeSecurityGroups`, by filters and ids (either may be empty).
    pub async fn describe_security_groups(
        &self,
        filters: &[Filter],
        ids: &[&str],
    ) -> Result<Vec<SecurityGroup>, Ec2Error> {
        let q = Query::new("DescribeSecurityGroups")
            .filters(filters)
            .list("GroupId", ids);
        Ok(security_groups(&self.call(q).await?))
    }

    /// `CreateSecurityGroup`; the new group's id.
    pub async fn create_security_group<K: AsRef<str>, V: AsRef<str>>(
        &self,
        name: &str,
        description: &str,
        vpc_id: &str,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Result<String, Ec2Error> {
        let q = Query::new("CreateSecurityGroup")
            .param("GroupName", name)
            .param("GroupDescription", description)
            .param("VpcId", vpc_id)
            .tag_specification("security-group", tags);
        Ok(text(&self.call(q).await?, "groupId"))
    }

    /// Authorize or revoke rules of a group.
    pub async fn change_rules(
        &self,
        change: RuleChange,
        group_id: &str,
        perms: &[Permission],
    ) -> Result<(), Ec2Error> {
        let q = Query::new(change.action())
            .param("GroupId", group_id)
            .permissions(perms);
        self.call(q).await.map(drop)
    }

    /// `DeleteSecurityGroup`.
    pub async fn delete_security_group(&self, group_id: &str) -> Result<(), Ec2Error> {
        let q = Query::new("DeleteSecurityGroup").param("GroupId", group_id);
        self.call(q).await.map(drop)
    }

    /// `CreateTags` on one resource (a tag there already takes the new value).
    pub async fn create_tags<K: AsRef<str>, V: AsRef<str>>(
        &self,
        resource_id: &str,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), Ec2Error> {
        let q = Query::new("CreateTags")
            .list("ResourceId", [resource_id])
            .tags(tags);
        self.call(q).await.map(drop)
    }

    /// `DeleteTags` of these keys, whatever their values, on one resource.
    pub async fn delete_tags<K: AsRef<str>>(
        &self,
        resource_id: &str,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<(), Ec2Error> {
        let q = Query::new("DeleteTags")
            .list("ResourceId", [resource_id])
            .tag_keys(keys);
        self.call(q).await.map(drop)
    }

    /// `DescribeTags` by filters (`resource-id`, …).
    pub async fn describe_tags(&self, filters: &[Filter]) -> Result<Vec<TagDescription>, Ec2Error> {
        let answer = self
            .call(Query::new("DescribeTags").filters(filters))
            .await?;
        Ok(answer
            .items("tagSet")
            .map(|t| TagDescription {
                resource_id: text(t, "resourceId"),
                key: text(t, "key"),
                value: text(t, "value"),
            })
            .collect())
    }

    /// `DescribeVpcEndpoints`, by filters and ids (either may be empty).
    pub async fn describe_vpc_endpoints(
        &self,
        filters: &[Filter],
        ids: &[&str],
    ) -> Result<Vec<VpcEndpoint>, Ec2Error> {
        let q = Query::new("DescribeVpcEndpoints")
            .filters(filters)
            .list("VpcEndpointId", ids);
        Ok(vpc_endpoints(&self.call(q).await?))
    }

    /// `CreateVpcEndpoint`; the new endpoint's id.
    pub async fn create_vpc_endpoint(&self, new: &NewVpcEndpoint<'_>) -> Result<String, Ec2Error> {
        let q = Query::new("CreateVpcEndpoint")
            .maybe("ClientToken", new.client_token.as_deref())
            .maybe("VpcEndpointType", Some(new.kind).filter(|k| !k.is_empty()))
            .param("VpcId", new.vpc_id)
            .param("ServiceName", new.service_name)
            .list("SubnetId", &new.subnet_ids)
            .list("SecurityGroupId", &new.security_group_ids)
            .list("RouteTableId", &new.route_table_ids)
            .maybe(
                "PrivateDnsEnabled",
                new.private_dns_enabled.map(|b| b.to_string()),
            )
            .tag_specification("vpc-endpoint", new.tags.iter().map(|(k, v)| (k, v)));
        Ok(text_at(
            &self.call(q).await?,
            &["vpcEndpoint", "vpcEndpointId"],
        ))
    }

    /// `ModifyVpcEndpoint`.
    pub async fn modify_vpc_endpoint(
        &self,
        change: &VpcEndpointChange<'_>,
    ) -> Result<(), Ec2Error> {
        let q = Query::new("ModifyVpcEndpoint")
            .param("VpcEndpointId", change.id)
            .list("AddSubnetId", &change.add_subnet_ids)
            .list("RemoveSubnetId", &change.remove_subnet_ids)
            .list("AddSecurityGroupId", &change.add_security_group_ids)
            .list("RemoveSecurityGroupId", &change.remove_security_group_ids)
            .maybe(
                "PrivateDnsEnabled",
                change.private_dns_enabled.map(|b| b.to_string()),
            );
        self.call(q).await.map(drop)
    }

    /// `DeleteVpcEndpoints`; what it could not delete.
    pub async fn delete_vpc_endpoints(&self, ids: &[&str]) -> Result<Vec<Unsuccessful>, Ec2Error> {
        let q = Query::new("DeleteVpcEndpoints").list("VpcEndpointId", ids);
        let answer = self.call(q).await?;
        Ok(answer
            .items("unsuccessful")
            .map(|u| Unsuccessful {
                resource_id: text(u, "resourceId"),
                code: text_at(u, &["error", "code"]),
                message: text_at(u, &["error", "message"]),
            })
            .collect())
    }

    /// `DescribeVpcs` by filters.
    pub async fn describe_vpcs(&self, filters: &[Filter]) -> Result<Vec<Network>, Ec2Error> {
        let answer = self
            .call(Query::new("DescribeVpcs").filters(filters))
            .await?;
        Ok(networks(&answer, "vpcSet", "vpcId"))
    }

    /// `DescribeSubnets` by filters.
    pub async fn describe_subnets(&self, filters: &[Filter]) -> Result<Vec<Network>, Ec2Error> {
        let answer = self
            .call(Query::new("DescribeSubnets").filters(filters))
            .await?;
        Ok(networks(&answer, "subnetSet", "subnetId"))
    }

    /// `CreateVpc`; the new VPC's id.
    pub async fn create_vpc<K: AsRef<str>, V: AsRef<str>>(
        &self,
        cidr_block: &str,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Result<String, Ec2Error> {
        let q = Query::new("CreateVpc")
            .param("CidrBlock", cidr_block)
            .tag_specification("vpc", tags);
        Ok(text_at(&self.call(q).await?, &["vpc", "vpcId"]))
    }

    /// `CreateSubnet`; the new subnet's id.
    pub async fn create_subnet<K: AsRef<str>, V: AsRef<str>>(
        &self,
        vpc_id: &str,
        cidr_block: &str,
        zone: &str,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Result<String, Ec2Error> {
        let q = Query::new("CreateSubnet")
            .param("VpcId", vpc_id)
            .param("CidrBlock", cidr_block)
            .param("AvailabilityZone", zone)
            .tag_specification("subnet", tags);
        Ok(text_at(&self.call(q).await?, &["subnet", "subnetId"]))
    }

    /// `CreateRouteTable`, with a client token of its own as the SDK fills in (one per call, the
    /// same on its retries); the new table's id.
    pub async fn create_route_table<K: AsRef<str>, V: AsRef<str>>(
        &self,
        vpc_id: &str,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Result<String, Ec2Error> {
        let q = Query::new("CreateRouteTable")
            .param("VpcId", vpc_id)
            .param("ClientToken", client_token())
            .tag_specification("route-table", tags);
        Ok(text_at(
            &self.call(q).await?,
            &["routeTable", "routeTableId"],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_read_with_its_lists_and_a_missing_flag_is_false() {
        let doc = r#"<DescribeVpcEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r</requestId>
  <vpcEndpointSet>
    <item>
      <vpcEndpointId>vpce-1</vpcEndpointId><vpcEndpointType>Interface</vpcEndpointType>
      <serviceName>com.amazonaws.eu-central-2.rds</serviceName><state>available</state>
      <subnetIdSet><item>subnet-a</item><item>subnet-b</item></subnetIdSet>
      <groupSet><item><groupId>sg-1</groupId><groupName>x</groupName></item></groupSet>
      <privateDnsEnabled>true</privateDnsEnabled>
      <tagSet><item><key>Name</key><value>test-rds</value></item></tagSet>
    </item>
    <item><vpcEndpointId>vpce-2</vpcEndpointId><state>deleted</state>
      <routeTableIdSet><item>rtb-1</item></routeTableIdSet></item>
  </vpcEndpointSet>
</DescribeVpcEndpointsResponse>"#;
        let found = vpc_endpoints(&Node::parse(doc).unwrap());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].subnet_ids, ["subnet-a", "subnet-b"]);
        assert_eq!(found[0].group_ids, ["sg-1"]);
        assert!(found[0].private_dns_enabled);
        assert_eq!(found[0].tags["Name"], "test-rds");
        assert_eq!(found[1].state, "deleted");
        assert_eq!(found[1].route_table_ids, ["rtb-1"]);
        assert!(!found[1].private_dns_enabled);
        assert!(found[1].tags.is_empty());
    }

    #[test]
    fn a_group_s_rules_keep_their_directions_and_ranges() {
        let doc = "<DescribeSecurityGroupsResponse><securityGroupInfo><item>\
            <groupId>sg-1</groupId><groupName>g</groupName><vpcId>vpc-1</vpcId>\
            <ipPermissions><item><ipProtocol>tcp</ipProtocol><fromPort>6380</fromPort><toPort>6380</toPort>\
            <ipRanges><item><cidrIp>10.0.0.0/16</cidrIp></item><item><cidrIp>10.1.0.0/16</cidrIp></item></ipRanges></item></ipPermissions>\
            <ipPermissionsEgress><item><ipProtocol>-1</ipProtocol><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item></ipPermissionsEgress>\
            <tagSet><item><key>Layer</key><value>data</value></item></tagSet>\
            </item></securityGroupInfo></DescribeSecurityGroupsResponse>";
        let g = &security_groups(&Node::parse(doc).unwrap())[0];
        assert_eq!((g.id.as_str(), g.name.as_str()), ("sg-1", "g"));
        assert_eq!(g.vpc_id.as_deref(), Some("vpc-1"));
        assert_eq!(g.ingress[0].cidrs, ["10.0.0.0/16", "10.1.0.0/16"]);
        assert_eq!(g.ingress[0].from_port, Some(6380));
        assert_eq!(g.egress[0].protocol, "-1");
        assert_eq!(g.egress[0].from_port, None);
        assert_eq!(g.tags.len(), 1, "the rules' items are not taken for tags");
    }
}
