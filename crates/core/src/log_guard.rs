//! The log guard: keeps secret values out of logs, in this tool and in every tool that imports
//! its crates.
//!
//! This project's crates log names, ARNs and outcomes, never values. Other crates log more as
//! their level rises: the AWS SDK prints whole requests and responses at `trace` (a
//! `PutSecretValue` request, a `CreateAccessKey` response), and tokio-postgres logs every
//! statement at `debug`. While a call that carries a value runs, [`SecretGuard`] disables every
//! event from outside this project, at any level, whatever the subscriber's filters say. A call
//! carries a value when
//! - it runs inside [`carrying`]: this project's code wraps every call that sends or receives a
//!   value (seed's writes, the reader's reads, the S3 key's creation, a password set on a
//!   database), so the guard holds without any span;
//! - or the SDK runs it in a span of [`SENSITIVE_OPERATIONS`] (Secrets Manager, STS, SSO, SSO
//!   OIDC and IAM's access-key calls) or of a credential refresh ([`CREDENTIAL_SPANS`]: the
//!   provider chain, assume-role, instance metadata and container credentials).
//!
//! A tool that imports the crates adds the guard to its own subscriber:
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt as _;
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer())
//!     .with(layer_core::log_guard::SecretGuard);
//! # let _ = subscriber;
//! ```
//!
//! The spans are seen only where the subscriber enables them: a global filter that switches the
//! SDK's spans off but its events on hides the SDK's own marks (the [`carrying`] marks hold
//! regardless). Filter per layer, or keep the SDK's spans enabled.
//!
//! [`SecretGuard`] takes an interest in every callsite (it must see every event to veto it),
//! which costs something on every event of every crate. A subscriber that filters per layer can
//! use the two halves instead, as this tool does: [`let_through`] as its output's filter, and
//! [`SpanMarks`] beside it with [`may_mark`] as its own.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

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

/// The spans of `aws-config`'s credential refreshes, which receive keys and tokens.
pub const CREDENTIAL_SPANS: &[&str] = &[
    "default_credentials_chain",
    "credentials_provider_chain",
    "load_base_credentials",
    "load_assume_role",
    "assume_role",
    "imds_load_region",
];

/// The `rpc.service` of the operations `aws-config` runs without a named span: instance
/// metadata (IMDS) and container credentials.
const CREDENTIAL_SERVICES: &[&str] = &["imds", "HttpCredentialProvider"];

/// The targets of this project's own crates, whose events never carry values.
pub const OUR_TARGETS: &[&str] = &[
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
    /// Calls carrying a value being polled on this thread: marked spans entered plus
    /// [`carrying`] futures being polled.
    static CARRYING: Cell<usize> = const { Cell::new(0) };
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

/// Whether an event's target is one of this project's crates.
pub fn is_ours(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or(target);
    OUR_TARGETS.contains(&krate)
}

/// Whether a call carrying a value is running on this thread.
pub fn carrying_now() -> bool {
    CARRYING.with(|c| c.get() > 0)
}

/// Counts one carrying call for as long as it lives.
struct Mark;

impl Mark {
    fn new() -> Self {
        CARRYING.with(|c| c.set(c.get() + 1));
        Mark
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        CARRYING.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// A future that carries a value: while it is polled, [`SecretGuard`] lets no other crate's
/// event through. See [`carrying`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Carrying<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for Carrying<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let _mark = Mark::new();
        self.inner.as_mut().poll(cx)
    }
}

/// Mark `call` as one that sends or receives a secret value: no other crate logs while it runs.
pub fn carrying<F: Future>(call: F) -> Carrying<F> {
    Carrying {
        inner: Box::pin(call),
    }
}

/// The same for synchronous work.
pub fn carrying_sync<T>(work: impl FnOnce() -> T) -> T {
    let _mark = Mark::new();
    work()
}

/// Whether an event or span may reach an output now: spans always (they carry no values), this
/// project's events always, other crates' events only while no call carrying a value runs. For
/// a subscriber that filters per layer, as this tool's does, with [`SpanMarks`] beside it.
pub fn let_through(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() || is_ours(meta.target()) || !carrying_now()
}

/// Whether a span may be one that marks a call carrying a value (its name; for `invoke`, its
/// `rpc.service` decides when it is made): the spans [`SpanMarks`] needs to see.
pub fn may_mark(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span()
        && (is_sensitive_operation(meta.name())
            || CREDENTIAL_SPANS.contains(&meta.name())
            || meta.name() == "invoke")
}

/// The half of [`SecretGuard`] that counts the SDK's marking spans, for a subscriber that keeps
/// other crates out with [`let_through`] as a per-layer filter; give it [`may_mark`] as its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanMarks;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanMarks {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, cx: Context<'_, S>) {
        SecretGuard.on_new_span(attrs, id, cx)
    }

    fn on_enter(&self, id: &Id, cx: Context<'_, S>) {
        SecretGuard.on_enter(id, cx)
    }

    fn on_exit(&self, id: &Id, cx: Context<'_, S>) {
        SecretGuard.on_exit(id, cx)
    }
}

/// Marks a span as one whose calls carry values.
struct Sensitive;

fn is_sensitive_span(attrs: &Attributes<'_>) -> bool {
    let name = attrs.metadata().name();
    if is_sensitive_operation(name) || CREDENTIAL_SPANS.contains(&name) {
        return true;
    }
    if name != "invoke" {
        return false;
    }
    struct Service(bool);
    impl tracing::field::Visit for Service {
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            if field.name() == "rpc.service" && CREDENTIAL_SERVICES.contains(&value) {
                self.0 = true;
            }
        }
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "rpc.service" {
                let text = format!("{value:?}");
                self.0 |= CREDENTIAL_SERVICES
                    .iter()
                    .any(|s| text.trim_matches('"') == *s);
            }
        }
    }
    let mut service = Service(false);
    attrs.record(&mut service);
    service.0
}

/// The guard: a `tracing` layer that disables, for the whole subscriber, every event from
/// outside this project while a call carrying a value runs. Add it to any subscriber built on
/// `tracing_subscriber::registry()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretGuard;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SecretGuard {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, cx: Context<'_, S>) {
        if is_sensitive_span(attrs) {
            if let Some(span) = cx.span(id) {
                span.extensions_mut().insert(Sensitive);
            }
        }
    }

    fn on_enter(&self, id: &Id, cx: Context<'_, S>) {
        if cx
            .span(id)
            .is_some_and(|s| s.extensions().get::<Sensitive>().is_some())
        {
            CARRYING.with(|c| c.set(c.get() + 1));
        }
    }

    fn on_exit(&self, id: &Id, cx: Context<'_, S>) {
        if cx
            .span(id)
            .is_some_and(|s| s.extensions().get::<Sensitive>().is_some())
        {
            CARRYING.with(|c| c.set(c.get().saturating_sub(1)));
        }
    }

    fn event_enabled(&self, event: &Event<'_>, _cx: Context<'_, S>) -> bool {
        is_ours(event.metadata().target()) || !carrying_now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

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

    /// An importing tool's own subscriber: everything at trace, and the guard.
    fn importer(buf: &Buffer) -> impl Subscriber + Send + Sync {
        let writer = buf.clone();
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || writer.clone())
                    .with_ansi(false),
            )
            .with(SecretGuard)
    }

    fn text(buf: &Buffer) -> String {
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn in_an_importers_subscriber_sdk_and_credential_spans_keep_other_crates_quiet() {
        let buf = Buffer::default();
        tracing::subscriber::with_default(importer(&buf), || {
            for span in [
                tracing::debug_span!("Secrets Manager.PutSecretValue"),
                tracing::debug_span!("credentials_provider_chain"),
                tracing::debug_span!("invoke", "rpc.service" = "imds", "rpc.method" = "get"),
            ] {
                span.in_scope(|| {
                    tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "body canary-7f3a");
                    tracing::info!(target: "secrets_seed::seed", "our own line");
                });
            }
            tracing::debug_span!("invoke", "rpc.service" = "RDS").in_scope(|| {
                tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "a describe");
            });
        });
        let text = text(&buf);
        assert!(!text.contains("canary-7f3a"), "{text}");
        assert_eq!(text.matches("our own line").count(), 3, "{text}");
        assert!(
            text.contains("a describe"),
            "other calls log as asked: {text}"
        );
    }

    /// An importer whose output layer has its own level filter, beside the guard: info lines
    /// still print, ours and other crates' alike, and the guard still holds.
    #[test]
    fn beside_a_per_layer_filter_the_guard_keeps_info_lines() {
        use tracing_subscriber::Layer as _;
        let buf = Buffer::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || writer.clone())
                    .with_ansi(false)
                    .with_filter(tracing_subscriber::EnvFilter::new("info")),
            )
            .with(SecretGuard);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "secrets_seed::seed", "our info line");
            tracing::info!(target: "hyper::client", "their info line");
            tracing::debug!(target: "hyper::client", "their debug line");
            tracing::debug_span!("Secrets Manager.PutSecretValue").in_scope(|| {
                tracing::warn!(target: "aws_smithy_runtime::client::orchestrator", "canary-7f3a");
            });
        });
        let text = text(&buf);
        assert!(text.contains("our info line"), "{text}");
        assert!(text.contains("their info line"), "{text}");
        assert!(!text.contains("their debug line"), "{text}");
        assert!(!text.contains("canary-7f3a"), "{text}");
    }

    #[tokio::test]
    async fn a_carrying_call_keeps_other_crates_quiet_without_any_span() {
        let buf = Buffer::default();
        let _default = tracing::subscriber::set_default(importer(&buf));
        carrying(async {
            tracing::debug!(target: "tokio_postgres::query", "executing ALTER ROLE canary-7f3a");
            tokio::task::yield_now().await;
            tracing::debug!(target: "tokio_postgres::query", "after a yield canary-7f3a");
        })
        .await;
        carrying_sync(|| tracing::warn!(target: "redis", "canary-7f3a"));
        tracing::debug!(target: "tokio_postgres::query", "a statement outside");
        let text = text(&buf);
        assert!(!text.contains("canary-7f3a"), "{text}");
        assert!(text.contains("a statement outside"), "{text}");
        assert!(!carrying_now(), "the mark ends with the call");
    }

    #[test]
    fn names_and_targets() {
        assert!(is_sensitive_operation("Secrets Manager.GetSecretValue"));
        assert!(is_sensitive_operation("IAM.CreateAccessKey"));
        assert!(!is_sensitive_operation("IAM.CreateUser"));
        assert!(is_ours("secrets_seed::seed"));
        assert!(!is_ours("aws_smithy_runtime::client::orchestrator"));
    }
}
