//! Deleted Aurora clusters that AWS still shows `deleting`: moto removes a cluster the moment
//! `DeleteDBCluster` returns; AWS takes minutes, during which a describe shows the cluster
//! `deleting` and its name cannot be created again. The gateway keeps the deleted cluster's
//! description for the modification time and answers for it meanwhile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::xml;

/// Clusters deleted through the gateway, by lower-case identifier: until when they show, and
/// their last description with the status `deleting`.
#[derive(Debug, Default)]
pub struct LeavingClusters {
    clusters: Mutex<HashMap<String, (Instant, String)>>,
}

/// What the gateway answers for a cluster still being deleted.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// A describe: the inner XML of `DescribeDBClustersResult`.
    Described(String),
    /// A refusal, as AWS's error code and message.
    Refused(&'static str, String),
}

fn param<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl LeavingClusters {
    /// Note what `DeleteDBCluster` answered: the cluster shows `deleting` for `hold`.
    pub fn on_deleted(&self, body: &str, hold: Duration) {
        if hold.is_zero() {
            return;
        }
        let mut found = None;
        xml::map_members(body, "DBCluster", |block| {
            let id = xml::text(block, "DBClusterIdentifier")?.to_lowercase();
            let block = xml::set_element(block, "Status", "deleting");
            found = Some((id, block));
            None
        });
        if let Some((id, block)) = found {
            self.clusters
                .lock()
                .expect("not poisoned")
                .insert(id, (Instant::now() + hold, block));
        }
    }

    fn block(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        let mut clusters = self.clusters.lock().expect("not poisoned");
        clusters.retain(|_, (until, _)| *until > now);
        clusters.get(&id.to_lowercase()).map(|(_, b)| b.clone())
    }

    /// The answer for a call on a cluster still being deleted; `None` lets it through.
    pub fn answer(&self, op: &str, form: &[(String, String)]) -> Option<Answer> {
        let id = param(form, "DBClusterIdentifier")?;
        let block = self.block(id)?;
        Some(match op {
            "DescribeDBClusters" => Answer::Described(format!("<DBClusters>{block}</DBClusters>")),
            "CreateDBCluster" => Answer::Refused(
                "DBClusterAlreadyExistsFault",
                format!("DB cluster {id} already exists."),
            ),
            "ModifyDBCluster" | "DeleteDBCluster" | "FailoverDBCluster" | "CreateDBInstance" => {
                Answer::Refused(
                    "InvalidDBClusterStateFault",
                    format!("DB cluster {id} is not in the available state (deleting)."),
                )
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(k: &str, v: &str) -> Vec<(String, String)> {
        vec![(k.to_string(), v.to_string())]
    }

    const DELETED: &str = "<DeleteDBClusterResult><DBCluster><DBClusterIdentifier>Dal-Aurora</DBClusterIdentifier><Status>available</Status></DBCluster></DeleteDBClusterResult>";

    #[test]
    fn a_deleted_cluster_shows_deleting_and_keeps_its_name_for_the_hold() {
        let leaving = LeavingClusters::default();
        leaving.on_deleted(DELETED, Duration::from_secs(60));
        let id = form("DBClusterIdentifier", "dal-aurora");
        let Some(Answer::Described(inner)) = leaving.answer("DescribeDBClusters", &id) else {
            panic!("described");
        };
        assert!(inner.contains("<Status>deleting</Status>"), "{inner}");
        assert!(!inner.contains("available"), "{inner}");
        assert!(matches!(
            leaving.answer("CreateDBCluster", &id),
            Some(Answer::Refused("DBClusterAlreadyExistsFault", _))
        ));
        assert_eq!(
            leaving.answer("DescribeDBClusters", &form("DBClusterIdentifier", "other")),
            None
        );
        assert_eq!(leaving.answer("DescribeDBClusters", &[]), None);
    }

    #[test]
    fn without_a_hold_or_after_it_the_cluster_is_gone() {
        let leaving = LeavingClusters::default();
        leaving.on_deleted(DELETED, Duration::ZERO);
        let id = form("DBClusterIdentifier", "dal-aurora");
        assert_eq!(leaving.answer("DescribeDBClusters", &id), None);
        leaving.on_deleted(DELETED, Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(leaving.answer("CreateDBCluster", &id), None);
    }
}
