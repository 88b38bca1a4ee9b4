//! ElastiCache replication groups where moto falls short of AWS: the replica-count APIs
//! (`IncreaseReplicaCount`, `DecreaseReplicaCount`, HTTP 500 in moto), the cache clusters that
//! make up a group (`DescribeCacheClusters` knows none of them), and deletion (moto leaves a
//! deleted group `deleting` forever; AWS removes it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::protocol::escape;
use crate::xml;

#[derive(Debug, Clone, Default)]
struct Group {
    replicas: Option<u32>,
    failover: bool,
    multi_az: bool,
    node_type: String,
    engine_version: String,
    subnet_group: String,
    parameter_group: String,
    security_groups: Vec<String>,
    deleted: Option<Instant>,
}

/// What the gateway knows of the groups that passed through it.
#[derive(Debug, Default)]
pub struct ReplicationGroups {
    groups: Mutex<HashMap<String, Group>>,
    /// Cache subnet groups deleted through the gateway (moto cannot delete them).
    deleted_subnet_groups: Mutex<std::collections::HashSet<String>>,
}

fn get<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn flag(form: &[(String, String)], key: &str) -> Option<bool> {
    get(form, key).map(|v| v.eq_ignore_ascii_case("true"))
}

/// The replicas a create asks for: `ReplicasPerNodeGroup`, or `NumCacheClusters` less the primary.
fn requested_replicas(form: &[(String, String)]) -> Option<u32> {
    get(form, "ReplicasPerNodeGroup")
        .and_then(|r| r.parse().ok())
        .or_else(|| {
            get(form, "NumCacheClusters")
                .and_then(|n| n.parse::<u32>().ok())
                .map(|n| n.saturating_sub(1))
        })
}

fn members(form: &[(String, String)], prefix: &str) -> Vec<String> {
    form.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v.clone())
        .collect()
}

/// The answer a replica-count call gets, once moto's description of the group is known.
pub enum ReplicaCount {
    /// Not a replica-count call.
    NotOurs,
    /// Fetch the group from moto and answer with it (`DescribeReplicationGroups` of this id).
    Answer {
        /// The group.
        id: String,
    },
}

impl ReplicationGroups {
    /// Note a request; for the replica-count calls, record the new count.
    pub fn on_request(&self, op: &str, form: &[(String, String)]) -> ReplicaCount {
        let Some(id) = get(form, "ReplicationGroupId").map(str::to_lowercase) else {
            return ReplicaCount::NotOurs;
        };
        let mut groups = self.groups.lock().expect("not poisoned");
        match op {
            "CreateReplicationGroup" => {
                let g = Group {
                    replicas: requested_replicas(form),
                    failover: flag(form, "AutomaticFailoverEnabled").unwrap_or(false),
                    multi_az: flag(form, "MultiAZEnabled").unwrap_or(false),
                    node_type: get(form, "CacheNodeType").unwrap_or_default().into(),
                    engine_version: get(form, "EngineVersion").unwrap_or("7.1").into(),
                    subnet_group: get(form, "CacheSubnetGroupName")
                        .unwrap_or("default")
                        .into(),
                    parameter_group: get(form, "CacheParameterGroupName")
                        .unwrap_or("default.redis7")
                        .into(),
                    security_groups: members(form, "SecurityGroupIds."),
                    deleted: None,
                };
                groups.insert(id, g);
                ReplicaCount::NotOurs
            }
            "ModifyReplicationGroup" => {
                if let Some(g) = groups.get_mut(&id) {
                    g.failover = flag(form, "AutomaticFailoverEnabled").unwrap_or(g.failover);
                    g.multi_az = flag(form, "MultiAZEnabled").unwrap_or(g.multi_az);
                    if let Some(v) = get(form, "CacheNodeType") {
                        g.node_type = v.into();
                    }
                    if let Some(v) = get(form, "EngineVersion") {
                        g.engine_version = v.into();
                    }
                    if let Some(v) = get(form, "CacheParameterGroupName") {
                        g.parameter_group = v.into();
                    }
                    let sgs = members(form, "SecurityGroupIds.");
                    if !sgs.is_empty() {
                        g.security_groups = sgs;
                    }
                }
                ReplicaCount::NotOurs
            }
            "IncreaseReplicaCount" | "DecreaseReplicaCount" => {
                let Some(g) = groups.get_mut(&id) else {
                    return ReplicaCount::Answer { id };
                };
                if let Some(n) = get(form, "NewReplicaCount").and_then(|n| n.parse().ok()) {
                    g.replicas = Some(n);
                }
                ReplicaCount::Answer { id }
            }
            "DeleteReplicationGroup" => {
                if let Some(g) = groups.get_mut(&id) {
                    g.deleted = Some(Instant::now());
                }
                ReplicaCount::NotOurs
            }
            _ => ReplicaCount::NotOurs,
        }
    }

    /// AWS's refusal of a create, modify or replica-count change that breaks its rules for a
    /// group with cluster mode disabled: multi-AZ needs automatic failover, automatic failover
    /// needs a replica, and a group has one primary and at most five replicas.
    pub fn refusal(&self, op: &str, form: &[(String, String)]) -> Option<(&'static str, String)> {
        let id = get(form, "ReplicationGroupId")?.to_lowercase();
        let groups = self.groups.lock().expect("not poisoned");
        let current = groups.get(&id);
        let invalid = |why: &str| Some(("InvalidParameterValue", why.to_string()));
        let (failover, multi_az, replicas) = match op {
            "CreateReplicationGroup" => {
                let nodes = get(form, "NumCacheClusters").and_then(|n| n.parse::<u32>().ok());
                if nodes.is_some_and(|n| !(1..=6).contains(&n)) {
                    return invalid("NumCacheClusters must be between 1 and 6.");
                }
                if requested_replicas(form).is_some_and(|r| r > 5) {
                    return invalid("ReplicasPerNodeGroup must be between 0 and 5.");
                }
                (
                    flag(form, "AutomaticFailoverEnabled").unwrap_or(false),
                    flag(form, "MultiAZEnabled").unwrap_or(false),
                    requested_replicas(form).unwrap_or(0),
                )
            }
            "ModifyReplicationGroup" => {
                let c = current?;
                (
                    flag(form, "AutomaticFailoverEnabled").unwrap_or(c.failover),
                    flag(form, "MultiAZEnabled").unwrap_or(c.multi_az),
                    c.replicas.unwrap_or(0),
                )
            }
            "IncreaseReplicaCount" | "DecreaseReplicaCount" => {
                let c = current?;
                let n = get(form, "NewReplicaCount")?.parse::<u32>().ok()?;
                if n > 5 {
                    return invalid("NewReplicaCount must be between 0 and 5.");
                }
                (c.failover, c.multi_az, n)
            }
            _ => return None,
        };
        if multi_az && !failover {
            return Some((
                "InvalidParameterCombination",
                "Multi-AZ cannot be enabled unless automatic failover is enabled.".into(),
            ));
        }
        if failover && replicas == 0 {
            return Some((
                "InvalidParameterCombination",
                "Automatic failover needs at least one read replica in the replication group."
                    .into(),
            ));
        }
        None
    }

    /// Note a deleted cache subnet group.
    pub fn delete_subnet_group(&self, name: &str) {
        self.deleted_subnet_groups
            .lock()
            .expect("not poisoned")
            .insert(name.to_lowercase());
    }

    /// Whether a cache subnet group was deleted; `revive` forgets the deletion (a new create).
    pub fn subnet_group_deleted(&self, name: &str, revive: bool) -> bool {
        let mut deleted = self.deleted_subnet_groups.lock().expect("not poisoned");
        if revive {
            deleted.remove(&name.to_lowercase())
        } else {
            deleted.contains(&name.to_lowercase())
        }
    }

    /// Drop deleted subnet groups from a describe answer.
    pub fn hide_deleted_subnet_groups(&self, body: &str) -> String {
        let deleted = self.deleted_subnet_groups.lock().expect("not poisoned");
        if deleted.is_empty() {
            return body.to_string();
        }
        xml::map_members(body, "CacheSubnetGroup", |block| {
            let name = xml::text(block, "CacheSubnetGroupName")?.to_lowercase();
            deleted.contains(&name).then(String::new)
        })
    }

    /// Whether a group was deleted more than `after` ago (AWS no longer knows it).
    pub fn gone(&self, id: &str, after: Duration) -> bool {
        let groups = self.groups.lock().expect("not poisoned");
        groups
            .get(&id.to_lowercase())
            .and_then(|g| g.deleted)
            .is_some_and(|at| at.elapsed() >= after)
    }

    /// Rewrite every `<ReplicationGroup>` of an answer: members by the replica count, deleted
    /// groups `deleting` and then gone.
    pub fn on_response(&self, body: &str, after: Duration) -> String {
        let groups = self.groups.lock().expect("not poisoned");
        xml::map_members(body, "ReplicationGroup", |block| {
            let id = xml::text(block, "ReplicationGroupId")?.to_lowercase();
            let g = groups.get(&id)?;
            if let Some(at) = g.deleted {
                if at.elapsed() >= after {
                    return Some(String::new());
                }
                return Some(
                    block.replace("<Status>available</Status>", "<Status>deleting</Status>"),
                );
            }
            let replicas = g.replicas?;
            Some(with_members(block, &id, replicas + 1))
        })
    }

    /// `DescribeCacheClusters` for the clusters of the groups we know.
    pub fn describe_cache_clusters(
        &self,
        form: &[(String, String)],
        region: &str,
    ) -> Option<String> {
        let groups = self.groups.lock().expect("not poisoned");
        let wanted = get(form, "CacheClusterId").map(str::to_lowercase);
        let mut out = String::new();
        for (id, g) in groups.iter().filter(|(_, g)| g.deleted.is_none()) {
            let n = g.replicas.unwrap_or(0) + 1;
            for i in 1..=n {
                let cluster = format!("{id}-{i:03}");
                if wanted.as_ref().is_some_and(|w| *w != cluster) {
                    continue;
                }
                let sgs: String = g
                    .security_groups
                    .iter()
                    .map(|s| format!("<member><SecurityGroupId>{}</SecurityGroupId><Status>active</Status></member>", escape(s)))
                    .collect();
                out.push_str(&format!(
                    "<CacheCluster><CacheClusterId>{cluster}</CacheClusterId><ReplicationGroupId>{id}</ReplicationGroupId><CacheNodeType>{}</CacheNodeType><Engine>redis</Engine><EngineVersion>{}</EngineVersion><CacheClusterStatus>available</CacheClusterStatus><NumCacheNodes>1</NumCacheNodes><PreferredAvailabilityZone>{region}{}</PreferredAvailabilityZone><CacheSubnetGroupName>{}</CacheSubnetGroupName><SecurityGroups>{sgs}</SecurityGroups><CacheParameterGroup><CacheParameterGroupName>{}</CacheParameterGroupName><ParameterApplyStatus>in-sync</ParameterApplyStatus></CacheParameterGroup><ARN>arn:aws:elasticache:{region}:{}:cluster:{cluster}</ARN></CacheCluster>",
                    escape(&g.node_type),
                    escape(&g.engine_version),
                    ["a", "b", "c"][(i as usize - 1) % 3],
                    escape(&g.subnet_group),
                    escape(&g.parameter_group),
                    crate::emulated::ACCOUNT,
                ));
            }
        }
        if wanted.is_some() && out.is_empty() {
            return None;
        }
        Some(format!("<CacheClusters>{out}</CacheClusters>"))
    }
}

/// A group's block with `n` members: the first the primary, the others replicas.
fn with_members(block: &str, id: &str, n: u32) -> String {
    let primary = xml::text(block, "Address").unwrap_or_default();
    let port = xml::text(block, "Port").unwrap_or_else(|| "6379".into());
    let suffix = primary
        .split_once('.')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_default();
    let clusters: String = (1..=n)
        .map(|i| format!("<ClusterId>{id}-{i:03}</ClusterId>"))
        .collect();
    let node_members: String = (1..=n)
        .map(|i| {
            let role = if i == 1 { "primary" } else { "replica" };
            format!(
                "<NodeGroupMember><CacheClusterId>{id}-{i:03}</CacheClusterId><CacheNodeId>0001</CacheNodeId><ReadEndpoint><Address>{id}-{i:03}.{suffix}</Address><Port>{port}</Port></ReadEndpoint><PreferredAvailabilityZone>us-east-1{}</PreferredAvailabilityZone><CurrentRole>{role}</CurrentRole></NodeGroupMember>",
                ["a", "b", "c"][(i as usize - 1) % 3]
            )
        })
        .collect();
    let b = xml::set_element(block, "MemberClusters", &clusters);
    xml::set_element(&b, "NodeGroupMembers", &node_members)
}
