//! The one waiting helper for slow resources (an Aurora cluster or a Redis group takes 10 to 20
//! minutes on AWS): it polls, tells the operator what it waits for and for how long, and gives up
//! after the environment's timeout with an error that says what to do.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::resource::Context;
use crate::{Error, Result};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::WaitSettings;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cx(timeout_ms: u64) -> Context {
        Context {
            environment: "t".into(),
            tags: Default::default(),
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
