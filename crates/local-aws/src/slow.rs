//! Slow creation and slow modification: on request, RDS clusters and instances and ElastiCache
//! replication groups report `creating` (or `modifying`, with the pending values) for a set time
//! before they are `available`, so that waiters and update convergence meet what AWS does.
//! Moto makes them available at once; the gateway rewrites the describe answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How long resources stay busy; zero turns slowness off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlowSettings {
    /// Milliseconds a new resource reports `creating`.
    #[serde(default)]
    pub creation_ms: u64,
    /// For Aurora clusters and instances, instead of `creation_ms`.
    #[serde(default)]
    pub aurora_creation_ms: Option<u64>,
    /// For ElastiCache replication groups, instead of `creation_ms`.
    #[serde(default)]
    pub redis_creation_ms: Option<u64>,
    /// For Grafana workspaces, instead of `creation_ms`.
    #[serde(default)]
    pub grafana_creation_ms: Option<u64>,
    /// Milliseconds a modified resource reports `modifying`.
    #[serde(default)]
    pub modification_ms: u64,
    /// Milliseconds after `CreateRole` during which a service that is handed the role cannot
    /// use it yet (IAM propagation): Bedrock's logging configuration and Grafana answer with
    /// their validation error meanwhile.
    #[serde(default)]
    pub role_propagation_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    DbCluster,
    DbInstance,
    ReplicationGroup,
}

#[derive(Debug, Clone)]
struct Busy {
    until: Instant,
    status: &'static str,
    /// Pending values as `(element, value)`, shown in `PendingModifiedValues`.
    pending: Vec<(String, String)>,
}

/// The gateway's record of busy resources.
#[derive(Debug, Default)]
pub struct Slow {
    settings: Mutex<SlowSettings>,
    busy: Mutex<HashMap<(Kind, String), Busy>>,
}

fn param<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl SlowSettings {
    /// Milliseconds a new Aurora cluster or instance reports `creating`.
    pub fn aurora(&self) -> u64 {
        self.aurora_creation_ms.unwrap_or(self.creation_ms)
    }

    /// Milliseconds a new replication group reports `creating`.
    pub fn redis(&self) -> u64 {
        self.redis_creation_ms.unwrap_or(self.creation_ms)
    }

    /// Milliseconds a new Grafana workspace reports `CREATING`.
    pub fn grafana(&self) -> u64 {
        self.grafana_creation_ms.unwrap_or(self.creation_ms)
    }
}

impl Slow {
    /// Set the durations.
    pub fn set(&self, s: SlowSettings) {
        *self.settings.lock().expect("not poisoned") = s;
    }

    /// The durations.
    pub fn settings(&self) -> SlowSettings {
        *self.settings.lock().expect("not poisoned")
    }

    /// Note a create or modify request passing through.
    pub fn on_request(&self, service: &str, op: &str, form: &[(String, String)]) {
        let s = self.settings();
        let (kind, id_key, status, ms) = match (service, op) {
            ("rds", "CreateDBCluster") => (
                Kind::DbCluster,
                "DBClusterIdentifier",
                "creating",
                s.aurora(),
            ),
            ("rds", "CreateDBInstance") => (
                Kind::DbInstance,
                "DBInstanceIdentifier",
                "creating",
                s.aurora(),
            ),
            ("rds", "ModifyDBCluster") => (
                Kind::DbCluster,
                "DBClusterIdentifier",
                "modifying",
                s.modification_ms,
            ),
            ("rds", "ModifyDBInstance") => (
                Kind::DbInstance,
                "DBInstanceIdentifier",
                "modifying",
                s.modification_ms,
            ),
            ("rds", "RebootDBInstance") => (
                Kind::DbInstance,
                "DBInstanceIdentifier",
                "rebooting",
                s.modification_ms,
            ),
            ("elasticache", "CreateReplicationGroup") => (
                Kind::ReplicationGroup,
                "ReplicationGroupId",
                "creating",
                s.redis(),
            ),
            (
                "elasticache",
                "ModifyReplicationGroup" | "IncreaseReplicaCount" | "DecreaseReplicaCount",
            ) => (
                Kind::ReplicationGroup,
                "ReplicationGroupId",
                "modifying",
                s.modification_ms,
            ),
            _ => return,
        };
        if ms == 0 {
            return;
        }
        let Some(id) = param(form, id_key) else {
            return;
        };
        let pending = match op {
            "ModifyDBInstance" => param(form, "DBInstanceClass")
                .map(|c| vec![("DBInstanceClass".to_string(), c.to_string())])
                .unwrap_or_default(),
            "ModifyDBCluster" => param(form, "EngineVersion")
                .map(|v| vec![("EngineVersion".to_string(), v.to_string())])
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let busy = Busy {
            until: Instant::now() + Duration::from_millis(ms),
            status,
            pending,
        };
        self.busy
            .lock()
            .expect("not poisoned")
            .insert((kind, id.to_lowercase()), busy);
    }

    /// Rewrite a describe answer so that busy resources say so.
    pub fn on_response(&self, service: &str, op: &str, body: &str) -> Option<String> {
        let (kind, member, id_tag, status_tag) = match (service, op) {
            ("rds", "DescribeDBClusters" | "CreateDBCluster" | "ModifyDBCluster") => (
                Kind::DbCluster,
                "DBCluster",
                "DBClusterIdentifier",
                "Status",
            ),
            (
                "rds",
                "DescribeDBInstances"
                | "CreateDBInstance"
                | "ModifyDBInstance"
                | "RebootDBInstance",
            ) => (
                Kind::DbInstance,
                "DBInstance",
                "DBInstanceIdentifier",
                "DBInstanceStatus",
            ),
            (
                "elasticache",
                "DescribeReplicationGroups"
                | "CreateReplicationGroup"
                | "ModifyReplicationGroup"
                | "IncreaseReplicaCount"
                | "DecreaseReplicaCount",
            ) => (
                Kind::ReplicationGroup,
                "ReplicationGroup",
                "ReplicationGroupId",
                "Status",
            ),
            _ => return None,
        };
        let now = Instant::now();
        let mut busy = self.busy.lock().expect("not poisoned");
        busy.retain(|_, b| b.until > now);
        if busy.is_empty() {
            return None;
        }
        let rewritten = crate::xml::map_members(body, member, |block| {
            let id = crate::xml::text(block, id_tag)?.to_lowercase();
            let b = busy.get(&(kind, id))?;
            let mut out = block.replace(
                &format!("<{status_tag}>available</{status_tag}>"),
                &format!("<{status_tag}>{}</{status_tag}>", b.status),
            );
            if !b.pending.is_empty() {
                let inner: String = b
                    .pending
                    .iter()
                    .map(|(k, v)| format!("<{k}>{}</{k}>", crate::protocol::escape(v)))
                    .collect();
                out = crate::xml::set_element(&out, "PendingModifiedValues", &inner);
            }
            Some(out)
        });
        (rewritten != body).then_some(rewritten)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(k: &str, v: &str) -> Vec<(String, String)> {
        vec![(k.to_string(), v.to_string())]
    }

    #[test]
    fn each_service_can_take_its_own_time() {
        let slow = Slow::default();
        slow.set(SlowSettings {
            creation_ms: 5_000,
            redis_creation_ms: Some(0),
            ..Default::default()
        });
        slow.on_request("rds", "CreateDBCluster", &form("DBClusterIdentifier", "c"));
        slow.on_request(
            "elasticache",
            "CreateReplicationGroup",
            &form("ReplicationGroupId", "g"),
        );
        let cluster = "<DBClusters><DBCluster><DBClusterIdentifier>c</DBClusterIdentifier><Status>available</Status></DBCluster></DBClusters>";
        assert!(slow
            .on_response("rds", "DescribeDBClusters", cluster)
            .is_some_and(|b| b.contains("<Status>creating</Status>")));
        let group = "<ReplicationGroups><ReplicationGroup><ReplicationGroupId>g</ReplicationGroupId><Status>available</Status></ReplicationGroup></ReplicationGroups>";
        assert_eq!(
            slow.on_response("elasticache", "DescribeReplicationGroups", group),
            None,
            "Redis's own zero wins over the default"
        );
        let s = slow.settings();
        assert_eq!((s.aurora(), s.redis(), s.grafana()), (5_000, 0, 5_000));
    }
}
