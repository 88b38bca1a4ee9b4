//! `import-terraform`: take over a Terraform-made layer. Reads its state (`layer_core::tfread`),
//! maps each resource to ours by the spec's outputs first (`aurora_cluster_id`, the bucket ids,
//! …), then by type and the attributes that link resources (a cluster's groups), and gives the
//! environment's overrides (every name, the settings that differ), a table of what maps to what,
//! what the state holds that the tool does not manage, and the `removed` blocks that let
//! Terraform forget the resources without destroying them. Reads no secret value.

use std::collections::{BTreeMap, BTreeSet};

use layer_core::config::Environment;
use layer_core::safety::{Refusal, RefusedChange};
use layer_core::tfread::{TfLayer, TfResource};
use layer_core::{Error, Result};
use serde_json::Value;

/// One resource of the state, mapped to ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The Terraform instance address.
    pub terraform: String,
    /// Our address.
    pub ours: String,
    /// Its name (or id).
    pub name: String,
    /// What differs from the environment's settings (empty when nothing does).
    pub differs: String,
}

/// What an import found.
#[derive(Debug, Clone, Default)]
pub struct Import {
    /// Mapped resources, in state order.
    pub rows: Vec<Row>,
    /// The overrides to write: a dotted key (`aurora.names.cluster`) and its value.
    pub overrides: BTreeMap<String, Value>,
    /// What the state holds that the tool does not manage: the address, and why.
    pub unmanaged: Vec<(String, String)>,
    /// What the tool would create because the state lacks it.
    pub missing: Vec<String>,
    /// The tags every resource of the Terraform layer carries beyond ours: the environment's
    /// `[tags]`, so adoption keeps them.
    pub tags: BTreeMap<String, String>,
    /// The tags some resources carry beyond those, by our address: `[tags_by_resource]`.
    pub tags_by_resource: BTreeMap<String, BTreeMap<String, String>>,
    /// What the operator should know (tags an address's instances do not agree on, …).
    pub notes: Vec<String>,
    /// Resource addresses (no instance key) the tool takes over: one `removed` block each.
    pub removed: Vec<String>,
    /// Instance addresses, for `terraform state rm` on Terraform before 1.7.
    pub instances: Vec<String>,
}

/// What the environment's settings say, as far as import compares them.
#[derive(Debug, Clone)]
pub struct Expected {
    /// `[redis] port`.
    pub redis_port: u16,
    /// Each compared setting's dotted key and its current value.
    pub settings: BTreeMap<&'static str, Value>,
    /// The environment's resource addresses: `[tags_by_resource]` names only these.
    pub addresses: BTreeSet<String>,
    /// The inference profiles: each key's source and its default name (`{nid}-{key}`).
    pub profiles: BTreeMap<String, (String, String)>,
}

struct Mapper<'a> {
    layer: &'a TfLayer,
    claimed: BTreeSet<usize>,
    out: Import,
    refused: Vec<RefusedChange>,
}

/// The resource types the tool takes over with another (a bucket's policy, a user's key, a
/// secret's value): the attribute that names the owner (its name, id or ARN), and what becomes
/// of it. Taken only when its owner was; `None`: this layer's by kind (one per account, or
/// found by tags).
const WITH_OWNER: &[(&str, Option<&str>, &str)] = &[
    ("aws_s3_bucket_policy", Some("bucket"), "part of its bucket"),
    (
        "aws_s3_bucket_versioning",
        Some("bucket"),
        "part of its bucket",
    ),
    (
        "aws_s3_bucket_public_access_block",
        Some("bucket"),
        "part of its bucket",
    ),
    (
        "aws_s3_bucket_server_side_encryption_configuration",
        Some("bucket"),
        "part of its bucket",
    ),
    (
        "aws_s3_bucket_lifecycle_configuration",
        Some("bucket"),
        "part of its bucket",
    ),
    (
        "aws_s3_bucket_ownership_controls",
        Some("bucket"),
        "part of its bucket",
    ),
    ("aws_iam_user_policy", Some("user"), "part of the S3 user"),
    ("aws_iam_role_policy", Some("role"), "part of its role"),
    (
        "aws_iam_access_key",
        Some("user"),
        "the key pair: seed adopts it when the secrets hold its id, never replaced",
    ),
    (
        "aws_secretsmanager_secret_version",
        Some("secret_id"),
        "a value: seed keeps what is set; import reads none",
    ),
    (
        "aws_secretsmanager_secret_rotation",
        Some("secret_id"),
        "the secret's rotation: converged in place",
    ),
    (
        "aws_vpc_security_group_ingress_rule",
        Some("security_group_id"),
        "a rule of its security group: deploy converges the rules",
    ),
    (
        "aws_vpc_security_group_egress_rule",
        Some("security_group_id"),
        "a rule of its security group: deploy converges the rules",
    ),
    (
        "aws_bedrock_model_invocation_logging_configuration",
        None,
        "one per account and region: deploy converges it in place",
    ),
];

impl<'a> Mapper<'a> {
    fn find(&self, kind: &str, pred: impl Fn(&TfResource) -> bool) -> Option<usize> {
        self.layer
            .resources
            .iter()
            .position(|r| r.kind == kind && pred(r))
    }

    /// The resource of `kind` the output `output` names by `attr`, or the only one of its kind.
    fn by_output(&self, kind: &str, output: &str, attr: &str) -> Option<usize> {
        let named = self.layer.outputs.get(output).and_then(Value::as_str);
        if let Some(id) = named {
            if let Some(i) = self.find(kind, |r| r.attributes.str(attr) == Some(id)) {
                return Some(i);
            }
        }
        let all: Vec<usize> = (0..self.layer.resources.len())
            .filter(|i| self.layer.resources[*i].kind == kind)
            .collect();
        (all.len() == 1).then(|| all[0])
    }

    fn take(&mut self, i: usize, ours: &str, name: &str, differs: String) {
        if !self.claimed.insert(i) {
            return;
        }
        let r = &self.layer.resources[i];
        self.out.rows.push(Row {
            terraform: r.address(),
            ours: ours.to_string(),
            name: name.to_string(),
            differs,
        });
        self.out.instances.push(r.address());
    }

    /// One `removed` block per resource whose every instance was taken: a block names a whole
    /// resource, so one that is only partly this layer's gets `terraform state rm` of the taken
    /// instances only, and a note.
    fn settle_removed(&mut self) {
        let mut seen = Vec::new();
        for r in &self.layer.resources {
            let address = r.resource_address();
            if !seen.contains(&address) {
                seen.push(address);
            }
        }
        for address in seen {
            let of = |i: &usize| self.layer.resources[*i].resource_address() == address;
            let all = (0..self.layer.resources.len()).filter(of).count();
            let taken = self.claimed.iter().filter(|i| of(i)).count();
            if taken == all {
                self.out.removed.push(address);
            } else if taken > 0 {
                self.out.notes.push(format!(
                    "`{address}` is only partly this layer's ({taken} of {all} instances): no `removed` block, which would make Terraform forget them all; `terraform state rm` the taken instances instead"
                ));
            }
        }
    }

    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.out.overrides.insert(key.to_string(), value.into());
    }

    /// A named resource linked by `attr` (a cluster's subnet group): taken, its name an
    /// override, when the state holds it. AWS's default groups (`default`, `default.redis7`)
    /// and groups another state holds are left alone: deploy makes the layer's own.
    fn linked(&mut self, kind: &str, attr: &str, name: Option<&str>, ours: &str, key: &str) {
        let Some(name) = name.map(str::to_string) else {
            return;
        };
        if name == "default" || name.starts_with("default.") {
            self.out.notes.push(format!(
                "`{ours}`: the Terraform layer uses AWS's default group `{name}`; deploy makes the layer's own and moves to it in place"
            ));
            return;
        }
        match self.find(kind, |r| r.attributes.str(attr) == Some(name.as_str())) {
            Some(i) => {
                self.take(i, ours, &name, String::new());
                self.set(key, name);
            }
            None => self.out.notes.push(format!(
                "`{ours}`: the Terraform layer uses `{name}`, which this state does not hold; it stays with its owner, and deploy makes the layer's own"
            )),
        }
    }

    /// The security group whose id is one of `ids`.
    fn security_group(&mut self, ids: &[&str], ours: &str, key: &str) {
        let found = self.find("aws_security_group", |r| {
            r.attributes.str("id").is_some_and(|id| ids.contains(&id))
        });
        if let Some(i) = found {
            let name = self.layer.resources[i]
                .attributes
                .str("name")
                .unwrap_or_default()
                .to_string();
            self.take(i, ours, &name, String::new());
            self.set(key, name);
        }
    }

    fn refuse(&mut self, address: String, reason: String, fix: &str) {
        self.refused.push(RefusedChange {
            address,
            reason,
            flag: fix.to_string(),
        });
    }
}

/// The prefix most of the secrets the `secret_arns` output names follow (`<prefix><key>`), if
/// any does.
fn named_prefix(
    by_output: &BTreeMap<String, usize>,
    secrets: &[(usize, String)],
) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, i) in by_output {
        let name = secrets
            .iter()
            .find(|(j, _)| j == i)
            .map(|(_, n)| n.as_str());
        if let Some(p) = name.and_then(|n| n.strip_suffix(key.as_str())) {
            *counts.entry(p).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .filter(|(p, _)| !p.is_empty())
        .max_by_key(|(_, n)| *n)
        .map(|(p, _)| p.to_string())
}

/// A Terraform resource's tags beyond the ones that mark ownership (ours, AWS's, seed's).
fn their_tags(r: &TfResource) -> Option<BTreeMap<String, String>> {
    let skip = |k: &str| {
        layer_core::tags::OWNERSHIP.contains(&k) || k.starts_with("aws:") || k.starts_with("seed:")
    };
    let a = &r.attributes;
    let tags =
        a.0.get("tags_all")
            .or_else(|| a.0.get("tags"))?
            .as_object()?;
    Some(
        tags.iter()
            .filter(|(k, _)| !skip(k))
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
    )
}

impl Mapper<'_> {
    /// Keep every tag the Terraform layer set, so adoption removes none: the tags every taken
    /// resource carries (a resource's own `Name` aside) go to the environment's `[tags]`, the
    /// Terraform provider's `default_tags` among them; the rest go to `[tags_by_resource]` under
    /// our address. An address of several instances keeps the tags they all carry, and a note
    /// names the others.
    fn keep_tags(&mut self, env: &Environment, known: &BTreeSet<String>) {
        let tagged: Vec<(String, BTreeMap<String, String>)> = self
            .out
            .rows
            .iter()
            .filter_map(|row| {
                let r = self
                    .layer
                    .resources
                    .iter()
                    .find(|r| r.address() == row.terraform)?;
                // The profiles, found by tags, are one resource of ours.
                let ours = match r.kind.as_str() {
                    "aws_bedrock_inference_profile" => "aws_bedrock_inference_profile.profiles",
                    _ if row.ours.starts_with("aws_") && !row.ours.contains(' ') => &row.ours,
                    _ => return None,
                };
                Some((ours.to_string(), their_tags(r)?))
            })
            .collect();
        let Some((_, first)) = tagged.first() else {
            return;
        };
        let common: BTreeMap<String, String> = first
            .iter()
            .filter(|(k, v)| {
                k.as_str() != "Name" && tagged.iter().all(|(_, t)| t.get(*k) == Some(*v))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in &common {
            if env.tags.get(k) != Some(v) {
                self.out.tags.insert(k.clone(), v.clone());
            }
        }
        let mut by_address: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
        for (ours, tags) in tagged {
            // The endpoints' `Name` is the family's own: they are found by it.
            let extra = tags
                .into_iter()
                .filter(|(k, v)| common.get(k) != Some(v))
                .filter(|(k, _)| !(ours.starts_with("aws_vpc_endpoint.") && k == "Name"))
                .collect();
            by_address.entry(ours).or_default().push(extra);
        }
        for (address, instances) in by_address {
            let agreed: BTreeMap<String, String> = instances[0]
                .iter()
                .filter(|(k, v)| instances.iter().all(|t| t.get(*k) == Some(*v)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let differing: BTreeSet<&String> = instances
                .iter()
                .flat_map(|t| t.keys())
                .filter(|k| !agreed.contains_key(*k))
                .collect();
            if !differing.is_empty() {
                let keys: Vec<&str> = differing.iter().map(|k| k.as_str()).collect();
                self.out.notes.push(format!(
                    "`{address}`: its instances' tags differ ({}); only the ones they all carry are kept, and the plan shows the others' removal",
                    keys.join(", ")
                ));
            }
            let configured = env.tags_by_resource.get(&address);
            let new: BTreeMap<String, String> = agreed
                .into_iter()
                .filter(|(k, v)| configured.and_then(|c| c.get(k)) != Some(v))
                .collect();
            if new.is_empty() {
                continue;
            }
            if !known.contains(&address) {
                self.out.notes.push(format!(
                    "`{address}` carries tags of its own, but the environment has no such resource (a feature it leaves off): they are not kept"
                ));
                continue;
            }
            self.out.tags_by_resource.insert(address, new);
        }
    }
}

/// `(setting, Terraform attribute)` compared on the cluster, its first instance, the group.
const AURORA_SETTINGS: &[(&str, &str)] = &[
    ("aurora.database_name", "database_name"),
    ("aurora.deletion_protection", "deletion_protection"),
    ("aurora.backup_retention_days", "backup_retention_period"),
];
const REDIS_SETTINGS: &[(&str, &str)] = &[
    ("redis.node_type", "node_type"),
    ("redis.num_cache_nodes", "num_cache_clusters"),
    (
        "redis.automatic_failover_enabled",
        "automatic_failover_enabled",
    ),
    ("redis.multi_az_enabled", "multi_az_enabled"),
];

/// What the tool fixes and AWS cannot change in place: `(type, attribute, the value the tool
/// makes, why)`. A Terraform-made resource with another value could only be taken over by
/// replacement.
const FIXED: &[(&str, &str, &str, &str)] = &[
    (
        "aws_rds_cluster",
        "engine",
        "aurora-postgresql",
        "the engine",
    ),
    (
        "aws_rds_cluster",
        "master_username",
        "dbadmin",
        "the master user name",
    ),
    (
        "aws_rds_cluster",
        "storage_encrypted",
        "true",
        "encryption at rest",
    ),
    (
        "aws_elasticache_replication_group",
        "at_rest_encryption_enabled",
        "true",
        "encryption at rest",
    ),
    (
        "aws_elasticache_replication_group",
        "transit_encryption_enabled",
        "true",
        "TLS in transit",
    ),
];

impl Mapper<'_> {
    /// Refuse resource `i` where it holds a value the tool could only reach by replacing it.
    fn fixed(&mut self, i: usize) {
        let r = &self.layer.resources[i];
        let wrong: Vec<String> = FIXED
            .iter()
            .filter(|(kind, _, _, _)| *kind == r.kind)
            .filter_map(|(_, attr, ours, what)| {
                let theirs = r.attributes.0.get(*attr).filter(|v| !v.is_null())?;
                let theirs = theirs
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| theirs.to_string());
                (theirs != *ours)
                    .then(|| format!("{what} (`{attr}` is {theirs}, the tool's is {ours})"))
            })
            .collect();
        if !wrong.is_empty() {
            let address = r.address();
            self.refuse(
                address,
                format!("taking it over would replace it: {}", wrong.join(", ")),
                "migrate to a resource made as the tool makes it, or leave this one to Terraform",
            );
        }
    }

    /// Settings of resource `i` that differ from `expected`: written as overrides, and said.
    fn settings(
        &mut self,
        i: usize,
        table: &[(&'static str, &str)],
        expected: &Expected,
    ) -> String {
        let mut said = Vec::new();
        for (key, attr) in table {
            let (Some(theirs), Some(ours)) = (
                self.layer.resources[i].attributes.0.get(*attr).cloned(),
                expected.settings.get(key),
            ) else {
                continue;
            };
            if theirs.is_null() || &theirs == ours {
                continue;
            }
            said.push(format!("{key} = {theirs} (ours: {ours})"));
            self.set(key, theirs);
        }
        said.join(", ")
    }

    fn aurora(&mut self, expected: &Expected) {
        let Some(c) = self.by_output("aws_rds_cluster", "aurora_cluster_id", "cluster_identifier")
        else {
            self.out
                .missing
                .push("aws_rds_cluster.aurora (and its instances and groups)".into());
            return;
        };
        let a = self.layer.resources[c].attributes.clone();
        let cluster = a.str("cluster_identifier").unwrap_or_default().to_string();
        self.fixed(c);
        let differs = self.settings(c, AURORA_SETTINGS, expected);
        self.take(c, "aws_rds_cluster.aurora", &cluster, differs);
        self.set("aurora.names.cluster", cluster.clone());
        self.linked(
            "aws_rds_cluster_parameter_group",
            "name",
            a.str("db_cluster_parameter_group_name"),
            "aws_rds_cluster_parameter_group.aurora",
            "aurora.names.parameter_group",
        );
        self.linked(
            "aws_db_subnet_group",
            "name",
            a.str("db_subnet_group_name"),
            "aws_db_subnet_group.aurora",
            "aurora.names.subnet_group",
        );
        self.security_group(
            &a.strs("vpc_security_group_ids"),
            "aws_security_group.aurora",
            "aurora.names.security_group",
        );
        self.aurora_instances(&cluster, expected);
    }

    fn aurora_instances(&mut self, cluster: &str, expected: &Expected) {
        let instances: Vec<usize> = (0..self.layer.resources.len())
            .filter(|i| {
                let r = &self.layer.resources[*i];
                r.kind == "aws_rds_cluster_instance"
                    && r.attributes.str("cluster_identifier") == Some(cluster)
            })
            .collect();
        if instances.len() as u64
            != expected
                .settings
                .get("aurora.instance_count")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        {
            self.set("aurora.instance_count", instances.len() as u64);
        }
        // Ours are `{cluster}-1` … `{cluster}-n`, in whatever order the state lists them.
        let names: Vec<String> = (1..=instances.len())
            .map(|n| format!("{cluster}-{n}"))
            .collect();
        let mut classes = BTreeSet::new();
        for i in &instances {
            let a = self.layer.resources[*i].attributes.clone();
            let id = a.str("identifier").unwrap_or_default().to_string();
            classes.extend(a.str("instance_class").map(str::to_string));
            if !names.contains(&id) {
                self.refuse(
                    self.layer.resources[*i].address(),
                    format!("instance `{id}` would be replaced: the tool names a cluster's instances `{cluster}-1`, `{cluster}-2`, …"),
                    "rename it with RDS (modify-db-instance --new-db-instance-identifier) before the import",
                );
            }
            self.take(*i, "aws_rds_cluster_instance.aurora", &id, String::new());
        }
        match classes.into_iter().collect::<Vec<_>>()[..] {
            [ref class] if Some(&Value::from(class.as_str())) != expected.settings.get("aurora.instance_class") => {
                self.set("aurora.instance_class", class.clone());
            }
            [_] | [] => {}
            ref several => self.refuse(
                format!("aws_rds_cluster_instance of {cluster}"),
                format!("the instances have several classes ({}); the tool gives every instance one class, so taking them over would modify some", several.join(", ")),
                "make the classes equal first, or leave the cluster to Terraform",
            ),
        }
        if let Some(log) = self.find("aws_cloudwatch_log_group", |r| {
            r.attributes.str("name")
                == Some(format!("/aws/rds/cluster/{cluster}/postgresql").as_str())
        }) {
            let name = format!("/aws/rds/cluster/{cluster}/postgresql");
            self.take(
                log,
                "aws_cloudwatch_log_group.aurora_postgresql",
                &name,
                String::new(),
            );
        }
    }

    fn redis(&mut self, expected: &Expected) {
        let Some(g) = self.by_output(
            "aws_elasticache_replication_group",
            "elasticache_replication_group_id",
            "replication_group_id",
        ) else {
            self.out
                .missing
                .push("aws_elasticache_replication_group.redis (and its groups)".into());
            return;
        };
        let a = self.layer.resources[g].attributes.clone();
        let id = a
            .str("replication_group_id")
            .unwrap_or_default()
            .to_string();
        let port = a.0.get("port").and_then(Value::as_u64);
        if port.is_some_and(|p| p != u64::from(expected.redis_port)) {
            self.refuse(
                self.layer.resources[g].address(),
                format!("port {} differs from [redis] port = {}; a port cannot change in place, so taking it over would replace the group", port.unwrap_or_default(), expected.redis_port),
                "set [redis] port to the group's port in the environment file, then import again",
            );
        }
        self.fixed(g);
        let differs = self.settings(g, REDIS_SETTINGS, expected);
        self.take(g, "aws_elasticache_replication_group.redis", &id, differs);
        self.set("redis.names.replication_group", id);
        self.linked(
            "aws_elasticache_subnet_group",
            "name",
            a.str("subnet_group_name"),
            "aws_elasticache_subnet_group.redis",
            "redis.names.subnet_group",
        );
        self.linked(
            "aws_elasticache_parameter_group",
            "name",
            a.str("parameter_group_name"),
            "aws_elasticache_parameter_group.redis",
            "redis.names.parameter_group",
        );
        self.security_group(
            &a.strs("security_group_ids"),
            "aws_security_group.redis",
            "redis.names.security_group",
        );
        let slow_log = a
            .0
            .get("log_delivery_configuration")
            .and_then(Value::as_array)
            .and_then(|l| {
                l.iter()
                    .find(|d| {
                        d["log_type"] == "slow-log" && d["destination_type"] == "cloudwatch-logs"
                    })
                    .and_then(|d| d["destination"].as_str().map(str::to_string))
            });
        self.linked(
            "aws_cloudwatch_log_group",
            "name",
            slow_log.as_deref(),
            "aws_cloudwatch_log_group.redis_slow_log",
            "redis.names.log_group",
        );
    }
}

impl Mapper<'_> {
    fn s3(&mut self) {
        for (key, output) in [
            ("application_data", "s3_bucket_application_data_id"),
            ("ai_data", "s3_bucket_ai_data_id"),
        ] {
            let named = self
                .layer
                .outputs
                .get(output)
                .and_then(Value::as_str)
                .map(str::to_string);
            let found = named.as_deref().and_then(|b| {
                self.find("aws_s3_bucket", |r| r.attributes.str("bucket") == Some(b))
            });
            let Some(i) = found else {
                self.out.missing.push(format!(
                    "aws_s3_bucket.{key} (no output `{output}` names one)"
                ));
                continue;
            };
            let bucket = self.layer.resources[i]
                .attributes
                .str("bucket")
                .unwrap_or_default()
                .to_string();
            self.take(i, &format!("aws_s3_bucket.{key}"), &bucket, String::new());
            self.set(&format!("s3.names.{key}"), bucket);
        }
        let users: Vec<usize> = (0..self.layer.resources.len())
            .filter(|i| self.layer.resources[*i].kind == "aws_iam_user")
            .collect();
        if let [u] = users[..] {
            let name = self.layer.resources[u]
                .attributes
                .str("name")
                .unwrap_or_default()
                .to_string();
            self.take(u, "aws_iam_user.s3_access", &name, String::new());
            self.set("s3.names.s3_access_user", name);
        } else {
            self.out
                .missing
                .push("aws_iam_user.s3_access (the state holds no single IAM user)".into());
        }
    }

    fn monitoring(&mut self) {
        if let Some(i) = self.by_output("aws_prometheus_workspace", "prometheus_workspace_id", "id")
        {
            let a = self.layer.resources[i].attributes.clone();
            let id = a.str("id").unwrap_or_default().to_string();
            self.take(i, "aws_prometheus_workspace.this", &id, String::new());
            self.set("monitoring.names.prometheus_workspace_id", id);
            if let Some(alias) = a.str("alias") {
                self.set("monitoring.names.prometheus", alias.to_string());
            }
        }
        if let Some(i) = self.by_output("aws_grafana_workspace", "grafana_workspace_id", "id") {
            let name = self.layer.resources[i]
                .attributes
                .str("name")
                .unwrap_or_default()
                .to_string();
            self.take(i, "aws_grafana_workspace.this", &name, String::new());
            self.set("monitoring.names.grafana", name);
        }
    }

    /// The application inference profiles, each mapped to the configured one with its source
    /// (`model_source.copy_from` ends with it): one of another name gets it in
    /// `[bedrock.names] profiles`. One whose source no profile has stays with Terraform.
    fn profiles(&mut self, configured: &BTreeMap<String, (String, String)>) {
        let found: Vec<usize> = (0..self.layer.resources.len())
            .filter(|i| self.layer.resources[*i].kind == "aws_bedrock_inference_profile")
            .collect();
        let mut taken_keys = BTreeSet::new();
        for i in found {
            let a = &self.layer.resources[i].attributes;
            let name = a.str("name").unwrap_or_default().to_string();
            let source = a.0.get("model_source").and_then(|m| {
                let m = m.as_array().and_then(|l| l.first()).unwrap_or(m);
                m.get("copy_from")?.as_str().map(str::to_string)
            });
            let key = configured.iter().find(|(k, (src, _))| {
                !taken_keys.contains(*k)
                    && source
                        .as_deref()
                        .is_some_and(|s| s.ends_with(&format!("/{src}")))
            });
            let Some((key, (_, default))) = key else {
                continue;
            };
            taken_keys.insert(key.clone());
            if name != *default && !key.contains('.') {
                self.set(&format!("bedrock.names.profiles.{key}"), name.clone());
            }
            self.take(
                i,
                "aws_bedrock_inference_profile.profiles",
                &name,
                String::new(),
            );
        }
    }

    fn bedrock(&mut self) {
        let role = self.find("aws_iam_role", |r| {
            r.attributes
                .str("assume_role_policy")
                .is_some_and(|p| p.contains("bedrock.amazonaws.com"))
        });
        if let Some(i) = role {
            let name = self.layer.resources[i]
                .attributes
                .str("name")
                .unwrap_or_default()
                .to_string();
            self.take(i, "aws_iam_role.bedrock_logging", &name, String::new());
            self.set("bedrock.names.logging_role", name);
        }
        let grafana_role = self.find("aws_iam_role", |r| {
            r.attributes
                .str("assume_role_policy")
                .is_some_and(|p| p.contains("grafana.amazonaws.com"))
        });
        // Grafana's role is named as the workspace: another name stays with its owner.
        let grafana = self
            .out
            .overrides
            .get("monitoring.names.grafana")
            .and_then(Value::as_str)
            .map(str::to_string);
        let grafana_role = grafana_role
            .filter(|i| self.layer.resources[*i].attributes.str("name") == grafana.as_deref());
        if let Some(i) = grafana_role {
            let name = self.layer.resources[i]
                .attributes
                .str("name")
                .unwrap_or_default()
                .to_string();
            self.take(i, "aws_iam_role.grafana", &name, String::new());
        }
    }

    fn endpoints(&mut self) {
        for (suffix, family) in [(".rds", "aurora"), (".elasticache", "redis")] {
            let found = self.find("aws_vpc_endpoint", |r| {
                r.attributes
                    .str("service_name")
                    .is_some_and(|s| s.ends_with(suffix))
            });
            let Some(i) = found else { continue };
            let tags = self.layer.resources[i]
                .attributes
                .0
                .get("tags")
                .cloned()
                .unwrap_or_default();
            let Some(name) = tags["Name"].as_str().map(str::to_string) else {
                self.out.notes.push(format!("the {family} interface endpoint has no `Name` tag: it stays in Terraform, and deploy makes the layer's own"));
                continue;
            };
            self.take(
                i,
                &format!("aws_vpc_endpoint.{family}"),
                &name,
                String::new(),
            );
            if !name.is_empty() {
                self.set(&format!("{family}.names.endpoint"), name);
            }
        }
    }

    /// The secret containers: by the `secret_arns` output first (its keys are the catalog's
    /// names), then by the prefix most of the catalog's names follow (the prefix of the named
    /// ones, when the output names any). A prefix other than the environment's becomes
    /// `[secrets] prefix`; a secret whose name is not `<prefix><secret>` gets its exact name in
    /// `[secrets.names]`.
    fn secrets(&mut self, catalog: &[String], prefix: &str) {
        let secrets: Vec<(usize, String)> = (0..self.layer.resources.len())
            .filter(|i| self.layer.resources[*i].kind == "aws_secretsmanager_secret")
            .filter_map(|i| {
                Some((
                    i,
                    self.layer.resources[i].attributes.str("name")?.to_string(),
                ))
            })
            .collect();
        let by_output = self.secrets_by_output(catalog, &secrets);
        let unnamed: Vec<(usize, String)> = secrets
            .iter()
            .filter(|(i, _)| !by_output.values().any(|j| j == i))
            .cloned()
            .collect();
        let theirs = match named_prefix(&by_output, &secrets) {
            Some(p) => p,
            None => match self.common_prefix(catalog, &unnamed, !by_output.is_empty()) {
                Some(p) => p,
                None if by_output.is_empty() => return,
                None => prefix.to_string(),
            },
        };
        for (i, name) in &secrets {
            let secret = by_output
                .iter()
                .find(|(_, j)| *j == i)
                .map(|(s, _)| s.clone())
                .or_else(|| {
                    name.strip_prefix(theirs.as_str())
                        .filter(|s| catalog.iter().any(|c| c == s))
                        .filter(|s| !by_output.contains_key(*s))
                        .map(str::to_string)
                });
            let Some(secret) = secret else { continue };
            if *name != format!("{theirs}{secret}") {
                self.set(&format!("secrets.names.{secret}"), name.clone());
            }
            let ours = format!("aws_secretsmanager_secret.{secret}");
            self.take(*i, &ours, name, String::new());
        }
        if theirs != prefix {
            self.set("secrets.prefix", theirs);
        }
    }

    /// The catalog's secrets the `secret_arns` output names, by the state's secret of that ARN.
    /// One secret is given to one key only: a second key naming it is said in a note, and
    /// found by the prefix like an unnamed one.
    fn secrets_by_output(
        &mut self,
        catalog: &[String],
        secrets: &[(usize, String)],
    ) -> BTreeMap<String, usize> {
        let Some(arns) = self
            .layer
            .outputs
            .get("secret_arns")
            .and_then(Value::as_object)
        else {
            return BTreeMap::new();
        };
        let mut out: BTreeMap<String, usize> = BTreeMap::new();
        for (k, arn) in arns.iter().filter(|(k, _)| catalog.contains(k)) {
            let Some(arn) = arn.as_str() else { continue };
            let found = secrets.iter().find(|(i, _)| {
                let a = &self.layer.resources[*i].attributes;
                a.str("arn") == Some(arn) || a.str("id") == Some(arn)
            });
            let Some((i, _)) = found else { continue };
            if let Some((first, _)) = out.iter().find(|(_, j)| *j == i) {
                self.out.notes.push(format!(
                    "the `secret_arns` output names one secret for `{first}` and `{k}`; it is taken as `{first}`"
                ));
                continue;
            }
            out.insert(k.clone(), *i);
        }
        out
    }

    /// The prefix most of the catalog's names follow (`psql-password` ends `password` too: the
    /// longest match counts); `None`, with a note, when there is none (`some_named`: the
    /// `secret_arns` output named some, so they are not missing).
    fn common_prefix(
        &mut self,
        catalog: &[String],
        secrets: &[(usize, String)],
        some_named: bool,
    ) -> Option<String> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (_, name) in secrets {
            if let Some(c) = catalog
                .iter()
                .filter(|c| name.ends_with(c.as_str()))
                .max_by_key(|c| c.len())
            {
                *counts
                    .entry(name[..name.len() - c.len()].to_string())
                    .or_default() += 1;
            }
        }
        let Some((theirs, n)) = counts
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(p, n)| (p.clone(), *n))
        else {
            if !some_named {
                self.out
                    .missing
                    .push("the secret containers (the state names none of the catalog)".into());
            }
            return None;
        };
        if theirs.is_empty() {
            self.out.notes.push("the secrets have no prefix; the tool names them `<prefix><secret>`, so those the `secret_arns` output does not name stay with Terraform and deploy makes its own".into());
            return None;
        }
        if counts.len() > 1 {
            self.out.notes.push(format!("the secrets have several prefixes; `{theirs}` ({n} of the catalog) is taken with those the `secret_arns` output names, the others stay in Terraform"));
        }
        Some(theirs)
    }

    /// What is left: what goes with something taken (it leaves Terraform with it), or not this
    /// tool's (it stays in Terraform).
    fn leftovers(&mut self) {
        let mut taken: BTreeSet<String> = BTreeSet::new();
        for i in &self.claimed {
            let a = &self.layer.resources[*i].attributes;
            taken.extend(
                ["name", "id", "arn", "bucket"]
                    .iter()
                    .filter_map(|k| a.str(k).map(str::to_string)),
            );
        }
        taken.extend(self.out.rows.iter().map(|r| r.name.clone()));
        for i in 0..self.layer.resources.len() {
            let r = &self.layer.resources[i];
            if self.claimed.contains(&i) {
                continue;
            }
            let with = WITH_OWNER.iter().find(|(k, owner, _)| {
                *k == r.kind
                    && owner.is_none_or(|o| r.attributes.str(o).is_some_and(|v| taken.contains(v)))
            });
            let Some((_, owner, why)) = with else {
                let why =
                    "not a resource of this layer that the tool manages; it stays in Terraform";
                self.out.unmanaged.push((r.address(), why.into()));
                continue;
            };
            let why = match owner {
                Some(o) => format!("{why} `{}`", r.attributes.str(o).unwrap_or_default()),
                None => why.to_string(),
            };
            let name = r.attributes.str("id").unwrap_or_default().to_string();
            self.take(i, &why, &name, String::new());
        }
    }
}

impl Expected {
    /// The settings import compares, from the environment.
    pub fn of(env: &Environment) -> Result<Expected> {
        let a = data_aurora::AuroraSettings::load(env)?;
        let r = data_redis::RedisSettings::load(env)?;
        let settings = BTreeMap::from([
            ("aurora.instance_class", Value::from(a.instance_class)),
            ("aurora.instance_count", Value::from(a.instance_count)),
            ("aurora.database_name", Value::from(a.database_name)),
            (
                "aurora.deletion_protection",
                Value::from(a.deletion_protection),
            ),
            (
                "aurora.backup_retention_days",
                Value::from(a.backup_retention_days),
            ),
            ("redis.node_type", Value::from(r.node_type)),
            ("redis.num_cache_nodes", Value::from(r.num_cache_nodes)),
            (
                "redis.automatic_failover_enabled",
                Value::from(r.automatic_failover_enabled),
            ),
            ("redis.multi_az_enabled", Value::from(r.multi_az_enabled)),
        ]);
        Ok(Expected {
            redis_port: r.port,
            settings,
            addresses: crate::addresses(env)?,
            profiles: ai_bedrock::BedrockSettings::load(env)?
                .inference_profiles
                .into_iter()
                .map(|(k, p)| {
                    let name = format!("{}-{k}", env.naming_id);
                    (k, (p.source, name))
                })
                .collect(),
        })
    }
}

/// The account guard on a state: the ARN of every resource the tool would take must be in an
/// allowed account and, but for global services, in the environment's region. What stays in
/// Terraform (a certificate in us-east-1 through a provider alias, a record in a shared
/// account) is not the tool's to judge.
fn check_account(env: &Environment, layer: &TfLayer, taken: &BTreeSet<usize>) -> Result<()> {
    for r in taken.iter().map(|i| &layer.resources[*i]) {
        let Some(arn) = r.attributes.str("arn") else {
            continue;
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [_, _, _, region, account, _] = parts[..] else {
            continue;
        };
        if !account.is_empty() && !env.allowed_account_ids.iter().any(|a| a == account) {
            return Err(Error::WrongAccount(format!(
                "{}: the state's resources are in account {account}, and environment `{}` allows only {} (allowed_account_ids); import this environment's own state",
                r.address(),
                env.name,
                env.allowed_account_ids.join(", ")
            )));
        }
        if !region.is_empty() && region != env.region {
            return Err(Error::Config(format!(
                "{}: the state's resources are in {region}, and environment `{}` is in {}; import this environment's own state, or correct its region",
                r.address(),
                env.name,
                env.region
            )));
        }
    }
    Ok(())
}

/// Map a Terraform layer onto the environment. Refuses (exit 3) what could only be taken over
/// by replacement, naming each; changes nothing.
pub fn import(
    env: &Environment,
    layer: &TfLayer,
    expected: &Expected,
    catalog: &[String],
) -> Result<Import> {
    let mut m = Mapper {
        layer,
        claimed: BTreeSet::new(),
        out: Import::default(),
        refused: Vec::new(),
    };
    m.aurora(expected);
    m.redis(expected);
    m.s3();
    m.monitoring();
    m.bedrock();
    m.profiles(&expected.profiles);
    m.endpoints();
    m.secrets(catalog, secrets_seed::names(env).prefix());
    m.leftovers();
    m.keep_tags(env, &expected.addresses);
    m.settle_removed();
    check_account(env, layer, &m.claimed)?;
    if !m.refused.is_empty() {
        return Err(Error::Refused(Refusal { changes: m.refused }));
    }
    Ok(m.out)
}

/// Set `key` in `table`: in place when it is there, so the key keeps its comments and the value
/// its trailing one.
fn set_in(table: &mut dyn toml_edit::TableLike, key: &str, v: toml_edit::Value) {
    match table.get_mut(key) {
        Some(item) => {
            let mut v = v;
            if let Some(old) = item.as_value() {
                *v.decor_mut() = old.decor().clone();
            }
            *item = toml_edit::Item::Value(v);
        }
        None => {
            table.insert(key, toml_edit::Item::Value(v));
        }
    }
}

/// The table at `path` under `root`, made where missing (`implicit`: a parent that shows only
/// through its children's headers); a key the file holds as something other than a table is an
/// error naming it.
fn table_at<'a>(
    root: &'a mut dyn toml_edit::TableLike,
    path: &[&str],
    implicit: bool,
) -> Result<&'a mut dyn toml_edit::TableLike> {
    let mut table = root;
    for (n, p) in path.iter().enumerate() {
        if table.get(p).is_none() {
            let mut t = toml_edit::Table::new();
            t.set_implicit(implicit && n + 1 < path.len());
            table.insert(p, toml_edit::Item::Table(t));
        }
        table = table
            .get_mut(p)
            .and_then(toml_edit::Item::as_table_like_mut)
            .ok_or_else(|| {
                Error::Config(format!(
                    "`{p}` (on the way to `{}`) is not a table in the file",
                    path.join(".")
                ))
            })?;
    }
    Ok(table)
}

fn toml_value(v: &Value) -> Option<toml_edit::Value> {
    match v {
        Value::String(s) => Some(s.as_str().into()),
        Value::Bool(b) => Some((*b).into()),
        Value::Number(n) => n.as_i64().map(Into::into),
        _ => None,
    }
}

impl Import {
    /// Set the overrides in `doc`, keeping what else it holds (comments, order): each under its
    /// table (`[aurora.names]`), made when missing; a key the file holds as something other
    /// than a table is an error naming it.
    pub fn apply_to(&self, doc: &mut toml_edit::DocumentMut) -> Result<()> {
        for (key, value) in &self.overrides {
            let Some(v) = toml_value(value) else { continue };
            let mut path: Vec<&str> = key.split('.').collect();
            let last = path.pop().expect("a key");
            set_in(table_at(doc.as_table_mut(), &path, true)?, last, v);
        }
        if !self.tags.is_empty() {
            let tags = table_at(doc.as_table_mut(), &["tags"], false)?;
            for (k, v) in &self.tags {
                set_in(tags, k, v.as_str().into());
            }
        }
        for (address, tags) in &self.tags_by_resource {
            let path = ["tags_by_resource", address.as_str()];
            let table = table_at(doc.as_table_mut(), &path, true)?;
            for (k, v) in tags {
                set_in(table, k, v.as_str().into());
            }
        }
        Ok(())
    }

    /// The overrides as TOML, for printing.
    pub fn overrides_toml(&self) -> String {
        let mut doc = toml_edit::DocumentMut::new();
        match self.apply_to(&mut doc) {
            Ok(()) => doc.to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// One `removed` block per resource (Terraform 1.7 or later).
    pub fn removed_blocks(&self) -> String {
        self.removed
            .iter()
            .map(|a| {
                format!("removed {{\n  from = {a}\n  lifecycle {{\n    destroy = false\n  }}\n}}\n")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `terraform state rm` per instance (Terraform before 1.7).
    pub fn state_rm(&self) -> String {
        self.instances
            .iter()
            .map(|a| format!("terraform state rm '{a}'\n"))
            .collect()
    }
}

impl std::fmt::Display for Import {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = |pick: fn(&Row) -> &str| self.rows.iter().map(|r| pick(r).len()).max().unwrap_or(0);
        let (wt, wo, wn) = (
            w(|r| &r.terraform).max(9),
            w(|r| &r.ours).max(4),
            w(|r| &r.name).max(4),
        );
        writeln!(
            f,
            "{:wt$}  {:wo$}  {:wn$}  differs",
            "terraform", "ours", "name"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:wt$}  {:wo$}  {:wn$}  {}",
                r.terraform, r.ours, r.name, r.differs
            )?;
        }
        writeln!(f, "\nIn the state, not managed by this tool:")?;
        for (a, why) in &self.unmanaged {
            writeln!(f, "  {a}: {why}")?;
        }
        writeln!(f, "\nNot in the state, so deploy would create it:")?;
        for m in &self.missing {
            writeln!(f, "  {m}")?;
        }
        for n in &self.notes {
            writeln!(f, "\nNote: {n}")?;
        }
        Ok(())
    }
}

/// An import's result, as the operator reads it.
#[derive(Debug)]
pub struct TakeOver {
    /// What was found.
    pub import: Import,
    /// The environment file.
    pub file: std::path::PathBuf,
    /// Whether the overrides were written into it.
    pub wrote: bool,
    /// The environment's name.
    pub env: String,
}

/// Map the Terraform document `bytes` onto environment `env` of `dir`; with `write`, set the
/// overrides in its file (comments and order kept), and leave the file as it was if the result
/// would not load.
pub fn take_over(dir: &std::path::Path, env: &str, bytes: &[u8], write: bool) -> Result<TakeOver> {
    let environment = crate::load(dir, env)?;
    let layer = layer_core::tfread::read(bytes)?;
    let expected = Expected::of(&environment)?;
    let aurora = data_aurora::AuroraSettings::load(&environment)?;
    let catalog: Vec<String> = secrets_seed::catalog(&aurora.postgresql_databases)
        .into_iter()
        .map(|d| d.name)
        .collect();
    let import = import(&environment, &layer, &expected, &catalog)?;
    let file = dir.join(format!("{env}.toml"));
    if write {
        let io = |e: std::io::Error| Error::Other(format!("{}: {e}", file.display()));
        let before = std::fs::read_to_string(&file).map_err(io)?;
        let mut doc: toml_edit::DocumentMut = before
            .parse()
            .map_err(|e| Error::Config(format!("{}: {e}", file.display())))?;
        import.apply_to(&mut doc)?;
        std::fs::write(&file, doc.to_string()).map_err(io)?;
        if let Err(e) = crate::load(dir, env) {
            std::fs::write(&file, before).map_err(io)?;
            return Err(Error::Config(format!(
                "the overrides would make {} invalid, so it was left as it was: {e}",
                file.display()
            )));
        }
    }
    Ok(TakeOver {
        import,
        file,
        wrote: write,
        env: env.to_string(),
    })
}

impl std::fmt::Display for TakeOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.import)?;
        if self.wrote {
            writeln!(f, "Wrote the overrides into {}.", self.file.display())?;
        } else {
            writeln!(
                f,
                "Overrides for {} (--write puts them there):\n",
                self.file.display()
            )?;
            write!(f, "{}", self.import.overrides_toml())?;
        }
        writeln!(f, "\nThen let Terraform forget these resources without destroying them (Terraform 1.7 or later):\n")?;
        write!(f, "{}", self.import.removed_blocks())?;
        writeln!(f, "\nor, with an older Terraform:\n")?;
        write!(f, "{}", self.import.state_rm())?;
        writeln!(
            f,
            "\nNext: `data-and-ai plan {0}` shows each as adopt; `data-and-ai deploy {0} --adopt` takes them over.",
            self.env
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        let dir = crate::manifest_dir().join("../../environments");
        crate::load(&dir, "dev").expect("dev loads")
    }

    fn layer(resources: Value) -> TfLayer {
        let doc = serde_json::json!({"version": 4, "outputs": {}, "resources": resources});
        layer_core::tfread::read(doc.to_string().as_bytes()).expect("a state")
    }

    fn group(port: u64, arn_account: &str) -> Value {
        serde_json::json!([{"mode": "managed", "type": "aws_elasticache_replication_group", "name": "r",
            "module": "module.cache", "instances": [{"index_key": 0, "attributes": {
                "replication_group_id": "tf-cache", "port": port,
                "arn": format!("arn:aws:elasticache:eu-central-2:{arn_account}:replicationgroup:tf-cache")}}]}])
    }

    #[test]
    fn a_group_on_another_port_is_refused_as_a_replacement_and_another_account_as_such() {
        let e = env();
        let expected = Expected::of(&e).unwrap();
        let account = e.allowed_account_ids[0].clone();
        let refused = import(&e, &layer(group(6379, &account)), &expected, &[]).unwrap_err();
        assert!(matches!(refused, Error::Refused(_)), "{refused}");
        let said = refused.to_string();
        assert!(
            said.contains("module.cache.aws_elasticache_replication_group.r[0]")
                && said.contains("port 6379"),
            "{said}"
        );
        let mut plain = group(6380, &account);
        plain[0]["instances"][0]["attributes"]["transit_encryption_enabled"] = false.into();
        let said = import(&e, &layer(plain), &expected, &[])
            .unwrap_err()
            .to_string();
        assert!(said.contains("TLS in transit"), "{said}");
        let wrong = import(&e, &layer(group(6380, "999999999999")), &expected, &[]).unwrap_err();
        assert!(matches!(wrong, Error::WrongAccount(_)), "{wrong}");
        // What stays in Terraform may be elsewhere: a certificate in us-east-1, in another account.
        let mut with_cert = group(6380, &account);
        with_cert
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"mode": "managed",
            "type": "aws_acm_certificate", "name": "edge", "instances": [{"attributes": {
                "arn": "arn:aws:acm:us-east-1:999999999999:certificate/abc"}}]}));
        let found = import(&e, &layer(with_cert), &expected, &[]).unwrap();
        assert_eq!(
            found
                .unmanaged
                .iter()
                .map(|(a, _)| a.as_str())
                .collect::<Vec<_>>(),
            ["aws_acm_certificate.edge"]
        );
    }

    #[test]
    fn names_and_differing_settings_become_overrides_and_count_instances_removed_blocks() {
        let e = env();
        let expected = Expected::of(&e).unwrap();
        let account = e.allowed_account_ids[0].clone();
        let mut resources = group(6380, &account);
        resources[0]["instances"][0]["attributes"]["node_type"] = "cache.r7g.xlarge".into();
        resources[0]["instances"][0]["attributes"]["subnet_group_name"] = "tf-cache-subnets".into();
        resources[0]["instances"][0]["attributes"]["parameter_group_name"] =
            "default.redis7".into();
        resources
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"mode": "managed",
            "type": "aws_elasticache_subnet_group", "name": "s", "module": "module.cache",
            "instances": [{"attributes": {"name": "tf-cache-subnets"}}]}));
        let found = import(&e, &layer(resources), &expected, &[]).unwrap();
        assert_eq!(found.overrides["redis.names.replication_group"], "tf-cache");
        assert_eq!(
            found.overrides["redis.names.subnet_group"],
            "tf-cache-subnets"
        );
        assert_eq!(found.overrides["redis.node_type"], "cache.r7g.xlarge");
        assert!(
            found.rows[0].differs.contains("redis.node_type"),
            "{:?}",
            found.rows
        );
        assert_eq!(
            found.removed,
            [
                "module.cache.aws_elasticache_replication_group.r",
                "module.cache.aws_elasticache_subnet_group.s"
            ]
        );
        assert_eq!(
            found.instances,
            [
                "module.cache.aws_elasticache_replication_group.r[0]",
                "module.cache.aws_elasticache_subnet_group.s"
            ]
        );
        assert!(
            !found.overrides.contains_key("redis.names.parameter_group")
                && found.notes.iter().any(|n| n.contains("default.redis7")),
            "AWS's default group is left to AWS: {:?}",
            found.notes
        );
        expect_test::expect![[r#"
            removed {
              from = module.cache.aws_elasticache_replication_group.r
              lifecycle {
                destroy = false
              }
            }

            removed {
              from = module.cache.aws_elasticache_subnet_group.s
              lifecycle {
                destroy = false
              }
            }
        "#]]
        .assert_eq(&found.removed_blocks());
        expect_test::expect![[r#"
            [redis]
            node_type = "cache.r7g.xlarge"

            [redis.names]
            replication_group = "tf-cache"
            subnet_group = "tf-cache-subnets"
        "#]]
        .assert_eq(&found.overrides_toml());
        assert!(found
            .missing
            .iter()
            .any(|m| m.contains("aws_rds_cluster.aurora")));
    }

    #[test]
    fn tags_every_resource_carries_go_to_tags_and_the_rest_to_tags_by_resource() {
        let e = env();
        let expected = Expected::of(&e).unwrap();
        let account = e.allowed_account_ids[0].clone();
        let tags = |extra: Value| {
            let mut t = serde_json::json!({"Project": "platform", "ManagedBy": "terraform"});
            t.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            t
        };
        let instance = |n: u64, tier: &str| {
            serde_json::json!({"index_key": n, "attributes": {"identifier": format!("tf-db-{}", n + 1),
                "cluster_identifier": "tf-db", "instance_class": "db.r6g.large",
                "tags_all": tags(serde_json::json!({"Tier": tier, "Backup": "daily"}))}})
        };
        let resources = serde_json::json!([
            {"mode": "managed", "type": "aws_rds_cluster", "name": "this", "instances": [{"attributes": {
                "cluster_identifier": "tf-db", "db_subnet_group_name": "tf-db-subnets",
                "arn": format!("arn:aws:rds:eu-central-2:{account}:cluster:tf-db"),
                "tags_all": tags(serde_json::json!({"Name": "tf-db", "Backup": "daily"}))}}]},
            {"mode": "managed", "type": "aws_rds_cluster_instance", "name": "this",
                "instances": [instance(0, "primary"), instance(1, "reader")]},
            {"mode": "managed", "type": "aws_db_subnet_group", "name": "s", "instances": [{"attributes": {
                "name": "tf-db-subnets", "tags_all": tags(serde_json::json!({}))}}]}
        ]);
        let found = import(&e, &layer(resources), &expected, &[]).unwrap();
        let toml = found.overrides_toml();
        let tagged = &toml[toml.find("[tags]").expect("[tags] written")..];
        expect_test::expect![[r#"
            [tags]
            Project = "platform"

            [tags_by_resource."aws_rds_cluster.aurora"]
            Backup = "daily"
            Name = "tf-db"

            [tags_by_resource."aws_rds_cluster_instance.aurora"]
            Backup = "daily"
        "#]]
        .assert_eq(tagged);
        assert!(
            found
                .notes
                .iter()
                .any(|n| n.contains("aws_rds_cluster_instance.aurora") && n.contains("(Tier)")),
            "{:?}",
            found.notes
        );
    }

    #[test]
    fn a_secret_named_beyond_the_prefix_is_found_by_the_secret_arns_output() {
        let e = env();
        let expected = Expected::of(&e).unwrap();
        let account = e.allowed_account_ids[0].clone();
        let arn =
            |n: &str| format!("arn:aws:secretsmanager:eu-central-2:{account}:secret:{n}-AbCdEf");
        let secrets: Vec<Value> = [
            "platform/data/psql-password",
            "platform/data/psql-host",
            "legacy/cache-auth",
        ]
        .iter()
        .enumerate()
        .map(|(i, n)| serde_json::json!({"index_key": i, "attributes": {"name": n, "arn": arn(n)}}))
        .collect();
        let doc = serde_json::json!({"version": 4,
            "outputs": {"secret_arns": {"value": {"redis-password": arn("legacy/cache-auth")}, "type": ["map", "string"]}},
            "resources": [{"mode": "managed", "type": "aws_secretsmanager_secret", "name": "s", "instances": secrets}]});
        let layer = layer_core::tfread::read(doc.to_string().as_bytes()).expect("a state");
        let catalog: Vec<String> = ["psql-host", "psql-password", "redis-password"]
            .map(String::from)
            .to_vec();
        let found = import(&e, &layer, &expected, &catalog).unwrap();
        expect_test::expect![[r#"
            [secrets]
            prefix = "platform/data/"

            [secrets.names]
            redis-password = "legacy/cache-auth"
        "#]]
        .assert_eq(&found.overrides_toml());
        assert_eq!(found.rows.len(), 3, "{:?}", found.rows);
        assert!(found.unmanaged.is_empty(), "{:?}", found.unmanaged);

        // Another module's secrets, more of them under one prefix than ours: the prefix is the
        // one the output's secrets follow, and theirs stay in Terraform.
        let names = [
            "platform/data/psql-password",
            "platform/data/psql-host",
            "platform/data/redis-password",
            "app2/psql-password",
            "app2/psql-host",
            "app2/redis-password",
            "app2/other-password",
        ];
        let secrets: Vec<Value> = names
            .iter()
            .enumerate()
            .map(|(i, n)| serde_json::json!({"index_key": i, "attributes": {"name": n, "arn": arn(n)}}))
            .collect();
        let named: serde_json::Map<String, Value> = catalog
            .iter()
            .map(|c| (c.clone(), arn(&format!("platform/data/{c}")).into()))
            .collect();
        let doc = serde_json::json!({"version": 4,
            "outputs": {"secret_arns": {"value": named, "type": ["map", "string"]}},
            "resources": [{"mode": "managed", "type": "aws_secretsmanager_secret", "name": "s", "instances": secrets}]});
        let layer = layer_core::tfread::read(doc.to_string().as_bytes()).expect("a state");
        let found = import(&e, &layer, &expected, &catalog).unwrap();
        assert_eq!(found.overrides["secrets.prefix"], "platform/data/");
        assert!(!found
            .overrides
            .keys()
            .any(|k| k.starts_with("secrets.names")));
        assert_eq!(found.rows.len(), 3, "{:?}", found.rows);
        assert_eq!(found.unmanaged.len(), 4, "{:?}", found.unmanaged);
        assert!(
            !found.missing.iter().any(|m| m.contains("secret")),
            "{:?}",
            found.missing
        );
    }

    #[test]
    fn a_profile_is_mapped_by_its_source_and_keeps_its_name() {
        let e = env();
        let expected = Expected::of(&e).unwrap();
        let profile = |name: &str, model: &str| {
            serde_json::json!({"mode": "managed", "type": "aws_bedrock_inference_profile",
                "name": name, "instances": [{"attributes": {"name": name, "model_source": [{
                    "copy_from": format!("arn:aws:bedrock:eu-central-2::foundation-model/{model}")}]}}]})
        };
        let resources = serde_json::json!([
            profile("tf-haiku", "anthropic.claude-3-haiku-20240307-v1:0"),
            profile("tf-other", "meta.llama3-70b-instruct-v1:0"),
        ]);
        let found = import(&e, &layer(resources), &expected, &[]).unwrap();
        assert_eq!(
            found.overrides["bedrock.names.profiles.claude-3-haiku"],
            "tf-haiku"
        );
        assert_eq!(
            found
                .rows
                .iter()
                .map(|r| r.ours.as_str())
                .collect::<Vec<_>>(),
            ["aws_bedrock_inference_profile.profiles"]
        );
        assert_eq!(
            found
                .unmanaged
                .iter()
                .map(|(a, _)| a.as_str())
                .collect::<Vec<_>>(),
            ["aws_bedrock_inference_profile.tf-other"]
        );
    }

    #[test]
    fn secrets_under_another_prefix_give_the_secrets_prefix() {
        let e = env();
        let expected = Expected::of(&e).unwrap();
        let secrets: Vec<Value> = ["psql-password", "psql-host", "unrelated"]
            .iter()
            .enumerate()
            .map(|(i, n)| serde_json::json!({"index_key": i, "attributes": {"name": format!("platform/data/{n}")}}))
            .collect();
        let resources = serde_json::json!([{"mode": "managed", "type": "aws_secretsmanager_secret", "name": "s", "instances": secrets}]);
        let catalog = vec![
            "psql-host".to_string(),
            "psql-password".to_string(),
            "password".to_string(),
        ];
        let found = import(&e, &layer(resources), &expected, &catalog).unwrap();
        assert_eq!(found.overrides["secrets.prefix"], "platform/data/");
        let ours: Vec<&str> = found.rows.iter().map(|r| r.ours.as_str()).collect();
        assert_eq!(
            ours,
            [
                "aws_secretsmanager_secret.psql-password",
                "aws_secretsmanager_secret.psql-host"
            ]
        );
        assert_eq!(found.unmanaged.len(), 1, "{:?}", found.unmanaged);
    }
}
