//! Eventual consistency as AWS has it: list calls that lag behind writes, and a new bucket or
//! IAM user that the next calls do not see yet.
//!
//! - `list_lag_ms`: an item created, changed, tagged or deleted within that time shows in list
//!   calls as it was before (a new one not at all, a deleted one still there). Lists modelled:
//!   `ListSecrets`, `ListAccessKeys`, `DescribeLogGroups` (without `logGroupIdentifiers`),
//!   `ListInferenceProfiles`, AMP's `ListWorkspaces`. Direct reads (`DescribeSecret`, …) answer
//!   with the latest state.
//! - `read_after_create_ms`: calls on a bucket made within that time get `NoSuchBucket`, IAM's
//!   `CreateAccessKey` and `PutUserPolicy` on a user made within it get `NoSuchEntity`, and EC2's
//!   calls naming a security group made within it by id (its rules, tags, describe, delete) get
//!   `InvalidGroup.NotFound`.
//! - `deletion_ms`: a secret deleted without recovery keeps its name that long (AWS deletes it in
//!   the background and says to retry a create of the same name): `CreateSecret` of it is refused
//!   with `InvalidRequestException` meanwhile.
//!
//! Set with `POST /_gateway/consistency`, read with `GET`, switched off with `DELETE`. The model
//! keeps, for each item changed within the lag, how a list showed it before its first change of
//! that burst (fetched from moto just before the change), and rewrites list answers with it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One service's override.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLag {
    /// Instead of the global `list_lag_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_lag_ms: Option<u64>,
    /// Instead of the global `read_after_create_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_after_create_ms: Option<u64>,
}

/// How far behind AWS's views are; zero everywhere is a consistent world.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencySettings {
    /// Milliseconds a change takes to show in list calls.
    #[serde(default)]
    pub list_lag_ms: u64,
    /// Milliseconds a new bucket, IAM user or security group is unknown to the calls that follow
    /// its creation.
    #[serde(default)]
    pub read_after_create_ms: u64,
    /// Milliseconds a secret deleted without recovery still holds its name.
    #[serde(default)]
    pub deletion_ms: u64,
    /// Per-service overrides, by SigV4 service name (`secretsmanager`, `iam`, `logs`, `s3`,
    /// `bedrock`, `aps`, `ec2`).
    #[serde(default)]
    pub services: BTreeMap<String, ServiceLag>,
}

impl ConsistencySettings {
    /// What the local environment and the end-to-end suite run with: 3 s of list lag, 1 s
    /// before a new bucket, user or security group is seen, half a second before a secret
    /// deleted without recovery frees its name.
    pub fn aws_like() -> Self {
        ConsistencySettings {
            list_lag_ms: 3_000,
            read_after_create_ms: 1_000,
            deletion_ms: 500,
            services: BTreeMap::new(),
        }
    }

    /// The list lag of `service`.
    pub fn list_lag(&self, service: &str) -> Duration {
        let ms = self
            .services
            .get(service)
            .and_then(|s| s.list_lag_ms)
            .unwrap_or(self.list_lag_ms);
        Duration::from_millis(ms)
    }

    /// How long a secret deleted without recovery still holds its name.
    pub fn deletion(&self) -> Duration {
        Duration::from_millis(self.deletion_ms)
    }

    /// The read-after-create delay of `service`.
    pub fn read_after_create(&self, service: &str) -> Duration {
        let ms = self
            .services
            .get(service)
            .and_then(|s| s.read_after_create_ms)
            .unwrap_or(self.read_after_create_ms);
        Duration::from_millis(ms)
    }
}

/// The list an item shows in, and the item's key in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The service (for its lag).
    pub service: &'static str,
    /// The list: the service's, or `keys:<user>` for an IAM user's access keys.
    pub list: String,
    /// The item's key: a secret's or log group's name, a key id, a workspace or profile id.
    pub key: String,
}

#[derive(Debug, Clone)]
struct Pending {
    changed: Instant,
    /// How lists showed the item before this burst of changes; `None`: not at all.
    before: Option<String>,
}

/// How lists showed an item just before a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Before {
    /// Fetched just before the change (`None`: not listed, as for an item a create made).
    Fetched(Option<String>),
    /// Not fetched: a change of the same item was pending and holds the earlier entry (or lists
    /// did not lag when the change was asked).
    Pending,
}

/// The gateway's consistency model.
#[derive(Debug, Default)]
pub struct Consistency {
    settings: Mutex<ConsistencySettings>,
    pending: Mutex<HashMap<(String, Target), Pending>>,
    /// Buckets and users by `(service, region, name)`: when they were made.
    created: Mutex<HashMap<(String, String, String), Instant>>,
    /// Secrets deleted without recovery, by `(region, name)`: when.
    deleted: Mutex<HashMap<(String, String), Instant>>,
}

impl Consistency {
    /// The settings.
    pub fn settings(&self) -> ConsistencySettings {
        self.settings.lock().expect("not poisoned").clone()
    }

    /// Replace the settings.
    pub fn set(&self, s: ConsistencySettings) {
        *self.settings.lock().expect("not poisoned") = s;
    }

    /// A consistent world again: no lag, and nothing pending.
    pub fn clear(&self) {
        self.set(ConsistencySettings::default());
        self.pending.lock().expect("not poisoned").clear();
        self.created.lock().expect("not poisoned").clear();
        self.deleted.lock().expect("not poisoned").clear();
    }

    fn lag(&self, service: &str) -> Duration {
        self.settings
            .lock()
            .expect("not poisoned")
            .list_lag(service)
    }

    /// Whether a change of `target` now needs its earlier list entry fetched first: lists lag
    /// for its service, and it has no change pending (which already holds the earlier entry).
    pub fn needs_before(&self, region: &str, target: &Target) -> bool {
        let lag = self.lag(target.service);
        if lag.is_zero() {
            return false;
        }
        let pending = self.pending.lock().expect("not poisoned");
        pending
            .get(&(region.to_string(), target.clone()))
            .is_none_or(|p| p.changed.elapsed() >= lag)
    }

    /// `target` changed now; `before` is how lists showed it just before. Within a burst of
    /// changes, the entry from before the first one stays. A change whose earlier entry was not
    /// fetched (a burst was pending when it was asked) but whose burst ended before it was
    /// answered is not lagged at all: lists may already have shown the burst's result, and its
    /// earlier entry was never fetched, so it is never hidden as if it had just been made.
    pub fn changed(&self, region: &str, target: Target, before: Before) {
        let lag = self.lag(target.service);
        if lag.is_zero() {
            return;
        }
        let mut pending = self.pending.lock().expect("not poisoned");
        let key = (region.to_string(), target);
        match (pending.get_mut(&key), before) {
            (Some(p), Before::Pending) if p.changed.elapsed() < lag => p.changed = Instant::now(),
            (Some(_), Before::Pending) => {
                pending.remove(&key);
            }
            (None, Before::Pending) => {}
            (Some(p), Before::Fetched(_)) if p.changed.elapsed() < lag => {
                p.changed = Instant::now()
            }
            (_, Before::Fetched(before)) => {
                pending.insert(
                    key,
                    Pending {
                        changed: Instant::now(),
                        before,
                    },
                );
            }
        }
    }

    /// The items of `list` that lists do not show as they are: key → what to show instead.
    pub fn lagging(
        &self,
        region: &str,
        service: &str,
        list: &str,
    ) -> BTreeMap<String, Option<String>> {
        let settings = self.settings();
        let lag = settings.list_lag(service);
        let mut pending = self.pending.lock().expect("not poisoned");
        // Each entry by its own service's lag: a list of one service never ends another's.
        pending.retain(|(_, t), p| {
            p.changed.elapsed() < settings.list_lag(t.service).max(Duration::from_secs(1))
        });
        pending
            .iter()
            .filter(|((r, t), p)| r == region && t.list == list && p.changed.elapsed() < lag)
            .map(|((_, t), p)| (t.key.clone(), p.before.clone()))
            .collect()
    }

    /// How long until every list shows every change made so far, and every new bucket and user
    /// is seen (zero when nothing is pending).
    pub fn settled_in(&self) -> Duration {
        let settings = self.settings();
        let lists = self
            .pending
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|((_, t), p)| {
                settings
                    .list_lag(t.service)
                    .saturating_sub(p.changed.elapsed())
            })
            .max()
            .unwrap_or_default();
        let created = self
            .created
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|((service, _, _), t)| {
                settings
                    .read_after_create(service)
                    .saturating_sub(t.elapsed())
            })
            .max()
            .unwrap_or_default();
        let deletion = settings.deletion();
        let deleted = self
            .deleted
            .lock()
            .expect("not poisoned")
            .values()
            .map(|t| deletion.saturating_sub(t.elapsed()))
            .max()
            .unwrap_or_default();
        lists.max(created).max(deleted)
    }

    /// A secret was deleted without recovery.
    pub fn deleted_secret(&self, region: &str, name: &str) {
        if self.settings().deletion().is_zero() {
            return;
        }
        self.deleted
            .lock()
            .expect("not poisoned")
            .insert((region.to_string(), name.to_string()), Instant::now());
    }

    /// Whether a secret deleted without recovery still holds `name`.
    pub fn name_still_taken(&self, region: &str, name: &str) -> bool {
        let deletion = self.settings().deletion();
        self.deleted
            .lock()
            .expect("not poisoned")
            .get(&(region.to_string(), name.to_string()))
            .is_some_and(|t| t.elapsed() < deletion)
    }

    /// A bucket or IAM user was made.
    pub fn created(&self, service: &str, region: &str, name: &str) {
        if self
            .settings
            .lock()
            .expect("not poisoned")
            .read_after_create(service)
            .is_zero()
        {
            return;
        }
        self.created.lock().expect("not poisoned").insert(
            (service.to_string(), region.to_string(), name.to_string()),
            Instant::now(),
        );
    }

    /// Whether a bucket or user made within the read-after-create delay is still unknown.
    pub fn too_new(&self, service: &str, region: &str, name: &str) -> bool {
        let delay = self
            .settings
            .lock()
            .expect("not poisoned")
            .read_after_create(service);
        self.created
            .lock()
            .expect("not poisoned")
            .get(&(service.to_string(), region.to_string(), name.to_string()))
            .is_some_and(|t| t.elapsed() < delay)
    }
}

/// How one JSON list answer names its items.
#[derive(Debug, Clone, Copy)]
pub struct JsonList {
    /// The array.
    pub array: &'static str,
    /// The key field of an item.
    pub key: &'static str,
}

/// Rewrite a JSON list answer: each lagging item shown as it was (or left out); an earlier
/// entry is added back only when `first_page` and `keep(entry)` (the request's filters).
pub fn rewrite_json(
    text: &str,
    shape: JsonList,
    lagging: &BTreeMap<String, Option<String>>,
    first_page: bool,
    keep: impl Fn(&serde_json::Value) -> bool,
) -> Option<String> {
    if lagging.is_empty() {
        return None;
    }
    let mut v: serde_json::Value = serde_json::from_str(text).ok()?;
    let items = v.get_mut(shape.array)?.as_array_mut()?;
    items.retain(|i| {
        i.get(shape.key)
            .and_then(|k| k.as_str())
            .is_none_or(|k| !lagging.contains_key(k))
    });
    if first_page {
        for before in lagging.values().flatten() {
            if let Ok(entry) = serde_json::from_str::<serde_json::Value>(before) {
                if keep(&entry) {
                    items.push(entry);
                }
            }
        }
    }
    Some(v.to_string())
}

/// Rewrite `ListAccessKeys`'s XML: lagging keys left out or shown as they were.
pub fn rewrite_access_keys(
    text: &str,
    lagging: &BTreeMap<String, Option<String>>,
) -> Option<String> {
    if lagging.is_empty() {
        return None;
    }
    let kept = crate::xml::map_members(text, "member", |m| {
        let id = crate::xml::text(m, "AccessKeyId")?;
        lagging.contains_key(&id).then(String::new)
    });
    let earlier: String = lagging.values().flatten().cloned().collect();
    if earlier.is_empty() {
        return Some(kept);
    }
    Some(match kept.find("</AccessKeyMetadata>") {
        Some(at) => format!("{}{earlier}{}", &kept[..at], &kept[at..]),
        None => kept.replace(
            "<AccessKeyMetadata/>",
            &format!("<AccessKeyMetadata>{earlier}</AccessKeyMetadata>"),
        ),
    })
}

/// A secret's name from a `SecretId`, which may be its ARN (`…:secret:<name>-XXXXXX`).
pub fn secret_name(id: &str) -> String {
    match id.split_once(":secret:") {
        Some((_, rest)) if rest.len() > 7 && rest.as_bytes()[rest.len() - 7] == b'-' => {
            rest[..rest.len() - 7].to_string()
        }
        Some((_, rest)) => rest.to_string(),
        None => id.to_string(),
    }
}

/// A log group's name from a `resourceArn` (`arn:aws:logs:…:log-group:<name>[:*]`).
pub fn log_group_name(arn: &str) -> Option<String> {
    let rest = arn.split_once(":log-group:")?.1;
    Some(rest.strip_suffix(":*").unwrap_or(rest).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(key: &str) -> Target {
        Target {
            service: "secretsmanager",
            list: "secretsmanager".into(),
            key: key.into(),
        }
    }

    #[test]
    fn a_change_within_the_lag_shows_the_entry_from_before_its_first_change() {
        let c = Consistency::default();
        c.set(ConsistencySettings::aws_like());
        assert!(c.needs_before("r", &target("a")));
        c.changed(
            "r",
            target("a"),
            Before::Fetched(Some(r#"{"Name":"a","v":1}"#.into())),
        );
        // A second change within the burst keeps the first earlier entry.
        assert!(!c.needs_before("r", &target("a")));
        c.changed("r", target("a"), Before::Pending);
        c.changed("r", target("new"), Before::Fetched(None));
        let lagging = c.lagging("r", "secretsmanager", "secretsmanager");
        assert_eq!(lagging.len(), 2);
        let answer = r#"{"SecretList":[{"Name":"a","v":2},{"Name":"new"},{"Name":"old"}]}"#;
        let shape = JsonList {
            array: "SecretList",
            key: "Name",
        };
        let out = rewrite_json(answer, shape, &lagging, true, |_| true).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let names: Vec<String> = v["SecretList"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| format!("{}{}", i["Name"].as_str().unwrap(), i["v"]))
            .collect();
        assert_eq!(names, ["oldnull", "a1"]);
        assert!(c
            .lagging("other-region", "secretsmanager", "secretsmanager")
            .is_empty());
    }

    #[test]
    fn a_change_asked_within_a_burst_that_ended_since_is_shown_as_it_is() {
        let c = Consistency::default();
        c.set(serde_json::from_str(r#"{"list_lag_ms": 500}"#).unwrap());
        c.changed(
            "r",
            target("a"),
            Before::Fetched(Some(r#"{"Name":"a"}"#.into())),
        );
        // Asked while the burst was pending, so its earlier entry was not fetched; answered after.
        assert!(!c.needs_before("r", &target("a")));
        std::thread::sleep(Duration::from_millis(600));
        c.changed("r", target("a"), Before::Pending);
        let lagging = c.lagging("r", "secretsmanager", "secretsmanager");
        assert!(
            !lagging.contains_key("a"),
            "shown as it is, neither hidden as if just made nor as it was: {lagging:?}"
        );
        // A continued burst with nothing pending records nothing.
        c.changed("r", target("b"), Before::Pending);
        assert!(!c
            .lagging("r", "secretsmanager", "secretsmanager")
            .contains_key("b"));
    }

    #[test]
    fn a_list_of_one_service_keeps_another_s_longer_lag() {
        let c = Consistency::default();
        c.set(
            serde_json::from_str(
                r#"{"list_lag_ms": 10, "services": {"secretsmanager": {"list_lag_ms": 600000}}}"#,
            )
            .unwrap(),
        );
        c.changed("r", target("a"), Before::Fetched(None));
        std::thread::sleep(Duration::from_millis(1100));
        // A list of a service with a short lag, past the one-second floor, prunes its own only.
        assert!(c.lagging("r", "logs", "logs").is_empty());
        assert!(c
            .lagging("r", "secretsmanager", "secretsmanager")
            .contains_key("a"));
    }

    #[test]
    fn a_consistent_world_records_nothing() {
        let c = Consistency::default();
        assert!(!c.needs_before("r", &target("a")));
        c.changed("r", target("a"), Before::Fetched(None));
        c.created("s3", "r", "b");
        assert!(c
            .lagging("r", "secretsmanager", "secretsmanager")
            .is_empty());
        assert!(!c.too_new("s3", "r", "b"));
    }

    #[test]
    fn service_overrides_win_and_unknown_keys_are_refused() {
        let s: ConsistencySettings = serde_json::from_str(
            r#"{"list_lag_ms": 3000, "services": {"secretsmanager": {"list_lag_ms": 600000}}}"#,
        )
        .unwrap();
        assert_eq!(s.list_lag("secretsmanager"), Duration::from_secs(600));
        assert_eq!(s.list_lag("logs"), Duration::from_secs(3));
        assert_eq!(s.read_after_create("s3"), Duration::ZERO);
        assert!(serde_json::from_str::<ConsistencySettings>(r#"{"list_lag": 1}"#).is_err());
    }

    #[test]
    fn access_keys_lagging_are_hidden_or_shown_as_before() {
        let xml = "<ListAccessKeysResponse><ListAccessKeysResult><AccessKeyMetadata><member><AccessKeyId>AK1</AccessKeyId></member><member><AccessKeyId>AK2</AccessKeyId></member></AccessKeyMetadata></ListAccessKeysResult></ListAccessKeysResponse>";
        let mut lagging = BTreeMap::new();
        lagging.insert("AK2".to_string(), None);
        lagging.insert(
            "AK0".to_string(),
            Some("<member><AccessKeyId>AK0</AccessKeyId></member>".to_string()),
        );
        let out = rewrite_access_keys(xml, &lagging).unwrap();
        assert_eq!(crate::xml::texts(&out, "AccessKeyId"), ["AK1", "AK0"]);
    }

    #[test]
    fn names_from_arns() {
        assert_eq!(
            secret_name("arn:aws:secretsmanager:r:1:secret:dal/psql-host-AbCdEf"),
            "dal/psql-host"
        );
        assert_eq!(secret_name("dal/psql-host"), "dal/psql-host");
        assert_eq!(
            log_group_name("arn:aws:logs:r:1:log-group:/aws/x:*").as_deref(),
            Some("/aws/x")
        );
    }
}
