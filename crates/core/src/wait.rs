//! The one waiting helper for slow resources (an Aurora cluster or a Redis group takes 10 to 20
//! minutes on AWS): it polls, tells the operator what it waits for and for how long, and gives up
//! after the environment's timeout with an error that says what to do.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::resource::Context;
use crate::{Error, Result};

/// States a resource never leaves by itself, and what the operator does about each. Besides
/// these, `failed`, `FAILED` and every state ending in `_FAILED` or `-failed` are terminal.
const TERMINAL: &[(&str, &str)] = &[
    (
        "inaccessible-encryption-credentials",
        "the cluster cannot use its KMS key: enable the key and let RDS use it in the key policy, then delete the cluster and deploy again",
    ),
    (
        "incompatible-network",
        "the instance cannot be placed in the subnets (no free addresses, or the subnet group's network changed): fix the subnets, delete the instance and deploy again",
    ),
    (
        "incompatible-parameters",
        "the parameter group holds values the instance cannot run with: fix the group, then delete the instance and deploy again",
    ),
    (
        "incompatible-restore",
        "the instance cannot be restored: delete it and deploy again",
    ),
    (
        "storage-full",
        "the instance ran out of storage: scale it or free space",
    ),
];

const FAILED_ADVICE: &str =
    "AWS gave up on it (its events in the console say why): fix the cause, delete it and deploy again";

/// What to do about `status` when it is a state the resource never leaves by itself.
pub fn terminal(status: &str) -> Option<&'static str> {
    if let Some((_, advice)) = TERMINAL.iter().find(|(s, _)| *s == status) {
        return Some(advice);
    }
    let failed = status.eq_ignore_ascii_case("failed")
        || status.ends_with("_FAILED")
        || status.ends_with("-failed");
    failed.then_some(FAILED_ADVICE)
}

/// Poll `check` until it returns `Ok(None)` (done). `Ok(Some(status))` means still waiting, with
/// the status to show. Independent resources go on meanwhile: this only awaits.
pub async fn until<F, Fut>(cx: &Context, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<String>>>,
{
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut last_status = String::new();
    loop {
        match check().await? {
            None => {
                if started.elapsed() > Duration::from_secs(2) {
                    tracing::info!("{what}: ready after {}s", started.elapsed().as_secs());
                }
                return Ok(());
            }
            Some(status) => {
                let elapsed = started.elapsed();
                if let Some(advice) = terminal(&status) {
                    return Err(Error::Other(format!(
                        "{what} is `{status}`, a state AWS does not leave by itself: {advice}"
                    )));
                }
                if elapsed >= cx.wait.timeout {
                    return Err(Error::Other(format!(
                        "gave up waiting for {what} after {}s (last status `{status}`); raise `wait_timeout_minutes` in the environment file or look at it in the AWS console, then run the command again",
                        elapsed.as_secs()
                    )));
                }
                if let Some(address) = crate::progress::current() {
                    cx.progress.send(crate::progress::Event::Waiting {
                        address,
                        what: what.to_string(),
                        status: status.clone(),
                        elapsed,
                    });
                }
                if status != last_status || last_report.elapsed() >= Duration::from_secs(30) {
                    tracing::debug!("waiting for {what}: {status} ({}s)", elapsed.as_secs());
                    last_report = Instant::now();
                    last_status = status;
                }
            }
        }
        tokio::time::sleep(cx.wait.poll).await;
    }
}

/// Poll `listed` until it says the list calls show what this run just made, for up to
/// [`UNSEEN_LIMIT`]: a resource found by listing (AWS chooses its id, so there is no name to read
/// it by) must be listed before the run ends, or the next plan would not find it and propose to
/// create it again.
pub async fn until_listed<F, Fut>(cx: &Context, what: &str, mut listed: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let started = Instant::now();
    loop {
        if listed().await? {
            return Ok(());
        }
        let elapsed = started.elapsed();
        if elapsed >= UNSEEN_LIMIT {
            return Err(Error::Other(format!(
                "{what} was made, but AWS's list calls still do not show it after {}s; wait a few minutes and run plan: until they show it, plan proposes to create it again",
                elapsed.as_secs()
            )));
        }
        if let Some(address) = crate::progress::current() {
            cx.progress.send(crate::progress::Event::Waiting {
                address,
                what: what.to_string(),
                status: "made, not listed yet".to_string(),
                elapsed,
            });
        }
        tokio::time::sleep(cx.wait.poll.min(Duration::from_secs(2))).await;
    }
}

/// How long a resource AWS just made may stay unseen by the calls that follow (the AWS
/// provider for Terraform allows two minutes for a new bucket).
pub const UNSEEN_LIMIT: Duration = Duration::from_secs(120);

/// Run `call`, again while it fails with one of `codes` (AWS's not-found answer for a resource
/// made a moment ago: a bucket after `CreateBucket`, a user after `CreateUser`), for up to
/// `limit`; any other outcome returns at once.
pub async fn while_unseen<T, F, Fut>(
    what: &str,
    codes: &[&str],
    limit: Duration,
    mut call: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match call().await {
            Err(e) if codes.iter().any(|c| e.is_code(c)) && started.elapsed() < limit => {
                tracing::debug!("{what} is not seen yet ({e}); trying again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::WaitSettings;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cx(timeout_ms: u64) -> Context {
        Context {
            environment: "t".into(),
            tags: Default::default(),
            tags_by_resource: Default::default(),
            flags: Default::default(),
            cache: Default::default(),
            progress: Default::default(),
            wait: WaitSettings {
                timeout: Duration::from_millis(timeout_ms),
                poll: Duration::from_millis(5),
            },
        }
    }

    #[tokio::test]
    async fn waits_until_done() {
        let n = AtomicUsize::new(0);
        until(&cx(5_000), "thing", || async {
            Ok((n.fetch_add(1, Ordering::SeqCst) < 3).then(|| "creating".to_string()))
        })
        .await
        .unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_failed_state_ends_the_wait_at_once_naming_it_and_what_to_do() {
        for status in [
            "create-failed",
            "CREATION_FAILED",
            "FAILED",
            "failed",
            "inaccessible-encryption-credentials",
            "incompatible-network",
        ] {
            let n = AtomicUsize::new(0);
            let e = until(&cx(60_000), "thing t", || async {
                n.fetch_add(1, Ordering::SeqCst);
                Ok(Some(status.to_string()))
            })
            .await
            .unwrap_err()
            .to_string();
            assert_eq!(n.load(Ordering::SeqCst), 1, "{status}: no second poll");
            assert!(
                e.contains(&format!("`{status}`")) && e.contains("thing t"),
                "{e}"
            );
        }
        for busy in ["creating", "modifying", "CREATING", "backing-up"] {
            assert_eq!(terminal(busy), None, "{busy}");
        }
    }

    #[tokio::test]
    async fn retries_only_the_not_found_codes_and_only_for_a_while() {
        let unseen = || Error::Aws {
            operation: "PutBucketPolicy on b".into(),
            message: "NoSuchBucket: The specified bucket does not exist".into(),
        };
        let n = AtomicUsize::new(0);
        let v = while_unseen(
            "bucket b",
            &["NoSuchBucket"],
            Duration::from_secs(5),
            || async {
                if n.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(unseen())
                } else {
                    Ok(7)
                }
            },
        )
        .await
        .unwrap();
        assert_eq!((v, n.load(Ordering::SeqCst)), (7, 3));
        let other = while_unseen(
            "bucket b",
            &["NoSuchBucket"],
            Duration::from_secs(5),
            || async {
                Err::<(), _>(Error::Aws {
                    operation: "x".into(),
                    message: "NoSuchBucketPolicy: none".into(),
                })
            },
        )
        .await
        .unwrap_err();
        assert!(!other.is_code("NoSuchBucket") && other.is_code("NoSuchBucketPolicy"));
        let bounded = while_unseen(
            "bucket b",
            &["NoSuchBucket"],
            Duration::from_millis(50),
            || async { Err::<(), _>(unseen()) },
        )
        .await
        .unwrap_err();
        assert!(bounded.is_code("NoSuchBucket"));
    }

    #[tokio::test]
    async fn gives_up_after_the_timeout_and_says_what_to_do() {
        let e = until(&cx(30), "cluster x", || async {
            Ok(Some("creating".to_string()))
        })
        .await
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("cluster x")
                && msg.contains("creating")
                && msg.contains("wait_timeout_minutes"),
            "{msg}"
        );
    }
}
