//! Slow creation and slow modification: on request, RDS clusters and instances and ElastiCache
//! replication groups report `creating` (or `modifying`, with the pending values) for a set time
//! before they are `available`, and a Prometheus workspace's logging configuration `CREATING` (or
//! `UPDATING`), so that waiters and update convergence meet what AWS does.
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
    /// A Prometheus workspace's logging configuration, by the workspace's id.
    AmpLogging,
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
    /// Each instance's cluster, as created.
    cluster_of: Mutex<HashMap<String, String>>,
}

/// What AWS answers a modification of a resource that is not `available`.
const REFUSALS: &[(Kind, &str, &str)] = &[
    (
        Kind::DbCluster,
        "InvalidDBClusterStateFault",
        "DB cluster {id} is not in the available state ({status}); wait until it is available.",
    ),
    (
        Kind::DbInstance,
        "InvalidDBInstanceState",
        "Database instance {id} is not in the available state ({status}).",
    ),
    (
        Kind::ReplicationGroup,
        "InvalidReplicationGroupState",
        "Replication group {id} must be in available state to modify it; it is {status}.",
    ),
];

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

    /// AMP made (or changed) the logging configuration of workspace `id`: it reports `CREATING`
    /// (`UPDATING`) for the creation (modification) time, as AWS does while it sets it up.
    pub fn amp_logging_changed(&self, id: &str, created: bool) {
        let s = self.settings();
        let (ms, status) = if created {
            (s.creation_ms, "CREATING")
        } else {
            (s.modification_ms, "UPDATING")
        };
        if ms == 0 {
            return;
        }
        self.busy.lock().expect("not poisoned").insert(
            (Kind::AmpLogging, id.to_lowercase()),
            Busy {
                until: Instant::now() + Duration::from_millis(ms),
                status,
                pending: Vec::new(),
            },
        );
    }

    /// The status of workspace `id`'s logging configuration while AMP still sets it up.
    pub fn amp_logging_busy(&self, id: &str) -> Option<&'static str> {
        self.busy_status(Kind::AmpLogging, id)
    }

    fn busy_status(&self, kind: Kind, id: &str) -> Option<&'static str> {
        let now = Instant::now();
        self.busy
            .lock()
            .expect("not poisoned")
            .get(&(kind, id.to_lowercase()))
            .filter(|b| b.until > now)
            .map(|b| b.status)
    }

    /// A modification of a resource that is busy (`creating`, `modifying`, `backing-up`,
    /// `rebooting`, `failing-over`): AWS's refusal, as its error code and message. An instance is also
    /// refused while its cluster is busy.
    pub fn refusal(
        &self,
        service: &str,
        op: &str,
        form: &[(String, String)],
    ) -> Option<(&'static str, String)> {
        let (kind, key) = match (service, op) {
            ("rds", "ModifyDBCluster" | "FailoverDBCluster") => {
                (Kind::DbCluster, "DBClusterIdentifier")
            }
            ("rds", "ModifyDBInstance" | "RebootDBInstance") => {
                (Kind::DbInstance, "DBInstanceIdentifier")
            }
            (
                "elasticache",
                "ModifyReplicationGroup" | "IncreaseReplicaCount" | "DecreaseReplicaCount",
            ) => (Kind::ReplicationGroup, "ReplicationGroupId"),
            _ => return None,
        };
        let id = param(form, key)?.to_string();
        let mut checks = vec![(kind, id.clone())];
        if kind == Kind::DbInstance {
            let cluster = self
                .cluster_of
                .lock()
                .expect("not poisoned")
                .get(&id.to_lowercase())
                .cloned();
            checks.extend(cluster.map(|c| (Kind::DbCluster, c)));
        }
        checks.into_iter().find_map(|(kind, id)| {
            let status = self.busy_status(kind, &id)?;
            let (_, code, msg) = REFUSALS.iter().find(|(k, _, _)| *k == kind)?;
            Some((*code, msg.replace("{id}", &id).replace("{status}", status)))
        })
    }

    /// A failover moved the writer: the old writer reboots for the modification time, and the
    /// cluster is failing over meanwhile.
    pub fn failed_over(&self, cluster: &str, old_writer: &str) {
        let ms = self.settings().modification_ms;
        if ms == 0 {
            return;
        }
        let until = Instant::now() + Duration::from_millis(ms);
        let mut busy = self.busy.lock().expect("not poisoned");
        for (kind, id, status) in [
            (Kind::DbInstance, old_writer, "rebooting"),
            (Kind::DbCluster, cluster, "failing-over"),
        ] {
            busy.insert(
                (kind, id.to_lowercase()),
                Busy {
                    until,
                    status,
                    pending: Vec::new(),
                },
            );
        }
    }

    /// Note a create or modify request passing through.
    pub fn on_request(&self, service: &str, op: &str, form: &[(String, String)]) {
        if let ("rds", "CreateDBInstance") = (service, op) {
            if let (Some(i), Some(c)) = (
                param(form, "DBInstanceIdentifier"),
                param(form, "DBClusterIdentifier"),
            ) {
                self.cluster_of
                    .lock()
                    .expect("not poisoned")
                    .insert(i.to_lowercase(), c.to_lowercase());
            }
        }
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
            // A manual snapshot: the cluster is `backing-up` meanwhile.
            ("rds", "CreateDBClusterSnapshot") => (
                Kind::DbCluster,
                "DBClusterIdentifier",
                "backing-up",
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
    fn a_busy_resource_refuses_modification_and_so_does_an_instance_of_a_busy_cluster() {
        let slow = Slow::default();
        slow.set(SlowSettings {
            modification_ms: 5_000,
            ..Default::default()
        });
        let create = vec![
            ("DBInstanceIdentifier".to_string(), "c-1".to_string()),
            ("DBClusterIdentifier".to_string(), "c".to_string()),
        ];
        slow.on_request("rds", "CreateDBInstance", &create);
        let instance = form("DBInstanceIdentifier", "c-1");
        assert_eq!(slow.refusal("rds", "ModifyDBInstance", &instance), None);
        slow.on_request("rds", "ModifyDBCluster", &form("DBClusterIdentifier", "c"));
        let (code, msg) = slow.refusal("rds", "ModifyDBInstance", &instance).unwrap();
        assert_eq!(code, "InvalidDBClusterStateFault");
        assert!(msg.contains("modifying"), "{msg}");
        slow.failed_over("x", "x-1");
        let (code, msg) = slow
            .refusal(
                "rds",
                "ModifyDBInstance",
                &form("DBInstanceIdentifier", "x-1"),
            )
            .unwrap();
        assert_eq!(
            (code, msg.contains("rebooting")),
            ("InvalidDBInstanceState", true)
        );
        slow.on_request(
            "elasticache",
            "ModifyReplicationGroup",
            &form("ReplicationGroupId", "g"),
        );
        let (code, _) = slow
            .refusal(
                "elasticache",
                "IncreaseReplicaCount",
                &form("ReplicationGroupId", "g"),
            )
            .unwrap();
        assert_eq!(code, "InvalidReplicationGroupState");
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
