//! Names freed by a deletion and taken again: moto never forgets a deleted replication group (it
//! stays `deleting`), so creating a group under the name of one AWS has removed would fail there.
//! Each new incarnation of a name lives in moto as `{name}-g{n}`; requests are rewritten to it
//! and answers back to the name, so callers see AWS's behaviour: the name is free once the group
//! is gone.

use std::collections::HashMap;
use std::sync::Mutex;

/// Incarnation numbers by name (lowercase); a name never recreated is absent (incarnation 0).
#[derive(Debug, Default)]
pub struct Incarnations {
    names: Mutex<HashMap<String, u32>>,
}

/// The id moto knows an incarnation by.
fn moto_id(name: &str, n: u32) -> String {
    if n == 0 {
        name.to_string()
    } else {
        format!("{name}-g{n}")
    }
}

/// A form value naming `name` (a group id, one of its cache clusters `{name}-NNN`, or either's
/// ARN), rewritten to `to`.
fn rewrite(key: &str, value: &str, name: &str, to: &str) -> Option<String> {
    let cluster = |v: &str| {
        let rest = v.strip_prefix(name)?.strip_prefix('-')?;
        rest.chars()
            .all(|c| c.is_ascii_digit())
            .then(|| format!("{to}-{rest}"))
    };
    match key {
        "ReplicationGroupId" => (value == name).then(|| to.to_string()),
        k if k.starts_with("CacheClusterId") || k == "PrimaryClusterId" => cluster(value),
        "ResourceName" => {
            let (arn, id) = value.rsplit_once(':')?;
            match arn.rsplit(':').next()? {
                "replicationgroup" if id == name => Some(format!("{arn}:{to}")),
                "cluster" => cluster(id).map(|c| format!("{arn}:{c}")),
                _ => None,
            }
        }
        _ => None,
    }
}

impl Incarnations {
    /// Before an ElastiCache call: a `CreateReplicationGroup` of a name whose current
    /// incarnation is `gone` starts a new one; then every value naming a recreated name is
    /// rewritten to its incarnation in moto. Whether the form changed.
    pub fn on_request(
        &self,
        op: &str,
        form: &mut [(String, String)],
        gone: impl Fn(&str) -> bool,
    ) -> bool {
        let mut names = self.names.lock().expect("not poisoned");
        if op == "CreateReplicationGroup" {
            let created = form.iter().find(|(k, _)| k == "ReplicationGroupId");
            if let Some((_, id)) = created {
                let id = id.to_lowercase();
                let n = names.get(&id).copied().unwrap_or(0);
                if gone(&moto_id(&id, n)) {
                    names.insert(id, n + 1);
                }
            }
        }
        let mut changed = false;
        for (key, value) in form.iter_mut() {
            let lower = value.to_lowercase();
            let found = names
                .iter()
                .find_map(|(name, n)| rewrite(key, &lower, name, &moto_id(name, *n)));
            if let Some(v) = found {
                *value = v;
                changed = true;
            }
        }
        changed
    }

    /// Whether any name was taken again (otherwise answers need no renaming).
    pub fn any(&self) -> bool {
        !self.names.lock().expect("not poisoned").is_empty()
    }

    /// An ElastiCache answer with every current incarnation's moto id named by its name again.
    pub fn on_response(&self, text: &str) -> Option<String> {
        let names = self.names.lock().expect("not poisoned");
        if names.is_empty() {
            return None;
        }
        let mut out = text.to_string();
        for (name, n) in names.iter() {
            out = out.replace(&moto_id(name, *n), name);
        }
        Some(out)
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
    fn a_name_is_only_rewritten_once_its_group_is_gone_and_created_again() {
        let inc = Incarnations::default();
        let mut create = form(&[("ReplicationGroupId", "r")]);
        assert!(!inc.on_request("CreateReplicationGroup", &mut create, |_| false));
        assert_eq!(create[0].1, "r");
        assert!(inc.on_request("CreateReplicationGroup", &mut create, |id| id == "r"));
        assert_eq!(create[0].1, "r-g1");
        // A later call on the name, its clusters and its ARNs goes to the new incarnation;
        // another group's names are left alone.
        let mut later = form(&[
            ("ReplicationGroupId", "r"),
            ("CacheClusterId", "r-002"),
            (
                "ResourceName",
                "arn:aws:elasticache:eu:1:replicationgroup:r",
            ),
            ("CacheSubnetGroupName", "r"),
            ("ReplicationGroupDescription", "r"),
            ("ResourceName", "arn:aws:elasticache:eu:1:cluster:r-001"),
            ("ReplicationGroupId", "r-other"),
        ]);
        assert!(inc.on_request("DescribeReplicationGroups", &mut later, |_| false));
        let values: Vec<&str> = later.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                "r-g1",
                "r-g1-002",
                "arn:aws:elasticache:eu:1:replicationgroup:r-g1",
                "r",
                "r",
                "arn:aws:elasticache:eu:1:cluster:r-g1-001",
                "r-other"
            ]
        );
        let answer = "<ReplicationGroupId>r-g1</ReplicationGroupId><Id>r-g1-001</Id>";
        assert_eq!(
            inc.on_response(answer).as_deref(),
            Some("<ReplicationGroupId>r</ReplicationGroupId><Id>r-001</Id>")
        );
        // Gone again: a third incarnation.
        let mut again = form(&[("ReplicationGroupId", "r")]);
        inc.on_request("CreateReplicationGroup", &mut again, |id| id == "r-g1");
        assert_eq!(again[0].1, "r-g2");
    }
}
