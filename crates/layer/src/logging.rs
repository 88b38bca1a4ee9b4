//! Logging that never carries a secret value: the operator's subscriber on stderr, with core's
//! log guard as per-layer filters (`log_guard::let_through` on the output, `log_guard::SpanMarks`
//! beside it: every other crate is quiet while a call that carries a value runs), and a refusal
//! of the SDK's switches that print sensitive bodies on purpose (`LOG_SENSITIVE_BODIES`,
//! `LOG_SIGNABLE_BODY`).

use layer_core::log_guard::{SpanMarks, OUR_TARGETS};
use tracing::Subscriber;
use tracing_subscriber::filter::{DynFilterFn, FilterExt, FilterFn};
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

/// The environment variables with which the SDK prints sensitive bodies.
pub const SENSITIVE_BODY_SWITCHES: &[&str] = &["LOG_SENSITIVE_BODIES", "LOG_SIGNABLE_BODY"];

/// How the operator asked to be told: `-q`, nothing, `-v`, `-vv`, `-vvv`, and the format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// -1 quiet, 0 default, 1.. verbose.
    pub verbosity: i8,
    /// One JSON object per line, for log pipelines.
    pub json: bool,
}

/// The filter for a verbosity, when `RUST_LOG` does not say otherwise. Our crates log at `info`;
/// everything else (the AWS SDK's internal warnings among it, which can hold a raw response)
/// stays out of view until `-v` asks for it.
pub fn default_filter(verbosity: i8) -> String {
    let (ours, others) = match verbosity {
        i8::MIN..=-1 => ("warn", "off"),
        0 => ("info", "off"),
        1 => ("debug", "warn"),
        2 => ("trace", "info"),
        _ => ("trace", "trace"),
    };
    let mut f = others.to_string();
    for t in OUR_TARGETS {
        f.push_str(&format!(",{t}={ours}"));
    }
    f
}

/// Colour only on a terminal, and never when `NO_COLOR` is set (to anything but empty).
pub fn use_colour(is_terminal: bool, no_color: Option<String>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Install the subscriber on stderr: `RUST_LOG` if set, else the verbosity's filter; colour only
/// on a terminal; and the guard described above.
pub fn init(opts: LogOptions) {
    use std::io::IsTerminal as _;
    let env = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(opts.verbosity)));
    let colour = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var("NO_COLOR").ok(),
    );
    let _ = subscriber(env, || AboveProgress, colour, opts.json).try_init();
}

/// Stderr, with live progress spinners lifted while a log line is written.
struct AboveProgress;

impl std::io::Write for AboveProgress {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::progress::suspended(|| std::io::stderr().write(buf))
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        crate::progress::suspended(|| std::io::stderr().write_all(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The subscriber [`init`] installs, writing to `writer`.
fn subscriber<W>(
    env: EnvFilter,
    writer: W,
    colour: bool,
    json: bool,
) -> impl Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(colour && !json)
        .with_target(false);
    let fmt: Box<dyn Layer<_> + Send + Sync> = if json {
        Box::new(base.json().with_current_span(false).with_span_list(false))
    } else {
        Box::new(base)
    };
    // The guard as per-layer filters: the output lets through only what `let_through` allows,
    // and the marks see the SDK's marking spans whatever level the output asks for.
    let guard = DynFilterFn::new(|meta, _cx| layer_core::log_guard::let_through(meta));
    let marks = SpanMarks.with_filter(FilterFn::new(layer_core::log_guard::may_mark));
    tracing_subscriber::registry()
        .with(fmt.with_filter(env.and(guard)))
        .with(marks)
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
        let sub = subscriber(
            EnvFilter::new("trace"),
            move || writer.clone(),
            false,
            false,
        );
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
    fn the_sdk_stays_quiet_unless_asked_and_colour_only_on_a_terminal() {
        let quiet_sdk = |v: i8| {
            let buf = Buffer::default();
            let writer = buf.clone();
            let sub = subscriber(
                EnvFilter::new(default_filter(v)),
                move || writer.clone(),
                false,
                false,
            );
            tracing::subscriber::with_default(sub, || {
                tracing::warn!(target: "aws_smithy_runtime::client::http", "raw response dump");
                tracing::info!(target: "layer::cli", "our progress line");
                tracing::debug!(target: "layer::cli", "our detail");
            });
            let bytes = buf.0.lock().unwrap().clone();
            String::from_utf8(bytes).unwrap()
        };
        let default = quiet_sdk(0);
        assert!(default.contains("our progress line") && !default.contains("raw response dump"));
        assert!(!default.contains("our detail"));
        let verbose = quiet_sdk(1);
        assert!(verbose.contains("raw response dump") && verbose.contains("our detail"));
        let quiet = quiet_sdk(-1);
        assert!(!quiet.contains("our progress line"));
        assert!(
            !default.contains('\u{1b}'),
            "no escape codes off a terminal"
        );
        assert!(use_colour(true, None));
        assert!(!use_colour(true, Some("1".into())));
        assert!(use_colour(true, Some(String::new())));
        assert!(!use_colour(false, None));
    }

    #[test]
    fn json_lines_for_log_pipelines() {
        let buf = Buffer::default();
        let writer = buf.clone();
        let sub = subscriber(EnvFilter::new("info"), move || writer.clone(), true, true);
        tracing::subscriber::with_default(sub, || {
            tracing::info!(target: "layer::cli", bucket = "b", "created");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["fields"]["message"], "created");
        assert_eq!(line["fields"]["bucket"], "b");
        assert!(!text.contains('\u{1b}'));
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
