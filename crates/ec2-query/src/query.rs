//! The request side of the EC2 Query protocol: a form body of `Action`, `Version` and flattened
//! parameters (`Prefix.N`, 1-based, nested with `.`), spelt as aws-sdk-ec2 spells them.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The API version every EC2 Query call names.
pub const VERSION: &str = "2016-11-15";

/// What a form value keeps unencoded: the URI's unreserved characters, as the SDK's encoder does.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A filter of a `Describe…` call: a name (`vpc-id`, `tag:Name`, …) and the values any of which
/// matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The filter's name.
    pub name: String,
    /// Its values.
    pub values: Vec<String>,
}

impl Filter {
    /// A filter on one value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Filter {
            name: name.into(),
            values: vec![value.into()],
        }
    }
}

/// One rule set of a security group: a protocol (`-1` for all), a port range (absent for `-1`)
/// and the CIDR ranges it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Permission {
    /// `tcp`, `udp`, `icmp` or `-1`.
    pub protocol: String,
    /// First port; EC2 leaves it out for `-1`.
    pub from_port: Option<i32>,
    /// Last port.
    pub to_port: Option<i32>,
    /// The IPv4 ranges.
    pub cidrs: Vec<String>,
}

/// A request: its action and its parameters, in the order they were added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    action: &'static str,
    params: Vec<(String, String)>,
}

impl Query {
    /// A request for one action (`DescribeVpcs`, …).
    pub fn new(action: &'static str) -> Self {
        Query {
            action,
            params: Vec::new(),
        }
    }

    /// The action's name.
    pub fn action(&self) -> &'static str {
        self.action
    }

    /// One parameter.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((key.into(), value.into()));
        self
    }

    /// One parameter, if there is a value.
    pub fn maybe(self, key: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.param(key, v),
            None => self,
        }
    }

    /// A list, `prefix.1`, `prefix.2`, …; nothing when it is empty, as the SDK sends it.
    pub fn list<S: AsRef<str>>(
        mut self,
        prefix: &str,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        for (i, v) in values.into_iter().enumerate() {
            self = self.param(format!("{prefix}.{}", i + 1), v.as_ref());
        }
        self
    }

    /// `Filter.N.Name` and `Filter.N.Value.M`.
    pub fn filters(mut self, filters: &[Filter]) -> Self {
        for (i, f) in filters.iter().enumerate() {
            let n = i + 1;
            self = self
                .param(format!("Filter.{n}.Name"), &f.name)
                .list(&format!("Filter.{n}.Value"), &f.values);
        }
        self
    }

    /// `{prefix}.N.Key` and, where there is one, `{prefix}.N.Value`.
    fn tag_list<K, V>(
        mut self,
        prefix: &str,
        tags: impl IntoIterator<Item = (K, Option<V>)>,
    ) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (i, (k, v)) in tags.into_iter().enumerate() {
            let n = i + 1;
            self = self.param(format!("{prefix}.{n}.Key"), k.as_ref()).maybe(
                &format!("{prefix}.{n}.Value"),
                v.as_ref().map(|v| v.as_ref()),
            );
        }
        self
    }

    /// `Tag.N.Key` and `Tag.N.Value` (CreateTags).
    pub fn tags<K: AsRef<str>, V: AsRef<str>>(
        self,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.tag_list("Tag", tags.into_iter().map(|(k, v)| (k, Some(v))))
    }

    /// `Tag.N.Key` alone: the keys DeleteTags removes whatever their value.
    pub fn tag_keys<K: AsRef<str>>(self, keys: impl IntoIterator<Item = K>) -> Self {
        self.tag_list("Tag", keys.into_iter().map(|k| (k, None::<&str>)))
    }

    /// The tags a create call puts on what it makes: `TagSpecification.1.ResourceType` and
    /// `TagSpecification.1.Tag.N.*`; no specification at all without tags.
    pub fn tag_specification<K: AsRef<str>, V: AsRef<str>>(
        self,
        resource_type: &str,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let tags: Vec<(K, Option<V>)> = tags.into_iter().map(|(k, v)| (k, Some(v))).collect();
        if tags.is_empty() {
            return self;
        }
        self.param("TagSpecification.1.ResourceType", resource_type)
            .tag_list("TagSpecification.1.Tag", tags)
    }

    /// `IpPermissions.N.*`, ports only where the protocol is not `-1`.
    pub fn permissions(mut self, perms: &[Permission]) -> Self {
        for (i, p) in perms.iter().enumerate() {
            let pre = format!("IpPermissions.{}", i + 1);
            self = self
                .param(format!("{pre}.IpProtocol"), &p.protocol)
                .maybe(
                    &format!("{pre}.FromPort"),
                    p.from_port.map(|v| v.to_string()),
                )
                .maybe(&format!("{pre}.ToPort"), p.to_port.map(|v| v.to_string()));
            for (j, cidr) in p.cidrs.iter().enumerate() {
                self = self.param(format!("{pre}.IpRanges.{}.CidrIp", j + 1), cidr);
            }
        }
        self
    }

    /// The parameters, in order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The form body.
    pub fn body(&self) -> String {
        let mut out = format!("Action={}&Version={VERSION}", self.action);
        for (k, v) in &self.params {
            out.push('&');
            out.extend(utf8_percent_encode(k, VALUE));
            out.push('=');
            out.extend(utf8_percent_encode(v, VALUE));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn lists_are_flattened_from_one_and_empty_lists_are_left_out() {
        let q = Query::new("DescribeVpcEndpoints")
            .filters(&[
                Filter::new("vpc-id", "vpc-1"),
                Filter {
                    name: "tag:Name".into(),
                    values: vec!["a b".into(), "c&d=e".into()],
                },
            ])
            .list("VpcEndpointId", Vec::<String>::new());
        expect!["Action=DescribeVpcEndpoints&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1&Filter.2.Name=tag%3AName&Filter.2.Value.1=a%20b&Filter.2.Value.2=c%26d%3De"]
            .assert_eq(&q.body());
    }

    #[test]
    fn permissions_send_ports_only_for_a_protocol_with_ports() {
        let q = Query::new("AuthorizeSecurityGroupEgress")
            .param("GroupId", "sg-1")
            .permissions(&[
                Permission {
                    protocol: "tcp".into(),
                    from_port: Some(5432),
                    to_port: Some(5432),
                    cidrs: vec!["10.0.0.0/16".into()],
                },
                Permission {
                    protocol: "-1".into(),
                    cidrs: vec!["0.0.0.0/0".into(), "10.1.0.0/16".into()],
                    ..Permission::default()
                },
            ]);
        expect!["Action=AuthorizeSecurityGroupEgress&Version=2016-11-15&GroupId=sg-1&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=5432&IpPermissions.1.ToPort=5432&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F16&IpPermissions.2.IpProtocol=-1&IpPermissions.2.IpRanges.1.CidrIp=0.0.0.0%2F0&IpPermissions.2.IpRanges.2.CidrIp=10.1.0.0%2F16"]
            .assert_eq(&q.body());
    }

    #[test]
    fn tags_on_create_and_on_delete_are_spelt_as_the_sdk_spells_them() {
        let create = Query::new("CreateSecurityGroup")
            .param("GroupName", "g")
            .param("GroupDescription", "d")
            .tag_specification("security-group", [("Layer", "data"), ("Name", "g")]);
        expect!["Action=CreateSecurityGroup&Version=2016-11-15&GroupName=g&GroupDescription=d&TagSpecification.1.ResourceType=security-group&TagSpecification.1.Tag.1.Key=Layer&TagSpecification.1.Tag.1.Value=data&TagSpecification.1.Tag.2.Key=Name&TagSpecification.1.Tag.2.Value=g"]
            .assert_eq(&create.body());
        let untagged = Query::new("CreateVpc")
            .param("CidrBlock", "10.0.0.0/16")
            .tag_specification("vpc", Vec::<(&str, &str)>::new());
        expect!["Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16"]
            .assert_eq(&untagged.body());
        let delete = Query::new("DeleteTags")
            .list("ResourceId", ["sg-1"])
            .tag_keys(["Old"]);
        expect!["Action=DeleteTags&Version=2016-11-15&ResourceId.1=sg-1&Tag.1.Key=Old"]
            .assert_eq(&delete.body());
        let put = Query::new("CreateTags")
            .list("ResourceId", ["sg-1"])
            .tags([("Owner", "team ä")]);
        expect!["Action=CreateTags&Version=2016-11-15&ResourceId.1=sg-1&Tag.1.Key=Owner&Tag.1.Value=team%20%C3%A4"]
            .assert_eq(&put.body());
    }
}
