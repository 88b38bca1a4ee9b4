//! Corrections of moto's known deviations from AWS, so that product code never carries a special
//! case for the emulator. Each is a pure function with a test beside it.

use bytes::Bytes;

/// Moto answers `GetBucketVersioning` with the root element `GetBucketVersioningResponse`; AWS
/// (and the Rust SDK's parser) use `VersioningConfiguration`.
pub fn get_bucket_versioning(body: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(body);
    if !text.contains("GetBucketVersioningResponse") {
        return Bytes::copy_from_slice(body);
    }
    Bytes::from(text.replace("GetBucketVersioningResponse", "VersioningConfiguration"))
}

/// The short region code in ElastiCache host names: `eu-central-2` → `euc2`, `us-east-1` → `use1`.
pub fn region_code(region: &str) -> String {
    let parts: Vec<&str> = region.split('-').collect();
    match parts.as_slice() {
        [area, direction, n] => format!("{area}{}{n}", direction.chars().next().unwrap_or('x')),
        _ => region.to_string(),
    }
}

/// Moto builds ElastiCache endpoints and availability zones for us-east-1 whatever the region.
pub fn elasticache_region(body: &str, region: &str) -> Option<String> {
    if region == "us-east-1"
        || !(body.contains(".use1.cache.amazonaws.com") || body.contains("us-east-1"))
    {
        return None;
    }
    let code = region_code(region);
    let mut out = body.replace(
        ".use1.cache.amazonaws.com",
        &format!(".{code}.cache.amazonaws.com"),
    );
    for az in ["a", "b", "c", "d", "e", "f"] {
        out = out.replace(&format!(">us-east-1{az}<"), &format!(">{region}{az}<"));
    }
    Some(out)
}

/// Moto gives a replication group created with `NumCacheClusters = N` one member. AWS gives it
/// N (a primary and N-1 replicas), which moto does for `ReplicasPerNodeGroup`: ask for that.
pub fn num_cache_clusters(form: &mut Vec<(String, String)>) -> bool {
    let Some(i) = form.iter().position(|(k, _)| k == "NumCacheClusters") else {
        return false;
    };
    if form
        .iter()
        .any(|(k, _)| k == "ReplicasPerNodeGroup" || k == "NumNodeGroups")
    {
        return false;
    }
    let n: u32 = form[i].1.parse().unwrap_or(1);
    form.remove(i);
    form.push(("NumNodeGroups".into(), "1".into()));
    form.push((
        "ReplicasPerNodeGroup".into(),
        n.saturating_sub(1).to_string(),
    ));
    true
}

/// AWS refuses `DeleteDBCluster` with neither `SkipFinalSnapshot=true` nor a final snapshot id;
/// moto accepts it. Returns the refusal message.
pub fn delete_db_cluster(form: &[(String, String)]) -> Option<&'static str> {
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let skip = get("SkipFinalSnapshot").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let snapshot = get("FinalDBSnapshotIdentifier").is_some_and(|v| !v.is_empty());
    (!skip && !snapshot)
        .then_some("FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.")
}

/// The message AWS gives when a secret's name is scheduled for deletion.
pub const SECRET_SCHEDULED_FOR_DELETION: &str =
    "You can't create this secret because a secret with this name is already scheduled for deletion.";

/// `DescribeLogGroups` by `logGroupIdentifiers` (names or ARNs), which moto ignores: the request
/// moto can answer (by the one name as a prefix, or all groups) and the names to keep.
pub fn log_group_identifiers(body: &[u8]) -> Option<(String, Vec<String>)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let names: Vec<String> = v
        .get("logGroupIdentifiers")?
        .as_array()?
        .iter()
        .filter_map(|i| i.as_str())
        .map(|i| match i.split_once(":log-group:") {
            Some((_, name)) => name.trim_end_matches(":*").to_string(),
            None => i.to_string(),
        })
        .collect();
    let request = match names.as_slice() {
        [one] => serde_json::json!({ "logGroupNamePrefix": one }),
        _ => serde_json::json!({}),
    };
    Some((request.to_string(), names))
}

/// Keep only the groups named in `logGroupIdentifiers`.
pub fn keep_log_groups(body: &str, names: &[String]) -> Option<String> {
    let mut v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get_mut("logGroups")?.as_array_mut()?.retain(|g| {
        g["logGroupName"]
            .as_str()
            .is_some_and(|n| names.iter().any(|x| x == n))
    });
    Some(v.to_string())
}

/// The writer of a cluster, from a `DescribeDBClusters` answer.
pub fn cluster_writer(describe: &str) -> Option<String> {
    let mut writer = None;
    crate::xml::map_members(describe, "DBClusterMember", |m| {
        if crate::xml::text(m, "IsClusterWriter").as_deref() == Some("true") {
            writer = crate::xml::text(m, "DBInstanceIdentifier");
        }
        None
    });
    writer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_is_the_member_that_says_so() {
        let x = "<DBClusterMembers><DBClusterMember><DBInstanceIdentifier>a</DBInstanceIdentifier><IsClusterWriter>false</IsClusterWriter></DBClusterMember><DBClusterMember><DBInstanceIdentifier>b</DBInstanceIdentifier><IsClusterWriter>true</IsClusterWriter></DBClusterMember></DBClusterMembers>";
        assert_eq!(cluster_writer(x).as_deref(), Some("b"));
    }

    #[test]
    fn log_groups_by_identifier_are_exact() {
        let (req, names) = log_group_identifiers(
            br#"{"logGroupIdentifiers":["arn:aws:logs:r:1:log-group:/a/b:*"]}"#,
        )
        .unwrap();
        assert_eq!(req, r#"{"logGroupNamePrefix":"/a/b"}"#);
        let kept = keep_log_groups(
            r#"{"logGroups":[{"logGroupName":"/a/b"},{"logGroupName":"/a/bc"}]}"#,
            &names,
        )
        .unwrap();
        assert_eq!(kept, r#"{"logGroups":[{"logGroupName":"/a/b"}]}"#);
        assert!(log_group_identifiers(br#"{"logGroupNamePrefix":"/a"}"#).is_none());
    }

    #[test]
    fn versioning_root_is_corrected() {
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></GetBucketVersioningResponse>"#;
        let fixed = String::from_utf8(get_bucket_versioning(moto).to_vec()).unwrap();
        assert!(
            fixed.contains("<VersioningConfiguration xmlns=")
                && fixed.contains("</VersioningConfiguration>"),
            "{fixed}"
        );
        assert!(fixed.contains("<Status>Enabled</Status>"));
        let empty =
            br#"<GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#;
        assert!(String::from_utf8(get_bucket_versioning(empty).to_vec())
            .unwrap()
            .starts_with("<VersioningConfiguration "));
    }

    #[test]
    fn elasticache_hosts_name_the_region() {
        assert_eq!(region_code("eu-central-2"), "euc2");
        assert_eq!(region_code("us-east-1"), "use1");
        let moto = "<Address>master.rg.oq78le.use1.cache.amazonaws.com</Address><PreferredAvailabilityZone>us-east-1b</PreferredAvailabilityZone>";
        let fixed = elasticache_region(moto, "eu-central-2").unwrap();
        assert_eq!(fixed, "<Address>master.rg.oq78le.euc2.cache.amazonaws.com</Address><PreferredAvailabilityZone>eu-central-2b</PreferredAvailabilityZone>");
        assert!(elasticache_region(moto, "us-east-1").is_none());
    }

    #[test]
    fn num_cache_clusters_becomes_replicas() {
        let mut form = vec![
            ("Action".to_string(), "CreateReplicationGroup".to_string()),
            ("NumCacheClusters".into(), "3".into()),
        ];
        assert!(num_cache_clusters(&mut form));
        assert!(form.contains(&("ReplicasPerNodeGroup".into(), "2".into())));
        assert!(!form.iter().any(|(k, _)| k == "NumCacheClusters"));
    }

    #[test]
    fn cluster_delete_needs_a_snapshot_decision() {
        let f = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert!(delete_db_cluster(&f(&[("DBClusterIdentifier", "c")])).is_some());
        assert!(delete_db_cluster(&f(&[("SkipFinalSnapshot", "true")])).is_none());
        assert!(delete_db_cluster(&f(&[("FinalDBSnapshotIdentifier", "c-final")])).is_none());
        assert!(delete_db_cluster(&f(&[("SkipFinalSnapshot", "false")])).is_some());
    }
}

/// Moto accepts Performance Insights settings on RDS instances but does not keep them; AWS
/// reports them back. The gateway remembers what was asked and reports it.
#[derive(Debug, Default)]
pub struct PerformanceInsights {
    by_instance: std::sync::Mutex<std::collections::HashMap<String, (bool, Option<String>)>>,
}

impl PerformanceInsights {
    /// Note the settings of a create or modify request.
    pub fn on_request(&self, op: &str, form: &[(String, String)]) {
        if op != "CreateDBInstance" && op != "ModifyDBInstance" {
            return;
        }
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let (Some(id), Some(enabled)) = (
            get("DBInstanceIdentifier"),
            get("EnablePerformanceInsights"),
        ) else {
            return;
        };
        let enabled = enabled.eq_ignore_ascii_case("true");
        let key = if enabled {
            get("PerformanceInsightsKMSKeyId")
        } else {
            None
        };
        self.by_instance
            .lock()
            .expect("not poisoned")
            .insert(id.to_lowercase(), (enabled, key));
    }

    /// AWS's refusal of a `ModifyDBInstance` that changes the Performance Insights KMS key once
    /// one is set.
    pub fn refusal(&self, op: &str, form: &[(String, String)]) -> Option<&'static str> {
        if op != "ModifyDBInstance" {
            return None;
        }
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        let id = get("DBInstanceIdentifier")?.to_lowercase();
        let wanted = get("PerformanceInsightsKMSKeyId")?;
        let known = self.by_instance.lock().expect("not poisoned");
        match known.get(&id) {
            Some((true, Some(current))) if current != wanted => Some(
                "You can't change the KMS key of Performance Insights once it is set; create a new instance to use another key.",
            ),
            _ => None,
        }
    }

    /// Report the settings in an answer that lists instances.
    pub fn on_response(&self, body: &str) -> Option<String> {
        let known = self.by_instance.lock().expect("not poisoned");
        if known.is_empty() || !body.contains("<DBInstance>") {
            return None;
        }
        let out = crate::xml::map_members(body, "DBInstance", |block| {
            let id = crate::xml::text(block, "DBInstanceIdentifier")?.to_lowercase();
            let (enabled, key) = known.get(&id)?;
            let mut b = crate::xml::set_element(
                block,
                "PerformanceInsightsEnabled",
                if *enabled { "true" } else { "false" },
            );
            if let Some(k) = key {
                b = crate::xml::set_element(
                    &b,
                    "PerformanceInsightsKMSKeyId",
                    &crate::protocol::escape(k),
                );
            }
            Some(b)
        });
        (out != body).then_some(out)
    }
}

/// Every host name in `body` (a text node) that ends with `suffix` becomes `host`: the endpoints
/// AWS reports lead to the local data plane.
pub fn rebind_hosts(body: &str, suffix: &str, host: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(gt) = rest.find('>') {
        out.push_str(&rest[..=gt]);
        rest = &rest[gt + 1..];
        let lt = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..lt];
        if text.ends_with(suffix) && !text.contains(char::is_whitespace) {
            out.push_str(host);
        } else {
            out.push_str(text);
        }
        rest = &rest[lt..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod rebind_tests {
    #[test]
    fn endpoints_lead_to_the_data_plane_and_nothing_else_changes() {
        let body = "<DBCluster><Endpoint>a.cluster-x.eu-central-2.rds.amazonaws.com</Endpoint><ReaderEndpoint>a.cluster-ro-x.eu-central-2.rds.amazonaws.com</ReaderEndpoint><Port>5432</Port><DBClusterArn>arn:aws:rds:eu-central-2:1:cluster:a</DBClusterArn></DBCluster>";
        assert_eq!(
            super::rebind_hosts(body, ".rds.amazonaws.com", "127.0.0.9"),
            "<DBCluster><Endpoint>127.0.0.9</Endpoint><ReaderEndpoint>127.0.0.9</ReaderEndpoint><Port>5432</Port><DBClusterArn>arn:aws:rds:eu-central-2:1:cluster:a</DBClusterArn></DBCluster>"
        );
    }
}
