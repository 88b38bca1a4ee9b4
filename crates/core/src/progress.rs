//! Live progress of an apply, a destroy or a seed: what started, what is being waited for and for
//! how long, what finished and after how long. The engine and [`crate::wait`] send [`Event`]s to
//! the context's [`Progress`]; the command line draws them (in place on a terminal, one plain line
//! per event otherwise). Without a sink, events go to the log.

use std::sync::Arc;
use std::time::Duration;

use crate::address::Address;
use crate::plan::Action;

/// What happens to one resource (or one secret, during seed).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A change started.
    Started {
        /// The resource.
        address: Address,
        /// Its name in AWS.
        name: String,
        /// The verb, e.g. `Creating`, `Modifying`, `Destroying`, `Seeding`.
        verb: Verb,
    },
    /// A change is waiting on AWS (a cluster being created, …); sent at every poll.
    Waiting {
        /// The resource.
        address: Address,
        /// What it waits for, e.g. `Aurora cluster dal-dev-aurora`.
        what: String,
        /// AWS's status now, e.g. `creating`.
        status: String,
        /// How long the change has been running.
        elapsed: Duration,
    },
    /// A change finished.
    Finished {
        /// The resource.
        address: Address,
        /// Its name in AWS (its id).
        name: String,
        /// The verb it started with.
        verb: Verb,
        /// How long it took.
        elapsed: Duration,
        /// `None` when it succeeded; else the error, as said to the operator.
        error: Option<String>,
    },
}

/// What a change does, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    /// Create.
    Create,
    /// Update in place.
    Modify,
    /// Delete and create again.
    Replace,
    /// Delete.
    Destroy,
    /// Take over (tag) an untagged resource.
    Adopt,
    /// Write a secret's value.
    Seed,
}

impl Verb {
    /// The verb of a planned action (`None` for no-op).
    pub fn of(action: &Action) -> Option<Verb> {
        Some(match action {
            Action::Create => Verb::Create,
            Action::Update => Verb::Modify,
            Action::Replace { .. } => Verb::Replace,
            Action::Delete => Verb::Destroy,
            Action::Adopt => Verb::Adopt,
            Action::NoOp => return None,
        })
    }

    /// `Creating`, `Modifying`, … (Terraform's words).
    pub fn ing(self) -> &'static str {
        match self {
            Verb::Create => "Creating",
            Verb::Modify => "Modifying",
            Verb::Replace => "Replacing",
            Verb::Destroy => "Destroying",
            Verb::Adopt => "Adopting",
            Verb::Seed => "Seeding",
        }
    }

    /// `Creation complete`, `Modifications complete`, ….
    pub fn complete(self) -> &'static str {
        match self {
            Verb::Create => "Creation complete",
            Verb::Modify => "Modifications complete",
            Verb::Replace => "Replacement complete",
            Verb::Destroy => "Destruction complete",
            Verb::Adopt => "Adoption complete",
            Verb::Seed => "Seeded",
        }
    }
}

impl Verb {
    /// `Creation failed`, `Modification failed`, ….
    pub fn failed(self) -> &'static str {
        match self {
            Verb::Create => "Creation failed",
            Verb::Modify => "Modification failed",
            Verb::Replace => "Replacement failed",
            Verb::Destroy => "Destruction failed",
            Verb::Adopt => "Adoption failed",
            Verb::Seed => "Seeding failed",
        }
    }
}

/// Where events go.
pub trait Sink: Send + Sync {
    /// Hear one event.
    fn event(&self, event: Event);
}

/// The context's progress sink: cheap to clone; without a sink, events are logged.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Sink>>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(sink)"
        } else {
            "Progress(log)"
        })
    }
}

impl Progress {
    /// Events go to `sink`.
    pub fn to(sink: Arc<dyn Sink>) -> Self {
        Progress(Some(sink))
    }

    /// Send an event.
    pub fn send(&self, event: Event) {
        match &self.0 {
            Some(sink) => sink.event(event),
            None => log(&event),
        }
    }
}

fn log(event: &Event) {
    match event {
        Event::Started { address, verb, .. } => {
            tracing::info!(%address, "{}…", verb.ing());
        }
        Event::Waiting { .. } => {}
        Event::Finished {
            address,
            name,
            verb,
            elapsed,
            error: None,
        } => {
            tracing::info!(%address, id = %name, elapsed = %seconds(*elapsed), "{}", verb.complete());
        }
        Event::Finished {
            address,
            elapsed,
            error: Some(error),
            ..
        } => {
            tracing::warn!(%address, elapsed = %seconds(*elapsed), %error, "failed");
        }
    }
}

/// A duration as Terraform shows it: `12s`, `1m20s`, `2h3m`; under ten seconds with one decimal.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs();
    if s < 10 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{}h{}m", s / 3600, (s % 3600) / 60)
    }
}

tokio::task_local! {
    static CURRENT: Address;
}

/// Run `f` as the change of `address`: waits inside it report under that address.
pub async fn within<F: std::future::Future>(address: Address, f: F) -> F::Output {
    CURRENT.scope(address, f).await
}

/// The address of the change this task runs, if any.
pub fn current() -> Option<Address> {
    CURRENT.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_terraforms() {
        assert_eq!(seconds(Duration::from_millis(2345)), "2.3s");
        assert_eq!(seconds(Duration::from_secs(42)), "42s");
        assert_eq!(seconds(Duration::from_secs(80)), "1m20s");
        assert_eq!(seconds(Duration::from_secs(7380)), "2h3m");
    }

    #[tokio::test]
    async fn waits_know_the_change_they_belong_to() {
        assert_eq!(current(), None);
        let a = Address::new("aws_rds_cluster.aurora");
        let seen = within(a.clone(), async { current() }).await;
        assert_eq!(seen, Some(a));
    }
}
