//! IAM enforcement, as AWS does it and the emulator does not: when switched on
//! (`POST /_gateway/iam {"enforce": true}`), every request signed with the keys of an IAM user or
//! of an assumed role is checked against that principal's policies (inline and attached, read from
//! the emulator's IAM) for each action it needs on each resource it names, before it runs. The
//! emulator's own enforcement (`/moto-api/reset-auth`) checks actions against `"*"` only, so a
//! policy scoped to resource ARNs would be refused everything there.
//!
//! A request needs its own action on the resources it names, and sometimes more, as on AWS: a
//! `CreateSecurityGroup` with tags needs `ec2:CreateTags`, a role handed to a service needs
//! `iam:PassRole`, an encrypted cluster needs `kms:CreateGrant` on its key. Requests signed with
//! keys the emulator does not know belong to the account's root and are not checked. Policy
//! conditions are not evaluated: a statement with a `Condition` never allows, and denies as if it
//! had none. A user's groups' policies are not read; a KMS alias is checked as the alias's ARN,
//! not its key's; presigned S3 requests are not checked. The first cluster, replication group or
//! Grafana workspace of the account needs `iam:CreateServiceLinkedRole` for the service's role,
//! which the gateway then makes, as AWS does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::iam::bucket_policies::{strings, wildcard};

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Principal {
    /// An IAM user.
    User(String),
    /// An assumed role.
    Role(String),
}

/// One refused request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// The principal's ARN.
    pub principal: String,
    /// The action it lacked.
    pub action: String,
    /// On which resource.
    pub resource: String,
}

/// One action a request needs on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Needed {
    pub action: String,
    pub resource: String,
}

/// Who a key belongs to: the principal, its ARN and its account; `None` for the root.
pub(crate) type Identity = Option<(Principal, String, String)>;

/// The state of enforcement.
#[derive(Debug, Default)]
pub struct Authz {
    enforce: AtomicBool,
    /// Access key -> (principal, its ARN, account); `None` for root.
    pub(crate) principals: Mutex<HashMap<String, Identity>>,
    /// Access key -> the caller's ARN, for the call log.
    pub(crate) arns: Mutex<HashMap<String, String>>,
    /// Policy documents per principal, forgotten on every IAM change.
    pub(crate) policies: Mutex<HashMap<Principal, Vec<serde_json::Value>>>,
    denials: Mutex<Vec<Denial>>,
}

impl Authz {
    /// Switch enforcement on or off.
    pub fn set(&self, on: bool) {
        self.enforce.store(on, Ordering::SeqCst);
    }

    /// Whether it is on.
    pub fn enforcing(&self) -> bool {
        self.enforce.load(Ordering::SeqCst)
    }

    /// Every refusal so far.
    pub fn denials(&self) -> Vec<Denial> {
        self.denials.lock().expect("not poisoned").clone()
    }

    pub(crate) fn deny(&self, d: Denial) {
        self.denials.lock().expect("not poisoned").push(d);
    }

    /// Forget cached policies (an IAM call may have changed them).
    pub(crate) fn forget_policies(&self) {
        self.policies.lock().expect("not poisoned").clear();
    }
}

/// A request, as far as authorization goes.
pub(crate) struct Req<'a> {
    pub service: &'a str,
    pub op: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// Query-protocol parameters.
    pub form: &'a [(String, String)],
    /// A JSON body.
    pub json: Option<&'a serde_json::Value>,
    /// The path, as sent (percent-encoded).
    pub path: &'a str,
    /// The query string.
    pub query: &'a str,
}

impl Req<'_> {
    /// The path's segments, each percent-decoded (an ARN in a path keeps its slashes).
    fn segments(&self) -> Vec<String> {
        self.path
            .trim_matches('/')
            .split('/')
            .map(crate::emulated::percent_decode)
            .collect()
    }

    fn arn(&self, service: &str, rest: &str) -> String {
        format!("arn:aws:{service}:{}:{}:{rest}", self.region, self.account)
    }

    fn param(&self, k: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a list parameter (`SubnetId.1`, `SubnetId.2`, …).
    fn params(&self, prefix: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(n, _)| {
                n.strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix('.'))
                    .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit() || c == '.'))
            })
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.form.iter().any(|(n, _)| n.starts_with(prefix))
    }

    fn json_str(&self, path: &[&str]) -> Option<&str> {
        let mut v = self.json?;
        for p in path {
            v = v.get(p)?;
        }
        v.as_str()
    }

    fn json_has(&self, k: &str) -> bool {
        self.json
            .and_then(|v| v.get(k))
            .is_some_and(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
    }

    /// The request's own action on `resource`.
    fn own(&self, resource: impl Into<String>) -> Needed {
        need(format!("{}:{}", self.service, self.op), resource)
    }

    fn key_arn(&self, id: &str) -> String {
        if id.starts_with("arn:") {
            id.to_string()
        } else if id.starts_with("alias/") {
            self.arn("kms", id)
        } else {
            self.arn("kms", &format!("key/{id}"))
        }
    }
}

fn need(action: impl Into<String>, resource: impl Into<String>) -> Needed {
    Needed {
        action: action.into(),
        resource: resource.into(),
    }
}

/// What a request needs: its own action on every resource it names, then what AWS also checks.
pub(crate) fn requirements(r: &Req) -> Vec<Needed> {
    let mut out = Vec::new();
    match r.service {
        "sts" => sts(r, &mut out),
        "rds" => rds(r, &mut out),
        "elasticache" => elasticache(r, &mut out),
        "ec2" => ec2(r, &mut out),
        "logs" => logs(r, &mut out),
        "kms" => kms(r, &mut out),
        "secretsmanager" => secretsmanager(r, &mut out),
        "iam" => iam(r, &mut out),
        "s3" => s3(r, &mut out),
        "bedrock" => bedrock(r, &mut out),
        "aps" => aps(r, &mut out),
        "grafana" => grafana(r, &mut out),
        _ => out.push(r.own("*")),
    }
    out
}

/// What sts's calls need.
fn sts(r: &Req, out: &mut Vec<Needed>) {
    if r.op == "AssumeRole" {
        out.push(r.own(r.param("RoleArn").unwrap_or("*").to_string()));
    }
    // GetCallerIdentity needs no permission.
}

/// What rds's calls need.
fn rds(r: &Req, out: &mut Vec<Needed>) {
    let mut named = Vec::new();
    if let Some(id) = r.param("DBClusterIdentifier") {
        named.push(r.arn("rds", &format!("cluster:{id}")));
    }
    if let Some(id) = r.param("DBInstanceIdentifier") {
        named.push(r.arn("rds", &format!("db:{id}")));
    }
    if let Some(n) = r.param("DBSubnetGroupName") {
        named.push(r.arn("rds", &format!("subgrp:{n}")));
    }
    if let Some(n) = r.param("DBClusterParameterGroupName") {
        named.push(r.arn("rds", &format!("cluster-pg:{n}")));
    }
    if let Some(arn) = r.param("ResourceName") {
        named.push(arn.to_string());
    }
    if named.is_empty() {
        named.push(match r.op {
            "DescribeDBInstances" => r.arn("rds", "db:*"),
            "DescribeDBClusters" => r.arn("rds", "cluster:*"),
            _ => "*".to_string(),
        });
    }
    // An instance joining a cluster is authorized on the instance and the cluster; the
    // cluster's id is also given to find instances by, which names no resource.
    out.extend(named.into_iter().map(|n| r.own(n)));
    // Tags given at creation are added as the caller, on what is created.
    let created = match r.op {
        "CreateDBCluster" => r
            .param("DBClusterIdentifier")
            .map(|i| format!("cluster:{i}")),
        "CreateDBInstance" => r.param("DBInstanceIdentifier").map(|i| format!("db:{i}")),
        "CreateDBSubnetGroup" => r.param("DBSubnetGroupName").map(|n| format!("subgrp:{n}")),
        "CreateDBClusterParameterGroup" => r
            .param("DBClusterParameterGroupName")
            .map(|n| format!("cluster-pg:{n}")),
        _ => None,
    };
    if let Some(c) = created.filter(|_| r.has_prefix("Tags.")) {
        out.push(need("rds:AddTagsToResource", r.arn("rds", &c)));
    }
    if r.op == "CreateDBCluster" {
        if let Some(k) = r.param("KmsKeyId") {
            out.push(need("kms:CreateGrant", r.key_arn(k)));
            out.push(need("kms:DescribeKey", r.key_arn(k)));
        }
        if r.param("ManageMasterUserPassword") == Some("true") {
            let secret = r.arn(
                "secretsmanager",
                "secret:rds!cluster-00000000-0000-0000-0000-000000000000-AbCdEf",
            );
            out.push(need("secretsmanager:CreateSecret", secret.clone()));
            out.push(need("secretsmanager:TagResource", secret));
            if let Some(k) = r.param("MasterUserSecretKmsKeyId") {
                out.push(need("kms:GenerateDataKey", r.key_arn(k)));
            }
        }
    }
    if r.op == "DeleteDBCluster" {
        if let Some(s) = r.param("FinalDBSnapshotIdentifier") {
            out.push(need(
                "rds:CreateDBClusterSnapshot",
                r.arn("rds", &format!("cluster-snapshot:{s}")),
            ));
        }
    }
}

/// What elasticache's calls need.
fn elasticache(r: &Req, out: &mut Vec<Needed>) {
    let mut named = Vec::new();
    if let Some(id) = r.param("ReplicationGroupId") {
        named.push(r.arn("elasticache", &format!("replicationgroup:{id}")));
    }
    if let Some(id) = r.param("CacheClusterId") {
        named.push(r.arn("elasticache", &format!("cluster:{id}")));
    }
    if let Some(n) = r.param("CacheSubnetGroupName") {
        named.push(r.arn("elasticache", &format!("subnetgroup:{n}")));
    }
    if let Some(n) = r.param("CacheParameterGroupName") {
        named.push(r.arn("elasticache", &format!("parametergroup:{n}")));
    }
    if let Some(arn) = r.param("ResourceName") {
        named.push(arn.to_string());
    }
    if named.is_empty() {
        named.push(match r.op {
            "DescribeReplicationGroups" => r.arn("elasticache", "replicationgroup:*"),
            "DescribeCacheClusters" => r.arn("elasticache", "cluster:*"),
            "DescribeCacheSubnetGroups" => r.arn("elasticache", "subnetgroup:*"),
            "DescribeCacheParameterGroups" => r.arn("elasticache", "parametergroup:*"),
            _ => "*".to_string(),
        });
    }
    out.extend(named.into_iter().map(|n| r.own(n)));
    if r.op == "CreateReplicationGroup" {
        let group = r.arn(
            "elasticache",
            &format!(
                "replicationgroup:{}",
                r.param("ReplicationGroupId").unwrap_or("*")
            ),
        );
        if r.has_prefix("Tags.") {
            out.push(need("elasticache:AddTagsToResource", group));
        }
        if let Some(k) = r.param("KmsKeyId") {
            out.push(need("kms:CreateGrant", r.key_arn(k)));
            out.push(need("kms:DescribeKey", r.key_arn(k)));
        }
        if r.has_prefix("LogDeliveryConfigurations.") {
            out.push(need("logs:CreateLogDelivery", "*"));
        }
    }
    // A log delivery switched on or off is made or ended as the caller.
    if r.op == "ModifyReplicationGroup" && r.has_prefix("LogDeliveryConfigurations.") {
        let off = r
            .form
            .iter()
            .any(|(k, v)| k.ends_with(".Enabled") && v.eq_ignore_ascii_case("false"));
        out.push(need(
            if off {
                "logs:DeleteLogDelivery"
            } else {
                "logs:CreateLogDelivery"
            },
            "*",
        ));
    }
}

/// What ec2's calls need.
fn ec2(r: &Req, out: &mut Vec<Needed>) {
    let sg = |id: &str| r.arn("ec2", &format!("security-group/{id}"));
    let tagged = r.has_prefix("TagSpecification.");
    match r.op {
        op if op.starts_with("Describe") => out.push(r.own("*")),
        "CreateSecurityGroup" => {
            out.push(r.own(r.arn("ec2", "security-group/*")));
            if let Some(v) = r.param("VpcId") {
                out.push(r.own(r.arn("ec2", &format!("vpc/{v}"))));
            }
            if tagged {
                out.push(need("ec2:CreateTags", r.arn("ec2", "security-group/*")));
            }
        }
        "AuthorizeSecurityGroupIngress"
        | "AuthorizeSecurityGroupEgress"
        | "RevokeSecurityGroupIngress"
        | "RevokeSecurityGroupEgress"
        | "DeleteSecurityGroup" => out.push(r.own(sg(r.param("GroupId").unwrap_or("*")))),
        "CreateVpcEndpoint" => {
            out.push(r.own(r.arn("ec2", "vpc-endpoint/*")));
            if let Some(v) = r.param("VpcId") {
                out.push(r.own(r.arn("ec2", &format!("vpc/{v}"))));
            }
            for s in r.params("SubnetId") {
                out.push(r.own(r.arn("ec2", &format!("subnet/{s}"))));
            }
            for g in r.params("SecurityGroupId") {
                out.push(r.own(sg(g)));
            }
            if tagged {
                out.push(need("ec2:CreateTags", r.arn("ec2", "vpc-endpoint/*")));
            }
            if r.param("PrivateDnsEnabled") == Some("true") {
                out.push(need("route53:AssociateVPCWithHostedZone", "*"));
            }
        }
        "ModifyVpcEndpoint" => {
            out.push(r.own(r.arn(
                "ec2",
                &format!("vpc-endpoint/{}", r.param("VpcEndpointId").unwrap_or("*")),
            )));
            for s in r.params("AddSubnetId") {
                out.push(r.own(r.arn("ec2", &format!("subnet/{s}"))));
            }
            for g in r.params("AddSecurityGroupId") {
                out.push(r.own(sg(g)));
            }
            if r.param("PrivateDnsEnabled") == Some("true") {
                out.push(need("route53:AssociateVPCWithHostedZone", "*"));
            }
        }
        "DeleteVpcEndpoints" => {
            for e in r.params("VpcEndpointId") {
                out.push(r.own(r.arn("ec2", &format!("vpc-endpoint/{e}"))));
            }
        }
        "CreateTags" | "DeleteTags" => {
            for id in r.params("ResourceId") {
                let kind = match id.split('-').next() {
                    Some("sg") => "security-group",
                    Some("vpce") => "vpc-endpoint",
                    Some("subnet") => "subnet",
                    Some("vpc") => "vpc",
                    _ => "*",
                };
                out.push(r.own(r.arn("ec2", &format!("{kind}/{id}"))));
            }
        }
        _ => out.push(r.own("*")),
    }
}

/// What logs's calls need.
fn logs(r: &Req, out: &mut Vec<Needed>) {
    let group = r
        .json_str(&["logGroupName"])
        .map(|n| r.arn("logs", &format!("log-group:{n}")));
    let resource = match (r.op, r.json_str(&["resourceArn"]), group) {
        ("DescribeLogGroups", _, _) => r.arn("logs", "log-group:*"),
        (_, Some(arn), _) => arn.to_string(),
        (_, None, Some(g)) => g,
        _ => "*".into(),
    };
    out.push(r.own(resource.clone()));
    if r.op == "CreateLogGroup" && r.json_has("tags") {
        out.push(need("logs:TagResource", resource));
    }
}

/// What kms's calls need.
fn kms(r: &Req, out: &mut Vec<Needed>) {
    match r.json_str(&["KeyId"]) {
        Some(k) => out.push(r.own(r.key_arn(k))),
        None => out.push(r.own("*")),
    };
}

/// What secretsmanager's calls need.
fn secretsmanager(r: &Req, out: &mut Vec<Needed>) {
    let id = r.json_str(&["SecretId"]).or(r.json_str(&["Name"]));
    match (r.op, id) {
        ("ListSecrets", _) | (_, None) => out.push(r.own("*")),
        (_, Some(arn)) if arn.starts_with("arn:") => out.push(r.own(arn.to_string())),
        // A name stands for its ARN, which ends in six characters of AWS's own.
        (_, Some(name)) => {
            out.push(r.own(r.arn("secretsmanager", &format!("secret:{name}-AbCdEf"))))
        }
    }
}

/// What iam's calls need.
fn iam(r: &Req, out: &mut Vec<Needed>) {
    let resource = if let Some(u) = r.param("UserName") {
        format!("arn:aws:iam::{}:user/{u}", r.account)
    } else if let Some(n) = r.param("RoleName") {
        format!("arn:aws:iam::{}:role/{n}", r.account)
    } else if let Some(p) = r.param("PolicyArn") {
        p.to_string()
    } else {
        "*".to_string()
    };
    out.push(r.own(resource.clone()));
    if r.has_prefix("Tags.") {
        match r.op {
            "CreateUser" => out.push(need("iam:TagUser", resource)),
            "CreateRole" => out.push(need("iam:TagRole", resource)),
            _ => {}
        }
    }
}

/// What s3's calls need.
fn s3(r: &Req, out: &mut Vec<Needed>) {
    let path = crate::emulated::percent_decode(r.path.trim_start_matches('/'));
    let (bucket, key) = path.split_once('/').unwrap_or((&path, ""));
    let has = |k: &str| url::form_urlencoded::parse(r.query.as_bytes()).any(|(n, _)| n == k);
    let action = crate::iam::bucket_policies::action_of(r.op, has("versionId"));
    let resource = if bucket.is_empty() {
        "*".to_string()
    } else if key.is_empty() && r.op != "DeleteObjects" {
        format!("arn:aws:s3:::{bucket}")
    } else {
        format!(
            "arn:aws:s3:::{bucket}/{}",
            if key.is_empty() { "*" } else { key }
        )
    };
    out.push(need(action, resource));
}

/// What bedrock's calls need.
fn bedrock(r: &Req, out: &mut Vec<Needed>) {
    let profiles = r.arn("bedrock", "application-inference-profile/*");
    let segs = r.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match r.op {
        "CreateInferenceProfile" => {
            out.push(r.own(profiles.clone()));
            if let Some(src) = r.json_str(&["modelSource", "copyFrom"]) {
                out.push(r.own(src.to_string()));
            }
            if r.json_has("tags") {
                out.push(need("bedrock:TagResource", profiles));
            }
        }
        "GetInferenceProfile" | "DeleteInferenceProfile" => {
            let id = segs.get(1).copied().unwrap_or("*");
            out.push(r.own(if id.starts_with("arn:") {
                id.to_string()
            } else {
                r.arn("bedrock", &format!("application-inference-profile/{id}"))
            }));
        }
        "TagResource" | "UntagResource" | "ListTagsForResource" => {
            out.push(r.own(r.json_str(&["resourceARN"]).unwrap_or("*").to_string()))
        }
        "PutModelInvocationLoggingConfiguration" => {
            out.push(r.own("*"));
            for dest in ["cloudWatchConfig", "s3Config"] {
                if let Some(role) = r.json_str(&["loggingConfig", dest, "roleArn"]) {
                    out.push(need("iam:PassRole", role));
                }
            }
        }
        _ => out.push(r.own("*")),
    }
}

/// What aps's calls need.
fn aps(r: &Req, out: &mut Vec<Needed>) {
    let segs = r.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (r.op, segs.as_slice()) {
        ("ListWorkspaces", _) => out.push(r.own("*")),
        ("CreateWorkspace", _) => out.push(r.own(r.arn("aps", "workspace/*"))),
        (_, ["tags", arn @ ..]) => out.push(r.own(arn.join("/"))),
        (op, ["workspaces", id, ..]) => {
            out.push(r.own(r.arn("aps", &format!("workspace/{id}"))));
            if op == "CreateLoggingConfiguration" || op == "UpdateLoggingConfiguration" {
                out.push(need("logs:CreateLogDelivery", "*"));
            }
            if op == "DeleteLoggingConfiguration" {
                out.push(need("logs:DeleteLogDelivery", "*"));
            }
        }
        _ => out.push(r.own("*")),
    }
}

/// What grafana's calls need.
fn grafana(r: &Req, out: &mut Vec<Needed>) {
    let segs = r.segments();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (r.op, segs.as_slice()) {
        ("ListWorkspaces", _) => out.push(r.own("*")),
        ("CreateWorkspace", _) => {
            out.push(r.own("*"));
            if let Some(role) = r.json_str(&["workspaceRoleArn"]) {
                out.push(need("iam:PassRole", role));
            }
        }
        (_, ["tags", arn @ ..]) => out.push(r.own(arn.join("/"))),
        (op, ["workspaces", id, ..]) => {
            out.push(r.own(r.arn("grafana", &format!("/workspaces/{id}"))));
            if op == "UpdateWorkspace" {
                if let Some(role) = r.json_str(&["workspaceRoleArn"]) {
                    out.push(need("iam:PassRole", role));
                }
            }
        }
        _ => out.push(r.own("*")),
    }
}

/// The service-linked role a create makes on first use in an account: (service, operation) ->
/// (role name, path).
pub(crate) fn service_linked_role(service: &str, op: &str) -> Option<(&'static str, &'static str)> {
    Some(match (service, op) {
        ("rds", "CreateDBCluster") => ("AWSServiceRoleForRDS", "rds.amazonaws.com"),
        ("elasticache", "CreateReplicationGroup") => {
            ("AWSServiceRoleForElastiCache", "elasticache.amazonaws.com")
        }
        ("grafana", "CreateWorkspace") => {
            ("AWSServiceRoleForAmazonGrafana", "grafana.amazonaws.com")
        }
        _ => return None,
    })
}

/// Whether a statement applies to `action` on `resource`.
fn applies(s: &serde_json::Value, action: &str, resource: &str) -> bool {
    let action_ok = match (s.get("Action"), s.get("NotAction")) {
        (Some(a), _) => strings(a).iter().any(|p| wildcard(p, action, true)),
        (None, Some(n)) => !strings(n).iter().any(|p| wildcard(p, action, true)),
        _ => false,
    };
    let resource_ok = match (s.get("Resource"), s.get("NotResource")) {
        (Some(r), _) => strings(r).iter().any(|p| wildcard(p, resource, false)),
        (None, Some(n)) => !strings(n).iter().any(|p| wildcard(p, resource, false)),
        _ => false,
    };
    action_ok && resource_ok
}

/// IAM's evaluation for one principal's identity policies: an explicit deny wins, then an
/// allow, else the implicit deny.
pub(crate) fn allowed(policies: &[serde_json::Value], action: &str, resource: &str) -> bool {
    let statements = policies.iter().flat_map(|p| match p.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.iter().collect::<Vec<_>>(),
        Some(one @ serde_json::Value::Object(_)) => vec![one],
        _ => Vec::new(),
    });
    let mut allow = false;
    for s in statements {
        if !applies(s, action, resource) {
            continue;
        }
        match s.get("Effect").and_then(|e| e.as_str()) {
            Some("Deny") => return false,
            Some("Allow") if s.get("Condition").is_none() => allow = true,
            _ => {}
        }
    }
    allow
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(service: &'a str, op: &'a str, form: &'a [(String, String)]) -> Req<'a> {
        Req {
            service,
            op,
            region: "eu-central-2",
            account: "123456789012",
            form,
            json: None,
            path: "/",
            query: "",
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(wildcard("rds:Describe*", "rds:DescribeDBClusters", true));
        assert!(wildcard(
            "RDS:describedbclusters",
            "rds:DescribeDBClusters",
            true
        ));
        assert!(wildcard(
            "arn:aws:s3:::dal-*",
            "arn:aws:s3:::dal-dev-ai-data",
            false
        ));
        assert!(!wildcard("arn:aws:s3:::dal-*", "arn:aws:s3:::other", false));
        assert!(wildcard("a?c*z", "abcxyz", false));
        assert!(!wildcard("a?c", "ac", false));
        assert!(wildcard("*", "anything", false));
        assert!(
            !wildcard("arn:aws:s3:::Dal", "arn:aws:s3:::dal", false),
            "resources are case-sensitive"
        );
    }

    #[test]
    fn explicit_deny_wins_and_conditions_never_allow() {
        let p = serde_json::json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::keep"},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}
        ]});
        assert!(allowed(
            std::slice::from_ref(&p),
            "s3:DeleteBucket",
            "arn:aws:s3:::other"
        ));
        assert!(!allowed(
            std::slice::from_ref(&p),
            "s3:DeleteBucket",
            "arn:aws:s3:::keep"
        ));
        assert!(!allowed(
            std::slice::from_ref(&p),
            "kms:Decrypt",
            "arn:aws:kms:eu-central-2:1:key/x"
        ));
        assert!(
            !allowed(&[], "s3:ListBucket", "arn:aws:s3:::x"),
            "nothing allows"
        );
    }

    #[test]
    fn a_cluster_create_needs_its_groups_its_keys_and_its_secret() {
        let f = form(&[
            ("DBClusterIdentifier", "dal-aurora"),
            ("DBSubnetGroupName", "dal-aurora"),
            ("DBClusterParameterGroupName", "dal-aurora-pg14"),
            ("KmsKeyId", "arn:aws:kms:eu-central-2:123456789012:key/k1"),
            ("ManageMasterUserPassword", "true"),
            ("MasterUserSecretKmsKeyId", "k2"),
        ]);
        let needs: Vec<String> = requirements(&req("rds", "CreateDBCluster", &f))
            .into_iter()
            .map(|n| format!("{} {}", n.action, n.resource))
            .collect();
        assert_eq!(
            needs,
            [
                "rds:CreateDBCluster arn:aws:rds:eu-central-2:123456789012:cluster:dal-aurora",
                "rds:CreateDBCluster arn:aws:rds:eu-central-2:123456789012:subgrp:dal-aurora",
                "rds:CreateDBCluster arn:aws:rds:eu-central-2:123456789012:cluster-pg:dal-aurora-pg14",
                "kms:CreateGrant arn:aws:kms:eu-central-2:123456789012:key/k1",
                "kms:DescribeKey arn:aws:kms:eu-central-2:123456789012:key/k1",
                "secretsmanager:CreateSecret arn:aws:secretsmanager:eu-central-2:123456789012:secret:rds!cluster-00000000-0000-0000-0000-000000000000-AbCdEf",
                "secretsmanager:TagResource arn:aws:secretsmanager:eu-central-2:123456789012:secret:rds!cluster-00000000-0000-0000-0000-000000000000-AbCdEf",
                "kms:GenerateDataKey arn:aws:kms:eu-central-2:123456789012:key/k2",
            ]
        );
    }

    #[test]
    fn tags_on_create_and_private_dns_need_their_own_actions() {
        let f = form(&[
            ("VpcId", "vpc-1"),
            ("SubnetId.1", "subnet-a"),
            ("SecurityGroupId.1", "sg-1"),
            ("PrivateDnsEnabled", "true"),
            ("TagSpecification.1.ResourceType", "vpc-endpoint"),
        ]);
        let actions: Vec<String> = requirements(&req("ec2", "CreateVpcEndpoint", &f))
            .into_iter()
            .map(|n| n.action)
            .collect();
        assert!(actions.contains(&"ec2:CreateTags".to_string()));
        assert!(actions.contains(&"route53:AssociateVPCWithHostedZone".to_string()));
        let f = form(&[
            ("DBInstanceIdentifier", "dal-aurora-1"),
            ("DBClusterIdentifier", "dal-aurora"),
            ("Tags.Tag.1.Key", "k"),
        ]);
        let needs = requirements(&req("rds", "CreateDBInstance", &f));
        assert_eq!(
            needs
                .last()
                .map(|n| (n.action.as_str(), n.resource.as_str())),
            Some((
                "rds:AddTagsToResource",
                "arn:aws:rds:eu-central-2:123456789012:db:dal-aurora-1"
            )),
            "tags are added to the instance created, not to its cluster"
        );
        let f = form(&[("UserName", "u"), ("Tags.member.1.Key", "k")]);
        let needs = requirements(&req("iam", "CreateUser", &f));
        assert_eq!(needs[1].action, "iam:TagUser");
        assert_eq!(needs[1].resource, "arn:aws:iam::123456789012:user/u");
    }

    #[test]
    fn s3_operations_map_to_iam_actions() {
        let r = Req {
            path: "/bucket",
            query: "encryption",
            ..req("s3", "PutBucketEncryption", &[])
        };
        let n = &requirements(&r)[0];
        assert_eq!(
            (n.action.as_str(), n.resource.as_str()),
            ("s3:PutEncryptionConfiguration", "arn:aws:s3:::bucket")
        );
        let r = Req {
            path: "/bucket",
            query: "delete",
            ..req("s3", "DeleteObjects", &[])
        };
        assert_eq!(requirements(&r)[0].resource, "arn:aws:s3:::bucket/*");
    }

    /// What each operation needs, every service's rule once, as one snapshot (`UPDATE_EXPECT=1`
    /// rewrites it for review).
    #[test]
    fn what_each_operation_needs() {
        type Query<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let queries: &[Query<'_>] = &[
            (
                "sts",
                "AssumeRole",
                &[("RoleArn", "arn:aws:iam::123456789012:role/deploy")],
            ),
            (
                "rds",
                "CreateDBCluster",
                &[
                    ("DBClusterIdentifier", "dal-aurora"),
                    ("Tags.Tag.1.Key", "Environment"),
                    ("KmsKeyId", "alias/general"),
                    ("ManageMasterUserPassword", "true"),
                    ("MasterUserSecretKmsKeyId", "key-1"),
                ],
            ),
            (
                "rds",
                "CreateDBInstance",
                &[
                    ("DBInstanceIdentifier", "dal-aurora-1"),
                    ("DBClusterIdentifier", "dal-aurora"),
                ],
            ),
            (
                "rds",
                "DeleteDBCluster",
                &[
                    ("DBClusterIdentifier", "dal-aurora"),
                    ("FinalDBSnapshotIdentifier", "final"),
                ],
            ),
            ("rds", "DescribeDBClusters", &[]),
            (
                "elasticache",
                "CreateReplicationGroup",
                &[
                    ("ReplicationGroupId", "dal-redis"),
                    ("CacheSubnetGroupName", "dal-redis"),
                    ("Tags.Tag.1.Key", "Environment"),
                ],
            ),
            ("elasticache", "DescribeCacheClusters", &[]),
            (
                "ec2",
                "CreateSecurityGroup",
                &[("GroupName", "dal-aurora"), ("VpcId", "vpc-1")],
            ),
            (
                "ec2",
                "CreateVpcEndpoint",
                &[
                    ("VpcId", "vpc-1"),
                    ("ServiceName", "com.amazonaws.eu-central-2.rds"),
                ],
            ),
            ("ec2", "DescribeVpcs", &[]),
            ("iam", "CreateUser", &[("UserName", "dal-s3-access")]),
            (
                "iam",
                "PutRolePolicy",
                &[("RoleName", "dal-bedrock-logging"), ("PolicyName", "logs")],
            ),
        ];
        let documents: &[(&str, &str, &str, &str, serde_json::Value)] = &[
            (
                "logs",
                "CreateLogGroup",
                "/",
                "",
                serde_json::json!({"logGroupName": "/aws/x", "kmsKeyId": "arn:aws:kms:eu-central-2:123456789012:key/k"}),
            ),
            (
                "kms",
                "Decrypt",
                "/",
                "",
                serde_json::json!({"KeyId": "key-1"}),
            ),
            (
                "secretsmanager",
                "CreateSecret",
                "/",
                "",
                serde_json::json!({"Name": "dal/psql-host", "KmsKeyId": "alias/secrets", "Tags": [{"Key": "Environment", "Value": "dev"}]}),
            ),
            (
                "s3",
                "PutBucketPolicy",
                "/dal-ai-data",
                "policy",
                serde_json::Value::Null,
            ),
            (
                "s3",
                "PutObject",
                "/dal-ai-data/a/b.txt",
                "",
                serde_json::Value::Null,
            ),
            (
                "bedrock",
                "CreateInferenceProfile",
                "/inference-profiles",
                "",
                serde_json::json!({"inferenceProfileName": "dal-haiku", "modelSource": {"copyFrom": "arn:aws:bedrock:eu-central-2::foundation-model/anthropic.claude-3-haiku"}, "tags": [{"key": "Environment", "value": "dev"}]}),
            ),
            (
                "bedrock",
                "PutModelInvocationLoggingConfiguration",
                "/logging/modelinvocations",
                "",
                serde_json::json!({"loggingConfig": {"cloudWatchConfig": {"logGroupName": "/bedrock", "roleArn": "arn:aws:iam::123456789012:role/dal-bedrock-logging"}}}),
            ),
            (
                "aps",
                "CreateWorkspace",
                "/workspaces",
                "",
                serde_json::json!({"alias": "dal-prometheus", "tags": {"Environment": "dev"}}),
            ),
            (
                "grafana",
                "CreateWorkspace",
                "/workspaces",
                "",
                serde_json::json!({"workspaceRoleArn": "arn:aws:iam::123456789012:role/dal-grafana"}),
            ),
        ];
        let mut out = String::new();
        let mut line = |r: &Req<'_>| {
            out.push_str(&format!("{}:{}\n", r.service, r.op));
            for n in requirements(r) {
                out.push_str(&format!("  {} on {}\n", n.action, n.resource));
            }
        };
        for (service, op, pairs) in queries {
            let f = form(pairs);
            line(&req(service, op, &f));
        }
        for (service, op, path, query, json) in documents {
            let r = Req {
                path,
                query,
                json: (!json.is_null()).then_some(json),
                ..req(service, op, &[])
            };
            line(&r);
        }
        expect_test::expect![[r#"
            sts:AssumeRole
              sts:AssumeRole on arn:aws:iam::123456789012:role/deploy
            rds:CreateDBCluster
              rds:CreateDBCluster on arn:aws:rds:eu-central-2:123456789012:cluster:dal-aurora
              rds:AddTagsToResource on arn:aws:rds:eu-central-2:123456789012:cluster:dal-aurora
              kms:CreateGrant on arn:aws:kms:eu-central-2:123456789012:alias/general
              kms:DescribeKey on arn:aws:kms:eu-central-2:123456789012:alias/general
              secretsmanager:CreateSecret on arn:aws:secretsmanager:eu-central-2:123456789012:secret:rds!cluster-00000000-0000-0000-0000-000000000000-AbCdEf
              secretsmanager:TagResource on arn:aws:secretsmanager:eu-central-2:123456789012:secret:rds!cluster-00000000-0000-0000-0000-000000000000-AbCdEf
              kms:GenerateDataKey on arn:aws:kms:eu-central-2:123456789012:key/key-1
            rds:CreateDBInstance
              rds:CreateDBInstance on arn:aws:rds:eu-central-2:123456789012:cluster:dal-aurora
              rds:CreateDBInstance on arn:aws:rds:eu-central-2:123456789012:db:dal-aurora-1
            rds:DeleteDBCluster
              rds:DeleteDBCluster on arn:aws:rds:eu-central-2:123456789012:cluster:dal-aurora
              rds:CreateDBClusterSnapshot on arn:aws:rds:eu-central-2:123456789012:cluster-snapshot:final
            rds:DescribeDBClusters
              rds:DescribeDBClusters on arn:aws:rds:eu-central-2:123456789012:cluster:*
            elasticache:CreateReplicationGroup
              elasticache:CreateReplicationGroup on arn:aws:elasticache:eu-central-2:123456789012:replicationgroup:dal-redis
              elasticache:CreateReplicationGroup on arn:aws:elasticache:eu-central-2:123456789012:subnetgroup:dal-redis
              elasticache:AddTagsToResource on arn:aws:elasticache:eu-central-2:123456789012:replicationgroup:dal-redis
            elasticache:DescribeCacheClusters
              elasticache:DescribeCacheClusters on arn:aws:elasticache:eu-central-2:123456789012:cluster:*
            ec2:CreateSecurityGroup
              ec2:CreateSecurityGroup on arn:aws:ec2:eu-central-2:123456789012:security-group/*
              ec2:CreateSecurityGroup on arn:aws:ec2:eu-central-2:123456789012:vpc/vpc-1
            ec2:CreateVpcEndpoint
              ec2:CreateVpcEndpoint on arn:aws:ec2:eu-central-2:123456789012:vpc-endpoint/*
              ec2:CreateVpcEndpoint on arn:aws:ec2:eu-central-2:123456789012:vpc/vpc-1
            ec2:DescribeVpcs
              ec2:DescribeVpcs on *
            iam:CreateUser
              iam:CreateUser on arn:aws:iam::123456789012:user/dal-s3-access
            iam:PutRolePolicy
              iam:PutRolePolicy on arn:aws:iam::123456789012:role/dal-bedrock-logging
            logs:CreateLogGroup
              logs:CreateLogGroup on arn:aws:logs:eu-central-2:123456789012:log-group:/aws/x
            kms:Decrypt
              kms:Decrypt on arn:aws:kms:eu-central-2:123456789012:key/key-1
            secretsmanager:CreateSecret
              secretsmanager:CreateSecret on arn:aws:secretsmanager:eu-central-2:123456789012:secret:dal/psql-host-AbCdEf
            s3:PutBucketPolicy
              s3:PutBucketPolicy on arn:aws:s3:::dal-ai-data
            s3:PutObject
              s3:PutObject on arn:aws:s3:::dal-ai-data/a/b.txt
            bedrock:CreateInferenceProfile
              bedrock:CreateInferenceProfile on arn:aws:bedrock:eu-central-2:123456789012:application-inference-profile/*
              bedrock:CreateInferenceProfile on arn:aws:bedrock:eu-central-2::foundation-model/anthropic.claude-3-haiku
              bedrock:TagResource on arn:aws:bedrock:eu-central-2:123456789012:application-inference-profile/*
            bedrock:PutModelInvocationLoggingConfiguration
              bedrock:PutModelInvocationLoggingConfiguration on *
              iam:PassRole on arn:aws:iam::123456789012:role/dal-bedrock-logging
            aps:CreateWorkspace
              aps:CreateWorkspace on arn:aws:aps:eu-central-2:123456789012:workspace/*
            grafana:CreateWorkspace
              grafana:CreateWorkspace on *
              iam:PassRole on arn:aws:iam::123456789012:role/dal-grafana
        "#]].assert_eq(&out);
    }
}
