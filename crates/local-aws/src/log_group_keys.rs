//! `AssociateKmsKey` and `DisassociateKmsKey` of CloudWatch Logs, which moto lacks: the gateway
//! keeps each log group's key as changed through them and shows it in `DescribeLogGroups`, as
//! AWS does. A group made or deleted again starts from moto's own record.

use std::collections::HashMap;
use std::sync::Mutex;

/// Keys set or removed through the gateway, by region and group name.
#[derive(Debug, Default)]
pub(crate) struct LogGroupKeys {
    keys: Mutex<HashMap<(String, String), Option<String>>>,
}

impl LogGroupKeys {
    /// Record a group's key (`None`: removed).
    pub(crate) fn set(&self, region: &str, group: &str, key: Option<String>) {
        self.keys
            .lock()
            .expect("not poisoned")
            .insert((region.to_string(), group.to_string()), key);
    }

    /// Forget what was recorded of a group (made or deleted again).
    pub(crate) fn forget(&self, region: &str, group: &str) {
        self.keys
            .lock()
            .expect("not poisoned")
            .remove(&(region.to_string(), group.to_string()));
    }

    /// `DescribeLogGroups`' answer with the recorded keys.
    pub(crate) fn on_response(&self, region: &str, text: &str) -> Option<String> {
        let keys = self.keys.lock().expect("not poisoned");
        if keys.is_empty() {
            return None;
        }
        let mut v: serde_json::Value = serde_json::from_str(text).ok()?;
        let mut changed = false;
        for g in v.get_mut("logGroups")?.as_array_mut()? {
            let Some(name) = g.get("logGroupName").and_then(|n| n.as_str()) else {
                continue;
            };
            let Some(key) = keys.get(&(region.to_string(), name.to_string())) else {
                continue;
            };
            let obj = g.as_object_mut()?;
            match key {
                Some(k) => obj.insert("kmsKeyId".into(), k.clone().into()),
                None => obj.remove("kmsKeyId"),
            };
            changed = true;
        }
        changed.then(|| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_key_shows_in_the_listing() {
        let keys = LogGroupKeys::default();
        let text =
            r#"{"logGroups":[{"logGroupName":"a","kmsKeyId":"arn:k1"},{"logGroupName":"b"}]}"#;
        assert_eq!(keys.on_response("r", text), None);
        keys.set("r", "a", None);
        keys.set("r", "b", Some("arn:k2".into()));
        let v: serde_json::Value =
            serde_json::from_str(&keys.on_response("r", text).expect("rewritten")).unwrap();
        assert!(v["logGroups"][0].get("kmsKeyId").is_none());
        assert_eq!(v["logGroups"][1]["kmsKeyId"], "arn:k2");
        keys.forget("r", "a");
        keys.forget("r", "b");
        assert_eq!(keys.on_response("r", text), None);
    }
}
