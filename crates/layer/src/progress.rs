//! Live progress on the operator's screen, and the table of every change at the end.
//!
//! On a terminal (stderr), each change in flight is a spinner refreshed in place with what it
//! waits for and for how long, like Terraform's `Still creating... [1m20s elapsed]`; a finished
//! change becomes one line with its duration and id. Anywhere else (a CI log, a file), each event
//! is one plain line, with a "still …" line every ten seconds of waiting, and no escape code.
//! Log lines written meanwhile are printed above the spinners (see [`suspended`]).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use layer_core::progress::{seconds, Event, Sink, Verb};
use layer_core::Address;

/// How often a plain "still …" line is written while a change waits.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// The spinners on screen, for log lines to be printed above them.
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Run `write` with the spinners (if any) lifted off the screen, so a log line does not tear
/// them.
pub fn suspended<R>(write: impl FnOnce() -> R) -> R {
    let multi = ACTIVE.lock().ok().and_then(|m| m.clone());
    match multi {
        Some(m) => m.suspend(write),
        None => write(),
    }
}

/// One finished change, for the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The resource (or `secret.<name>` during seed).
    pub address: Address,
    /// Its name in AWS.
    pub name: String,
    /// What was done.
    pub verb: Verb,
    /// When it started, from the start of the run.
    pub started: Duration,
    /// How long it took.
    pub took: Duration,
    /// The error, when it failed.
    pub error: Option<String>,
}

struct InFlight {
    verb: Verb,
    started: Instant,
    bar: Option<ProgressBar>,
    last_plain: Instant,
}

struct State {
    in_flight: HashMap<Address, InFlight>,
    rows: Vec<Row>,
}

/// The command line's progress sink.
pub struct Screen {
    multi: Option<MultiProgress>,
    began: Instant,
    state: Mutex<State>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Screen {
    /// A sink drawing spinners on stderr when `terminal`, plain lines to stderr otherwise.
    pub fn stderr(terminal: bool) -> Arc<Self> {
        Self::new(terminal, Box::new(std::io::stderr()))
    }

    /// A sink writing plain lines to `out` (or spinners on stderr when `terminal`).
    pub fn new(terminal: bool, out: Box<dyn Write + Send>) -> Arc<Self> {
        let multi = terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        if let Ok(mut active) = ACTIVE.lock() {
            *active = multi.clone();
        }
        Arc::new(Screen {
            multi,
            began: Instant::now(),
            state: Mutex::new(State {
                in_flight: HashMap::new(),
                rows: Vec::new(),
            }),
            out: Mutex::new(out),
        })
    }

    /// Every change that finished, in the order they started.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = self
            .state
            .lock()
            .map(|s| s.rows.clone())
            .unwrap_or_default();
        rows.sort_by_key(|r| r.started);
        rows
    }

    /// Take the spinners off the screen for good (the run ended).
    pub fn close(&self) {
        if let Ok(mut s) = self.state.lock() {
            for (_, f) in s.in_flight.drain() {
                if let Some(bar) = f.bar {
                    bar.finish_and_clear();
                }
            }
        }
        if let Ok(mut active) = ACTIVE.lock() {
            *active = None;
        }
    }

    fn line(&self, text: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                if let Ok(mut out) = self.out.lock() {
                    let _ = writeln!(out, "{text}");
                }
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.close();
    }
}

impl Sink for Screen {
    fn event(&self, event: Event) {
        let Ok(mut s) = self.state.lock() else { return };
        match event {
            Event::Started { address, verb, .. } => {
                let bar = self.multi.as_ref().map(|m| {
                    let bar = m.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {prefix}: {msg} [{elapsed} elapsed]",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(address.to_string());
                    bar.set_message(format!("{}…", verb.ing()));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                if bar.is_none() {
                    drop(s);
                    self.line(&format!("{address}: {}...", verb.ing()));
                    s = match self.state.lock() {
                        Ok(s) => s,
                        Err(_) => return,
                    };
                }
                s.in_flight.insert(
                    address,
                    InFlight {
                        verb,
                        started: Instant::now(),
                        bar,
                        last_plain: Instant::now(),
                    },
                );
            }
            Event::Waiting {
                address,
                what,
                status,
                elapsed,
            } => {
                let Some(f) = s.in_flight.get_mut(&address) else {
                    return;
                };
                let still = format!("Still {}", f.verb.ing().to_lowercase());
                match &f.bar {
                    Some(bar) => bar.set_message(format!("{still}… {what}: {status}")),
                    None if f.last_plain.elapsed() >= PLAIN_EVERY => {
                        f.last_plain = Instant::now();
                        let text = format!(
                            "{address}: {still}... [{} elapsed] {what}: {status}",
                            seconds(elapsed)
                        );
                        drop(s);
                        self.line(&text);
                    }
                    None => {}
                }
            }
            Event::Finished {
                address,
                name,
                verb,
                elapsed,
                error,
            } => {
                let started = s
                    .in_flight
                    .remove(&address)
                    .map(|f| {
                        if let Some(bar) = f.bar {
                            bar.finish_and_clear();
                        }
                        f.started
                    })
                    .unwrap_or_else(Instant::now);
                s.rows.push(Row {
                    address: address.clone(),
                    name: name.clone(),
                    verb,
                    started: started.saturating_duration_since(self.began),
                    took: elapsed,
                    error: error.clone(),
                });
                drop(s);
                self.line(&match &error {
                    None => format!(
                        "{address}: {} after {} [id={name}]",
                        verb.complete(),
                        seconds(elapsed)
                    ),
                    Some(e) => format!(
                        "{address}: {} after {}: {e}",
                        verb.failed(),
                        seconds(elapsed)
                    ),
                });
            }
        }
    }
}

/// The table of every change: address, action, result, duration and id, in the order they
/// started, with the run's wall time.
pub fn table(rows: &[Row], wall: Duration) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let verb = |v: Verb| {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let aw = rows
        .iter()
        .map(|r| r.address.to_string().len())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut out = format!(
        "Changes ({}, {} wall time):\n  {:aw$}  {:8}  {:6}  {:>7}  id\n",
        rows.len(),
        seconds(wall),
        "resource",
        "action",
        "result",
        "took",
    );
    for r in rows {
        out.push_str(&format!(
            "  {:aw$}  {:8}  {:6}  {:>7}  {}\n",
            r.address.to_string(),
            verb(r.verb),
            if r.error.is_none() { "done" } else { "failed" },
            seconds(r.took),
            r.name
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn off_a_terminal_each_event_is_one_plain_line_and_the_table_lists_every_change() {
        let out = Captured::default();
        let screen = Screen::new(false, Box::new(out.clone()));
        let a = Address::new("aws_rds_cluster.aurora");
        screen.event(Event::Started {
            address: a.clone(),
            name: "dal-dev-aurora".into(),
            verb: Verb::Create,
        });
        // The first wait within ten seconds writes nothing more.
        screen.event(Event::Waiting {
            address: a.clone(),
            what: "Aurora cluster dal-dev-aurora".into(),
            status: "creating".into(),
            elapsed: Duration::from_secs(3),
        });
        screen.event(Event::Finished {
            address: a.clone(),
            name: "dal-dev-aurora".into(),
            verb: Verb::Create,
            elapsed: Duration::from_secs(80),
            error: None,
        });
        screen.event(Event::Finished {
            address: Address::new("aws_s3_bucket.ai_data"),
            name: "dal-dev-ai-data".into(),
            verb: Verb::Destroy,
            elapsed: Duration::from_millis(1500),
            error: Some("AccessDenied".into()),
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "aws_rds_cluster.aurora: Creating...\n\
             aws_rds_cluster.aurora: Creation complete after 1m20s [id=dal-dev-aurora]\n\
             aws_s3_bucket.ai_data: Destruction failed after 1.5s: AccessDenied\n"
        );
        assert!(!text.contains('\u{1b}'), "no escape code off a terminal");
        let table = table(&screen.rows(), Duration::from_secs(90));
        assert!(
            table.starts_with("Changes (2, 1m30s wall time):"),
            "{table}"
        );
        assert!(
            table.contains("aws_rds_cluster.aurora  create    done      1m20s  dal-dev-aurora"),
            "{table}"
        );
        assert!(
            table.contains("aws_s3_bucket.ai_data   destroy   failed     1.5s  dal-dev-ai-data"),
            "{table}"
        );
    }
}
