//! Changes AWS makes and moto ignores, kept by the gateway and shown in moto's descriptions:
//! a cluster's log exports changed by `ModifyDBCluster`, an interface endpoint's private DNS
//! changed by `ModifyVpcEndpoint`, a cache subnet group's subnets changed by
//! `ModifyCacheSubnetGroup` (which moto lacks: the gateway answers it), and a replication group's
//! slow log switched off by `ModifyReplicationGroup`. Each is noted once moto has accepted the
//! change. Found by the drift table
//! (`tests/e2e/drift.rs`): without them a drift made that way could be neither seen nor repaired.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::protocol::escape;
use crate::xml;

fn list(form: &[(String, String)], prefix: &str) -> Vec<String> {
    form.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v.clone())
        .collect()
}

/// A resource's key: its region and its (lowercased) id.
fn key(region: &str, id: &str) -> String {
    format!("{region}/{}", id.to_lowercase())
}

fn get<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Log types enabled and disabled since moto's record, by cluster id.
type LogExports = HashMap<String, (BTreeSet<String>, BTreeSet<String>)>;

/// What the gateway keeps.
#[derive(Debug, Default)]
pub(crate) struct Overlays {
    /// Cluster id -> (log types enabled, log types disabled) since moto's record.
    log_exports: Mutex<LogExports>,
    /// Endpoint id -> private DNS.
    private_dns: Mutex<HashMap<String, bool>>,
    /// Cache subnet group name -> its subnets.
    cache_subnets: Mutex<HashMap<String, Vec<String>>>,
    /// Replication groups whose slow log is switched off.
    slow_log_off: Mutex<BTreeSet<String>>,
}

impl Overlays {
    /// Note a request that moto accepted.
    pub(crate) fn accepted(
        &self,
        service: &str,
        region: &str,
        op: &str,
        form: &[(String, String)],
    ) {
        match (service, op) {
            ("rds", "ModifyDBCluster") => {
                let Some(id) = get(form, "DBClusterIdentifier").map(|i| key(region, i)) else {
                    return;
                };
                let enable = list(form, "CloudwatchLogsExportConfiguration.EnableLogTypes.");
                let disable = list(form, "CloudwatchLogsExportConfiguration.DisableLogTypes.");
                if enable.is_empty() && disable.is_empty() {
                    return;
                }
                let mut all = self.log_exports.lock().expect("not poisoned");
                let (on, off) = all.entry(id).or_default();
                for t in enable {
                    off.remove(&t);
                    on.insert(t);
                }
                for t in disable {
                    on.remove(&t);
                    off.insert(t);
                }
            }
            ("rds", "CreateDBCluster" | "DeleteDBCluster") => {
                if let Some(id) = get(form, "DBClusterIdentifier") {
                    self.log_exports
                        .lock()
                        .expect("not poisoned")
                        .remove(&key(region, id));
                }
            }
            ("ec2", "ModifyVpcEndpoint") => {
                if let (Some(id), Some(dns)) =
                    (get(form, "VpcEndpointId"), get(form, "PrivateDnsEnabled"))
                {
                    self.private_dns
                        .lock()
                        .expect("not poisoned")
                        .insert(key(region, id), dns.eq_ignore_ascii_case("true"));
                }
            }
            ("elasticache", "CreateCacheSubnetGroup" | "DeleteCacheSubnetGroup") => {
                if let Some(n) = get(form, "CacheSubnetGroupName") {
                    self.cache_subnets
                        .lock()
                        .expect("not poisoned")
                        .remove(&key(region, n));
                }
            }
            ("elasticache", "ModifyReplicationGroup") => {
                let Some(id) = get(form, "ReplicationGroupId").map(|i| key(region, i)) else {
                    return;
                };
                let prefix = "LogDeliveryConfigurations.LogDeliveryConfigurationRequest.";
                let entries: BTreeSet<&str> = form
                    .iter()
                    .filter_map(|(k, _)| k.strip_prefix(prefix))
                    .filter_map(|rest| rest.split('.').next())
                    .collect();
                for n in entries {
                    let field = |f: &str| get(form, &format!("{prefix}{n}.{f}"));
                    if field("LogType") != Some("slow-log") {
                        continue;
                    }
                    let mut off = self.slow_log_off.lock().expect("not poisoned");
                    if field("Enabled").is_some_and(|e| e.eq_ignore_ascii_case("false")) {
                        off.insert(id.clone());
                    } else {
                        off.remove(&id);
                    }
                }
            }
            ("elasticache", "CreateReplicationGroup" | "DeleteReplicationGroup") => {
                if let Some(id) = get(form, "ReplicationGroupId") {
                    self.slow_log_off
                        .lock()
                        .expect("not poisoned")
                        .remove(&key(region, id));
                }
            }
            _ => {}
        }
    }

    /// `ModifyCacheSubnetGroup`, answered here; `None` when the form names no group.
    pub(crate) fn modify_cache_subnet_group(
        &self,
        region: &str,
        form: &[(String, String)],
    ) -> Option<String> {
        let name = key(region, get(form, "CacheSubnetGroupName")?);
        let subnets = list(form, "SubnetIds.");
        if subnets.is_empty() {
            // Only the description changes.
            return Some(String::new());
        }
        self.cache_subnets
            .lock()
            .expect("not poisoned")
            .insert(name, subnets);
        Some(String::new())
    }

    /// Show what was kept in a description.
    pub(crate) fn on_response(
        &self,
        service: &str,
        region: &str,
        op: &str,
        body: &str,
    ) -> Option<String> {
        let out = match (service, op) {
            ("rds", "DescribeDBClusters" | "ModifyDBCluster") => {
                let all = self.log_exports.lock().expect("not poisoned");
                if all.is_empty() {
                    return None;
                }
                xml::map_members(body, "DBCluster", |block| {
                    let id = key(region, &xml::text(block, "DBClusterIdentifier")?);
                    let (on, off) = all.get(&id)?;
                    let mut now: BTreeSet<String> =
                        xml::inner(block, "EnabledCloudwatchLogsExports")
                            .map(|inner| xml::texts(inner, "member").into_iter().collect())
                            .unwrap_or_default();
                    now.retain(|t| !off.contains(t));
                    now.extend(on.iter().cloned());
                    let members: String = now
                        .iter()
                        .map(|t| format!("<member>{}</member>", escape(t)))
                        .collect();
                    Some(xml::set_element(
                        block,
                        "EnabledCloudwatchLogsExports",
                        &members,
                    ))
                })
            }
            ("ec2", "DescribeVpcEndpoints") => {
                let all = self.private_dns.lock().expect("not poisoned");
                if all.is_empty() {
                    return None;
                }
                xml::map_members(body, "item", |block| {
                    let id = key(region, &xml::text(block, "vpcEndpointId")?);
                    let dns = all.get(&id)?;
                    Some(xml::set_element(
                        block,
                        "privateDnsEnabled",
                        if *dns { "true" } else { "false" },
                    ))
                })
            }
            ("elasticache", "DescribeCacheSubnetGroups") => {
                let all = self.cache_subnets.lock().expect("not poisoned");
                if all.is_empty() {
                    return None;
                }
                xml::map_members(body, "CacheSubnetGroup", |block| {
                    let name = key(region, &xml::text(block, "CacheSubnetGroupName")?);
                    let subnets = all.get(&name)?;
                    let inner: String = subnets
                        .iter()
                        .map(|s| {
                            format!(
                                "<Subnet><SubnetIdentifier>{}</SubnetIdentifier></Subnet>",
                                escape(s)
                            )
                        })
                        .collect();
                    Some(xml::set_element(block, "Subnets", &inner))
                })
            }
            ("elasticache", "DescribeReplicationGroups" | "ModifyReplicationGroup") => {
                let off = self.slow_log_off.lock().expect("not poisoned");
                if off.is_empty() {
                    return None;
                }
                xml::map_members(body, "ReplicationGroup", |block| {
                    let id = key(region, &xml::text(block, "ReplicationGroupId")?);
                    if !off.contains(&id) {
                        return None;
                    }
                    let configs = xml::inner(block, "LogDeliveryConfigurations")?;
                    let kept = xml::map_members(configs, "LogDeliveryConfiguration", |c| {
                        (xml::text(c, "LogType").as_deref() == Some("slow-log")).then(String::new)
                    });
                    Some(xml::set_element(block, "LogDeliveryConfigurations", &kept))
                })
            }
            _ => return None,
        };
        (out != body).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_disabled_log_export_disappears_and_comes_back_when_enabled() {
        let o = Overlays::default();
        let body = "<DBClusters><DBCluster><DBClusterIdentifier>c</DBClusterIdentifier><EnabledCloudwatchLogsExports><member>postgresql</member></EnabledCloudwatchLogsExports></DBCluster></DBClusters>";
        o.accepted(
            "rds",
            "r",
            "ModifyDBCluster",
            &form(&[
                ("DBClusterIdentifier", "c"),
                (
                    "CloudwatchLogsExportConfiguration.DisableLogTypes.member.1",
                    "postgresql",
                ),
            ]),
        );
        let out = o
            .on_response("rds", "r", "DescribeDBClusters", body)
            .expect("rewritten");
        assert!(!out.contains("<member>postgresql</member>"), "{out}");
        o.accepted(
            "rds",
            "r",
            "ModifyDBCluster",
            &form(&[
                ("DBClusterIdentifier", "c"),
                (
                    "CloudwatchLogsExportConfiguration.EnableLogTypes.member.1",
                    "postgresql",
                ),
            ]),
        );
        assert_eq!(o.on_response("rds", "r", "DescribeDBClusters", body), None);
    }

    #[test]
    fn a_slow_log_switched_off_leaves_the_description() {
        let o = Overlays::default();
        let body = "<ReplicationGroups><ReplicationGroup><ReplicationGroupId>g</ReplicationGroupId><LogDeliveryConfigurations><LogDeliveryConfiguration><LogType>slow-log</LogType></LogDeliveryConfiguration></LogDeliveryConfigurations></ReplicationGroup></ReplicationGroups>";
        let p = "LogDeliveryConfigurations.LogDeliveryConfigurationRequest.1";
        o.accepted(
            "elasticache",
            "r",
            "ModifyReplicationGroup",
            &form(&[
                ("ReplicationGroupId", "g"),
                (&format!("{p}.LogType"), "slow-log"),
                (&format!("{p}.Enabled"), "false"),
            ]),
        );
        let out = o
            .on_response("elasticache", "r", "DescribeReplicationGroups", body)
            .expect("rewritten");
        assert!(!out.contains("slow-log"), "{out}");
    }
}
