//! The run lock: one deploy, apply, seed or destroy of an environment at a time, with no local
//! state.
//!
//! The lock is a Secrets Manager secret, `{nid}/run-lock` (see `crate::names`), that holds no value: who holds it
//! (caller ARN, host, process, command, since) and when the lease was last renewed are its tags.
//!
//! - **Taken** by `CreateSecret`, which AWS carries out atomically by name: of any number of
//!   contenders exactly one succeeds, the others get `ResourceExistsException`. A create whose
//!   answer was lost is recognised on the retry by the lock id tag this holder chose.
//! - **A lease**: the holder renews it (`TagResource` on the secret's full ARN) every third of
//!   `lease_seconds`. A contender that finds it not renewed for longer than the lease breaks it
//!   (`DeleteSecret` without recovery, on the full ARN it read) and competes again. Every call on
//!   a taken lock names its full ARN, whose random suffix is new for every lock, so a holder whose
//!   lease was broken can neither renew nor release the next holder's lock: it learns it lost the
//!   lease and stops starting work.
//! - **Released** by `DeleteSecret` without recovery, so the name is free again at once.
//!
//! Why Secrets Manager: the lock must exist before the environment's resources do (a bucket for
//! S3 conditional writes would itself be deployed by the run it guards), DynamoDB would need a
//! table made beforehand and another SDK, and the tool already needs `secretsmanager:*` on
//! `{nid}/*`. Renewing by tag rather than by value adds no secret version per renewal.
//! Expiry compares the holder's clock with the contender's: clocks kept by NTP are assumed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use layer_core::{Error, Result, Tags};

use crate::meta::{self};

pub use crate::names::LOCK_SECRET;

const HELD_BY: &str = "LockHeldBy";
const HOST: &str = "LockHost";
const PID: &str = "LockPid";
const COMMAND: &str = "LockCommand";
const SINCE: &str = "LockSince";
const RENEWED: &str = "LockRenewedAt";
const LEASE: &str = "LockLeaseSeconds";
const LOCK_ID: &str = "LockId";
const PURPOSE: &str = "Purpose";
/// How many times a release is tried before the lock is left to expire with its lease.
const RELEASE_TRIES: u32 = 3;

/// Who asks for the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The caller's ARN (user or assumed role).
    pub who: String,
    /// The host the run is on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The command, e.g. `deploy test`.
    pub command: String,
}

/// A lock as read from AWS: who holds it, since when, and its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The holder.
    pub holder: Holder,
    /// When it was taken (seconds since the epoch).
    pub since: u64,
    /// When the lease was last renewed (seconds since the epoch).
    pub renewed_at: u64,
    /// The lease's length.
    pub lease_seconds: u64,
    /// The secret's full ARN.
    pub arn: String,
}

impl Held {
    /// Whether the lease ran out at `now` (seconds since the epoch).
    pub fn expired_at(&self, now: u64) -> bool {
        now > self.renewed_at.saturating_add(self.lease_seconds)
    }
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let now = unix_now();
        write!(
            f,
            "held by {} on host {} (pid {}) running `{}` since {} ({} ago), lease renewed {}s ago, expires {}s after renewal",
            self.holder.who,
            self.holder.host,
            self.holder.pid,
            self.holder.command,
            rfc3339(self.since),
            humantime::format_duration(Duration::from_secs(now.saturating_sub(self.since))),
            now.saturating_sub(self.renewed_at),
            self.lease_seconds,
        )
    }
}

/// How to take the lock.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// The lock secret's name (`{nid}/run-lock`, or as `[secrets]` names it).
    pub name: String,
    /// The ownership tags it carries besides the lock's own.
    pub tags: Tags,
    /// The lease.
    pub lease: Duration,
    /// How long to wait for another holder.
    pub wait: Duration,
    /// Who asks.
    pub holder: Holder,
}

/// A lock this run holds. Renewed in the background until [`Lease::release`]; dropping it stops
/// the renewal (the lease then expires).
#[derive(Debug)]
pub struct Lease {
    client: Client,
    arn: String,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Whether the lease was lost (broken by `lock break`, or not renewed in time): the run has
    /// been asked to stop starting work.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Release the lock: the next run may start at once. A failed release would block the next
    /// run for the whole lease, so it is tried again (each try with the SDK's own retries) before
    /// it is given up; a try whose answer was lost made the delete, and the next finds nothing.
    pub async fn release(self) -> Result<()> {
        self.renewer.abort();
        if self.lost() {
            return Ok(());
        }
        let mut pause = Duration::from_millis(250);
        for _ in 1..RELEASE_TRIES {
            match delete(&self.client, &self.arn).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::debug!(error = %e, "releasing the run lock failed; trying again")
                }
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        delete(&self.client, &self.arn).await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// The lock's name taken by a secret scheduled for deletion (deleted with a recovery window, by
/// hand or by another tool): AWS keeps the name until the deletion date, and no run can take the
/// lock meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDeletion {
    /// The secret's name.
    pub name: String,
    /// Its full ARN.
    pub arn: String,
    /// When AWS deletes it (RFC 3339), if it says.
    pub deletion_date: Option<String>,
}

impl std::fmt::Display for PendingDeletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the lock's name `{}` is taken by a secret scheduled for deletion",
            self.name
        )?;
        if let Some(date) = &self.deletion_date {
            write!(f, " on {date}")?;
        }
        Ok(())
    }
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another run holds it, and waiting did not help.
    Held(Box<Held>),
    /// Its name is held by a secret scheduled for deletion, and waiting did not help.
    PendingDeletion(PendingDeletion),
    /// A call failed.
    Aws(Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held(held) => write!(f, "another run holds the lock: {held}"),
            LockError::PendingDeletion(p) => write!(f, "{p}"),
            LockError::Aws(e) => write!(f, "taking the run lock: {e}"),
        }
    }
}

impl std::error::Error for LockError {}

/// Take the lock, waiting up to `req.wait` for another holder; `on_wait` hears about the holder
/// once per change of holder.
pub async fn acquire(
    client: &Client,
    req: &LockRequest,
    mut on_wait: impl FnMut(&Held),
) -> std::result::Result<Lease, LockError> {
    let started = tokio::time::Instant::now();
    let id = lock_id();
    let mut last_seen: Option<String> = None;
    loop {
        let now = unix_now();
        let mut tags = req.tags.clone();
        tags.insert(PURPOSE.into(), "run-lock".into());
        tags.insert(LOCK_ID.into(), id.clone());
        tags.insert(HELD_BY.into(), tag_value(&req.holder.who));
        tags.insert(HOST.into(), tag_value(&req.holder.host));
        tags.insert(PID.into(), req.holder.pid.to_string());
        tags.insert(COMMAND.into(), tag_value(&req.holder.command));
        tags.insert(SINCE.into(), now.to_string());
        tags.insert(RENEWED.into(), now.to_string());
        tags.insert(LEASE.into(), req.lease.as_secs().to_string());
        let created = client
            .create_secret()
            .name(&req.name)
            .description("The run lock of the data-and-ai layer: who runs a deploy, apply, seed or destroy of this environment now. Holds no value; removed when the run ends. `lock break` removes it.")
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await;
        let arn = match created {
            Ok(out) => Some(out.arn().unwrap_or_default().to_string()),
            // Ours if a retry of a create whose answer was lost finds our own lock id.
            Err(e) if e.code() == Some("ResourceExistsException") => None,
            // The name is held by a secret scheduled for deletion (or a deletion still being
            // carried out): wait for it as for a holder, bounded by the same wait.
            Err(e) if e.code() == Some("InvalidRequestException") => {
                if started.elapsed() >= req.wait {
                    if let Some(p) = pending_deletion(client, &req.name)
                        .await
                        .map_err(LockError::Aws)?
                    {
                        return Err(LockError::PendingDeletion(p));
                    }
                }
                let left = req.wait.saturating_sub(started.elapsed());
                tokio::time::sleep(
                    left.clamp(Duration::from_millis(100), Duration::from_millis(500)),
                )
                .await;
                continue;
            }
            Err(e) => {
                return Err(LockError::Aws(Error::aws_on(
                    "secretsmanager",
                    "CreateSecret",
                    &req.name,
                    &e,
                )))
            }
        };
        let arn = match arn {
            Some(arn) => Some(arn),
            None => match read(client, &req.name).await.map_err(LockError::Aws)? {
                Some((held, lock_id)) if lock_id == id => Some(held.arn),
                Some((held, _)) => {
                    if held.expired_at(unix_now()) {
                        // Broken on the ARN read: if another contender broke it and took a new
                        // one meanwhile, that one has another ARN and is left alone.
                        delete(client, &held.arn).await.map_err(LockError::Aws)?;
                        continue;
                    }
                    if last_seen.as_deref() != Some(held.arn.as_str()) {
                        on_wait(&held);
                        last_seen = Some(held.arn.clone());
                    }
                    if started.elapsed() >= req.wait {
                        return Err(LockError::Held(Box::new(held)));
                    }
                    let left = req.wait.saturating_sub(started.elapsed());
                    tokio::time::sleep(left.min(Duration::from_secs(1))).await;
                    continue;
                }
                // Released between our create and our read.
                None => continue,
            },
        };
        let Some(arn) = arn else { continue };
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew(
            client.clone(),
            arn.clone(),
            req.lease,
            Arc::clone(&lost),
        ));
        return Ok(Lease {
            client: client.clone(),
            arn,
            lost,
            renewer,
        });
    }
}

/// Renew the lease every third of it, until aborted. A lease that cannot be renewed (the lock
/// was broken, or renewals failed for a whole lease) is lost: the run is asked to stop.
async fn renew(client: Client, arn: String, lease: Duration, lost: Arc<AtomicBool>) {
    let every = (lease / 3).max(Duration::from_secs(1));
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(every).await;
        let result = client
            .tag_resource()
            .secret_id(&arn)
            .tags(
                Tag::builder()
                    .key(RENEWED)
                    .value(unix_now().to_string())
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => renewed = tokio::time::Instant::now(),
            Err(e) => {
                let gone = e.code() == Some("ResourceNotFoundException")
                    || e.code() == Some("InvalidRequestException");
                if gone || renewed.elapsed() >= lease {
                    tracing::error!(
                        lock = %arn,
                        "the run lock's lease was lost (broken by `lock break`, or not renewed in time): starting nothing new"
                    );
                    lost.store(true, Ordering::SeqCst);
                    layer_core::interrupt::lease_lost();
                    return;
                }
                tracing::warn!(lock = %arn, error = %Error::aws_on("secretsmanager", "TagResource", &arn, &e), "renewing the run lock failed; trying again");
            }
        }
    }
}

/// The Secrets Manager client the lock's calls go through.
/// The permissions of the run lock on secret `name` (`{nid}/run-lock`): taken, renewed, read,
/// released. It holds no value, so it needs no key.
pub fn access(name: &str) -> Vec<layer_core::access::Access> {
    use layer_core::access::{arn, Access, Need};
    vec![Access::new(
        Need::Lock,
        "RunLock",
        &[
            "secretsmanager:CreateSecret",
            "secretsmanager:TagResource",
            "secretsmanager:DescribeSecret",
            "secretsmanager:DeleteSecret",
        ],
        [arn("secretsmanager", &format!("secret:{name}-*"))],
    )]
}

/// The Secrets Manager client the lock uses.
pub fn client(sdk: &aws_types::SdkConfig) -> Client {
    Client::new(sdk)
}

/// The lock as it is now, if any run holds it.
pub async fn current(client: &Client, name: &str) -> Result<Option<Held>> {
    Ok(read(client, name).await?.map(|(held, _)| held))
}

/// Break the lock, whoever holds it. Returns what it was.
pub async fn break_lock(client: &Client, name: &str) -> Result<Option<Held>> {
    let Some((held, _)) = read(client, name).await? else {
        return Ok(None);
    };
    delete(client, &held.arn).await?;
    Ok(Some(held))
}

/// The secret scheduled for deletion that holds the lock's name, if one does.
pub async fn pending_deletion(client: &Client, name: &str) -> Result<Option<PendingDeletion>> {
    match client.describe_secret().secret_id(name).send().await {
        Ok(d) => Ok(d.deleted_date().map(|date| PendingDeletion {
            name: name.to_string(),
            arn: d.arn().unwrap_or(name).to_string(),
            deletion_date: std::time::SystemTime::try_from(*date)
                .ok()
                .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        })),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(Error::aws_on("secretsmanager", "DescribeSecret", name, &e)),
    }
}

/// Free the lock's name from a secret scheduled for deletion: delete it now, without recovery
/// (it holds no value). Returns what it was.
pub async fn free_pending(client: &Client, name: &str) -> Result<Option<PendingDeletion>> {
    let Some(p) = pending_deletion(client, name).await? else {
        return Ok(None);
    };
    delete(client, &p.arn).await?;
    Ok(Some(p))
}

async fn read(client: &Client, name: &str) -> Result<Option<(Held, String)>> {
    let Some(m) = meta::describe(client, name).await? else {
        return Ok(None);
    };
    if m.scheduled_for_deletion {
        return Ok(None);
    }
    let num = |k: &str| m.tag(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let held = Held {
        holder: Holder {
            who: m.tag(HELD_BY).unwrap_or("unknown").to_string(),
            host: m.tag(HOST).unwrap_or("unknown").to_string(),
            pid: u32::try_from(num(PID)).unwrap_or(0),
            command: m.tag(COMMAND).unwrap_or("unknown").to_string(),
        },
        since: num(SINCE),
        renewed_at: num(RENEWED),
        lease_seconds: num(LEASE),
        arn: m.arn.clone(),
    };
    Ok(Some((held, m.tag(LOCK_ID).unwrap_or_default().to_string())))
}

async fn delete(client: &Client, arn: &str) -> Result<()> {
    match client
        .delete_secret()
        .secret_id(arn)
        .force_delete_without_recovery(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => Err(Error::aws_on("secretsmanager", "DeleteSecret", arn, &e)),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn lock_id() -> String {
    let n: u128 = rand::random();
    format!("{n:032x}")
}

/// A tag value AWS accepts: what it does not accept becomes `_`, at most 256 characters.
fn tag_value(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_after_its_length_without_renewal() {
        let held = Held {
            holder: Holder {
                who: "arn:aws:iam::123456789012:user/a".into(),
                host: "h".into(),
                pid: 1,
                command: "deploy test".into(),
            },
            since: 1000,
            renewed_at: 1100,
            lease_seconds: 60,
            arn: "arn".into(),
        };
        assert!(!held.expired_at(1160));
        assert!(held.expired_at(1161));
        let text = held.to_string();
        assert!(text.contains("arn:aws:iam::123456789012:user/a"), "{text}");
        assert!(text.contains("`deploy test`"), "{text}");
        assert!(text.contains("1970-01-01T00:16:40Z"), "{text}");
    }

    #[test]
    fn tag_values_keep_to_what_aws_accepts() {
        assert_eq!(
            tag_value("seed test --force, \"x\""),
            "seed test --force_ _x_"
        );
        assert_eq!(tag_value(&"a".repeat(300)).len(), 256);
    }
}
