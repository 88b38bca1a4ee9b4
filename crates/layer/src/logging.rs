//! Logging that never carries a secret value.
//!
//! Our own crates log names, ARNs and outcomes, never values. The AWS SDK logs more as `RUST_LOG`
//! rises: at `trace` it prints whole requests and responses, and a `PutSecretValue` request or a
//! `CreateAccessKey` response holds a secret. So while a call that carries secret values runs
//! (its SDK span is one of [`SENSITIVE_OPERATIONS`]: Secrets Manager, STS and SSO credentials,
//! and IAM's access-key calls), every event from outside this project is
//! dropped, at any level and whatever `RUST_LOG` says. The SDK's switches that print sensitive
//! bodies on purpose (`LOG_SENSITIVE_BODIES`, `LOG_SIGNABLE_BODY`) make the tool refuse to run.

use std::cell::Cell;

use tracing::span;
use tracing::Subscriber;
use tracing_subscriber::filter::{DynFilterFn, FilterExt, FilterFn};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

/// The SDK operation spans (`"<service>.<Operation>"`, or a service prefix) whose requests or
/// responses carry secret values.
pub const SENSITIVE_OPERATIONS: &[&str] = &[
    "Secrets Manager.",
    "STS.",
    "SSO.",
    "SSO OIDC.",
    "IAM.CreateAccessKey",
    "IAM.ListAccessKeys",
    "IAM.DeleteAccessKey",
    "IAM.UpdateAccessKey",
    "IAM.GetAccessKeyLastUsed",
];

/// The environment variables with which the SDK prints sensitive bodies.
pub const SENSITIVE_BODY_SWITCHES: &[&str] = &["LOG_SENSITIVE_BODIES", "LOG_SIGNABLE_BODY"];

/// The targets of this project's own crates, whose events never carry values.
const OUR_TARGETS: &[&str] = &[
    "layer",
    "layer_core",
    "data_s3",
    "data_aurora",
    "data_redis",
    "ai_bedrock",
    "secrets_seed",
    "monitoring",
    "shared_resources",
    "local_aws",
    "xtask",
    "data_and_ai",
];

thread_local! {
    static IN_SENSITIVE_CALL: Cell<usize> = const { Cell::new(0) };
}

/// Whether an SDK span name is one of [`SENSITIVE_OPERATIONS`].
pub fn is_sensitive_operation(span_name: &str) -> bool {
    SENSITIVE_OPERATIONS.iter().any(|op| {
        if op.ends_with('.') {
            span_name.starts_with(op)
        } else {
            span_name == *op
        }
    })
}

fn is_ours(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or(target);
    OUR_TARGETS.contains(&krate)
}

/// Counts, per thread, the sensitive SDK calls being polled: the SDK enters an operation's span
/// each time its future is polled, on the thread that polls it, so the count is exact.
struct SensitiveCalls;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SensitiveCalls {
    fn on_enter(&self, _id: &span::Id, _cx: Context<'_, S>) {
        IN_SENSITIVE_CALL.with(|c| c.set(c.get() + 1));
    }

    fn on_exit(&self, _id: &span::Id, _cx: Context<'_, S>) {
        IN_SENSITIVE_CALL.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Install the subscriber: stderr, `RUST_LOG` (default `info`), and the guard described above.
pub fn init() {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = subscriber(env, std::io::stderr).try_init();
}

/// The subscriber [`init`] installs, writing to `writer`.
fn subscriber<W>(env: EnvFilter, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let guard = DynFilterFn::new(|meta, _cx| {
        meta.is_span() || is_ours(meta.target()) || IN_SENSITIVE_CALL.with(|c| c.get() == 0)
    });
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(false)
        .with_filter(env.and(guard));
    // The tracker sees the sensitive operation spans only, whatever the level asked for.
    let tracker = SensitiveCalls.with_filter(FilterFn::new(|meta| {
        meta.is_span() && is_sensitive_operation(meta.name())
    }));
    tracing_subscriber::registry().with(fmt).with(tracker)
}

/// Refuse to run with the SDK's switches for printing sensitive bodies set.
pub fn refuse_sensitive_body_logging(
    var: impl Fn(&str) -> Option<String>,
) -> layer_core::Result<()> {
    for key in SENSITIVE_BODY_SWITCHES {
        if var(key).is_some_and(|v| !v.is_empty() && !v.eq_ignore_ascii_case("false")) {
            return Err(layer_core::Error::Config(format!(
                "{key} is set: the AWS SDK would print secret values in its logs; unset {key} to run this tool"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_operations_by_span_name() {
        assert!(is_sensitive_operation("Secrets Manager.GetSecretValue"));
        assert!(is_sensitive_operation("IAM.CreateAccessKey"));
        assert!(is_sensitive_operation("STS.AssumeRole"));
        assert!(!is_sensitive_operation("IAM.CreateUser"));
        assert!(!is_sensitive_operation("RDS.DescribeDBClusters"));
        assert!(is_ours("secrets_seed::seed"));
        assert!(!is_ours("aws_smithy_runtime::client::orchestrator"));
    }

    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn sdk_events_inside_a_sensitive_call_are_dropped_at_every_level() {
        let buf = Buffer::default();
        let writer = buf.clone();
        let sub = subscriber(EnvFilter::new("trace"), move || writer.clone());
        tracing::subscriber::with_default(sub, || {
            let sensitive = tracing::debug_span!("Secrets Manager.PutSecretValue");
            sensitive.in_scope(|| {
                tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "request body canary-in-secret-call");
                tracing::warn!(target: "aws_smithy_runtime::client::orchestrator", "warning canary-in-secret-call");
                tracing::info!(target: "secrets_seed::seed", "our own line in a secret call");
            });
            let other = tracing::debug_span!("RDS.DescribeDBClusters");
            other.in_scope(|| {
                tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "request body of a describe");
            });
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("canary-in-secret-call"), "{text}");
        assert!(text.contains("our own line in a secret call"), "{text}");
        assert!(
            text.contains("request body of a describe"),
            "other calls log as asked: {text}"
        );
    }

    #[test]
    fn refuses_the_sdk_body_switches() {
        let e =
            refuse_sensitive_body_logging(|k| (k == "LOG_SENSITIVE_BODIES").then(|| "true".into()))
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("LOG_SENSITIVE_BODIES") && e.contains("unset"),
            "{e}"
        );
        assert!(refuse_sensitive_body_logging(|_| None).is_ok());
        assert!(refuse_sensitive_body_logging(
            |k| (k == "LOG_SIGNABLE_BODY").then(|| "false".into())
        )
        .is_ok());
    }
}
