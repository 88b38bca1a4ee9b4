//! Creations that fail as they can on AWS: `POST /_gateway/fail-creation` makes the next
//! creation of a kind end in its failed state, which it never leaves by itself (a replication
//! group `create-failed`, a cluster `inaccessible-encryption-credentials`, an instance
//! `incompatible-network`, `incompatible-parameters` or `failed`, a Prometheus or Grafana
//! workspace `CREATION_FAILED`). Moto's creations always succeed; the gateway rewrites the
//! answers that describe the failed resource.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A kind of resource whose creation can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An Aurora cluster.
    DbCluster,
    /// An Aurora instance.
    DbInstance,
    /// An ElastiCache replication group.
    ReplicationGroup,
    /// A Managed Prometheus workspace.
    PrometheusWorkspace,
    /// A Managed Grafana workspace.
    GrafanaWorkspace,
}

impl Kind {
    /// The failed states AWS documents for this kind's creation.
    pub fn failed_states(self) -> &'static [&'static str] {
        match self {
            Kind::DbCluster => &["inaccessible-encryption-credentials", "failed"],
            Kind::DbInstance => &["incompatible-network", "incompatible-parameters", "failed"],
            Kind::ReplicationGroup => &["create-failed"],
            Kind::PrometheusWorkspace | Kind::GrafanaWorkspace => &["CREATION_FAILED"],
        }
    }
}

/// A request to fail the next creation of `kind` in `state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailCreation {
    /// The kind.
    pub kind: Kind,
    /// The failed state; the kind's first when omitted.
    #[serde(default)]
    pub state: Option<String>,
}

/// The gateway's record of failures to come and of failed resources.
#[derive(Debug, Default)]
pub struct FailureStates {
    next: Mutex<HashMap<Kind, String>>,
    failed: Mutex<HashMap<(Kind, String), String>>,
}

/// The create operation and the id parameter of each kind that names its id in the request.
fn create_of(service: &str, op: &str) -> Option<(Kind, &'static str)> {
    match (service, op) {
        ("rds", "CreateDBCluster") => Some((Kind::DbCluster, "DBClusterIdentifier")),
        ("rds", "CreateDBInstance") => Some((Kind::DbInstance, "DBInstanceIdentifier")),
        ("elasticache", "CreateReplicationGroup") => {
            Some((Kind::ReplicationGroup, "ReplicationGroupId"))
        }
        _ => None,
    }
}

impl FailureStates {
    /// Arm a failure; refused with the reason when the state is not one of the kind's.
    pub fn arm(&self, f: FailCreation) -> Result<String, String> {
        let states = f.kind.failed_states();
        let state = f.state.unwrap_or_else(|| states[0].to_string());
        if !states.contains(&state.as_str()) {
            return Err(format!(
                "`{state}` is not a failed state of {:?}; one of: {}",
                f.kind,
                states.join(", ")
            ));
        }
        self.next
            .lock()
            .expect("not poisoned")
            .insert(f.kind, state.clone());
        Ok(state)
    }

    /// Forget every armed failure and every failed resource.
    pub fn clear(&self) {
        self.next.lock().expect("not poisoned").clear();
        self.failed.lock().expect("not poisoned").clear();
    }

    fn take(&self, kind: Kind) -> Option<String> {
        self.next.lock().expect("not poisoned").remove(&kind)
    }

    /// A create accepted: when its kind is armed, the resource it made has failed.
    pub fn on_created(&self, service: &str, op: &str, form: &[(String, String)], answer: &str) {
        let made = match create_of(service, op) {
            Some((kind, key)) => form
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| (kind, v.to_lowercase())),
            None => match (service, op) {
                ("aps", "CreateWorkspace") => {
                    json_id(answer, "workspaceId").map(|id| (Kind::PrometheusWorkspace, id))
                }
                ("grafana", "CreateWorkspace") => serde_json::from_str::<serde_json::Value>(answer)
                    .ok()
                    .and_then(|v| v["workspace"]["id"].as_str().map(str::to_string))
                    .map(|id| (Kind::GrafanaWorkspace, id)),
                _ => None,
            },
        };
        let Some((kind, id)) = made else { return };
        if let Some(state) = self.take(kind) {
            self.failed
                .lock()
                .expect("not poisoned")
                .insert((kind, id), state);
        }
    }

    fn state_of(&self, kind: Kind, id: &str) -> Option<String> {
        self.failed
            .lock()
            .expect("not poisoned")
            .get(&(kind, id.to_lowercase()))
            .cloned()
    }

    /// Rewrite an answer that describes failed resources: their status is the failed state.
    pub fn on_response(&self, service: &str, body: &str) -> Option<String> {
        if self.failed.lock().expect("not poisoned").is_empty() {
            return None;
        }
        let out = match service {
            "rds" => {
                let clusters = self.xml(
                    body,
                    Kind::DbCluster,
                    "DBCluster",
                    "DBClusterIdentifier",
                    "Status",
                );
                self.xml(
                    &clusters,
                    Kind::DbInstance,
                    "DBInstance",
                    "DBInstanceIdentifier",
                    "DBInstanceStatus",
                )
            }
            "elasticache" => self.xml(
                body,
                Kind::ReplicationGroup,
                "ReplicationGroup",
                "ReplicationGroupId",
                "Status",
            ),
            "aps" => self.json(body, Kind::PrometheusWorkspace)?,
            "grafana" => self.json(body, Kind::GrafanaWorkspace)?,
            _ => return None,
        };
        (out != body).then_some(out)
    }

    fn xml(&self, body: &str, kind: Kind, member: &str, id_tag: &str, status_tag: &str) -> String {
        crate::xml::map_members(body, member, |block| {
            let id = crate::xml::text(block, id_tag)?;
            let state = self.state_of(kind, &id)?;
            Some(crate::xml::set_element(block, status_tag, &state))
        })
    }

    fn json(&self, body: &str, kind: Kind) -> Option<String> {
        let mut v: serde_json::Value = serde_json::from_str(body).ok()?;
        let mut set = |w: &mut serde_json::Value| {
            let Some(id) = w["workspaceId"].as_str().or(w["id"].as_str()) else {
                return;
            };
            let Some(state) = self.state_of(kind, id) else {
                return;
            };
            match kind {
                Kind::PrometheusWorkspace => {
                    w["status"] = serde_json::json!({ "statusCode": state })
                }
                _ => w["status"] = serde_json::json!(state),
            }
        };
        if let Some(w) = v.get_mut("workspace") {
            set(w);
        }
        if let Some(list) = v.get_mut("workspaces").and_then(|l| l.as_array_mut()) {
            list.iter_mut().for_each(&mut set);
        }
        Some(v.to_string())
    }
}

fn json_id(body: &str, key: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get(key)?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_creation_of_an_armed_kind_fails_and_stays_failed() {
        let f = FailureStates::default();
        assert!(f
            .arm(FailCreation {
                kind: Kind::ReplicationGroup,
                state: Some("failed".into())
            })
            .is_err());
        f.arm(FailCreation {
            kind: Kind::DbInstance,
            state: Some("incompatible-network".into()),
        })
        .unwrap();
        let form = vec![("DBInstanceIdentifier".to_string(), "I-1".to_string())];
        f.on_created("rds", "CreateDBInstance", &form, "");
        let other = vec![("DBInstanceIdentifier".to_string(), "i-2".to_string())];
        f.on_created("rds", "CreateDBInstance", &other, "");
        let body = "<DBInstances><DBInstance><DBInstanceIdentifier>i-1</DBInstanceIdentifier><DBInstanceStatus>available</DBInstanceStatus></DBInstance><DBInstance><DBInstanceIdentifier>i-2</DBInstanceIdentifier><DBInstanceStatus>available</DBInstanceStatus></DBInstance></DBInstances>";
        let out = f.on_response("rds", body).unwrap();
        assert_eq!(
            crate::xml::texts(&out, "DBInstanceStatus"),
            ["incompatible-network", "available"],
            "only the next creation fails"
        );
    }

    #[test]
    fn workspaces_fail_in_their_own_shapes() {
        let f = FailureStates::default();
        f.arm(FailCreation {
            kind: Kind::PrometheusWorkspace,
            state: None,
        })
        .unwrap();
        f.on_created("aps", "CreateWorkspace", &[], r#"{"workspaceId":"ws-1"}"#);
        let out = f
            .on_response(
                "aps",
                r#"{"workspace":{"workspaceId":"ws-1","status":{"statusCode":"ACTIVE"}}}"#,
            )
            .unwrap();
        assert!(out.contains(r#""statusCode":"CREATION_FAILED""#), "{out}");
    }
}
