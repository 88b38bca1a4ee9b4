//! One run at a time: the commands that change an environment (deploy, apply, seed, destroy)
//! hold its run lock, a lease in AWS itself (see [`secrets_seed::lock`] for the primitive and
//! why). `plan` and `outputs` take none.

use std::time::Duration;

use aws_types::SdkConfig;
use layer_core::config::Environment;
use layer_core::{Error, Result};
use secrets_seed::lock::{self, Held, Holder, Lease, LockError, LockRequest};

/// The environment's lock secret, `{nid}/run-lock` (it follows `[secrets] prefix`, and
/// `[secrets.names] run-lock` names it exactly).
pub fn lock_name(env: &Environment) -> String {
    secrets_seed::names(env).full(lock::LOCK_SECRET)
}

/// Take the environment's run lock for `command`, waiting up to `wait` (the environment's
/// `run_lock.wait_seconds` when `None`); `on_wait` hears who holds it while waiting.
pub async fn take(
    sdk: &SdkConfig,
    env: &Environment,
    caller_arn: &str,
    command: &str,
    wait: Option<Duration>,
    on_wait: impl FnMut(&Held),
) -> Result<Lease> {
    let req = LockRequest {
        name: lock_name(env),
        tags: env.resource_tags(),
        lease: Duration::from_secs(env.run_lock.lease_seconds),
        wait: wait.unwrap_or(Duration::from_secs(env.run_lock.wait_seconds)),
        holder: Holder {
            who: caller_arn.to_string(),
            host: hostname(),
            pid: std::process::id(),
            command: command.to_string(),
        },
    };
    lock::acquire(&lock::client(sdk), &req, on_wait)
        .await
        .map_err(|e| match e {
            LockError::Held(held) => Error::Locked(format!(
                "environment `{}` is locked by another run: {held}; wait for it (--lock-timeout 10m waits up to ten minutes), or, if that run is gone, `lock break {}`",
                env.name, env.name
            )),
            LockError::PendingDeletion(p) => Error::Locked(format!(
                "environment `{}` cannot be locked: {p}; `lock break {}` deletes it now (it holds no value), or wait until then",
                env.name, env.name
            )),
            LockError::Aws(e) => e,
        })
}

/// The secret scheduled for deletion that holds the lock's name, if one does.
pub async fn pending(sdk: &SdkConfig, env: &Environment) -> Result<Option<lock::PendingDeletion>> {
    lock::pending_deletion(&lock::client(sdk), &lock_name(env)).await
}

/// Free the lock's name from a secret scheduled for deletion.
pub async fn free_pending(
    sdk: &SdkConfig,
    env: &Environment,
) -> Result<Option<lock::PendingDeletion>> {
    lock::free_pending(&lock::client(sdk), &lock_name(env)).await
}

/// The lock as it is now.
pub async fn show(sdk: &SdkConfig, env: &Environment) -> Result<Option<Held>> {
    lock::current(&lock::client(sdk), &lock_name(env)).await
}

/// Break the lock, whoever holds it; returns what it was.
pub async fn break_it(sdk: &SdkConfig, env: &Environment) -> Result<Option<Held>> {
    lock::break_lock(&lock::client(sdk), &lock_name(env)).await
}

/// This machine's name, for the lock's holder.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}
