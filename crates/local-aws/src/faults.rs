//! Fault injection, set per operation or as a rate, seeded so that a failing run can be repeated:
//! the throttling error each service really returns, HTTP 500 and 503, a connection dropped
//! before the request reaches moto, a request carried out whose response is lost, and latency.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The service's own throttling error (`Throttling`, `ThrottlingException`, `SlowDown`, …).
    Throttle,
    /// HTTP 500 InternalError.
    Http500,
    /// HTTP 503 ServiceUnavailable.
    Http503,
    /// The connection is closed before the request reaches moto.
    DropConnection,
    /// The request is carried out, then the connection is closed before the response.
    LoseResponse,
    /// The request is delayed by `latency_ms`.
    Latency,
}

/// A rule: which calls, which fault, how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Only calls of this service (`s3`, `iam`, …); all when absent.
    #[serde(default)]
    pub service: Option<String>,
    /// Only calls of this operation (`CreateBucket`, …); all when absent.
    #[serde(default)]
    pub operation: Option<String>,
    /// Only mutating calls.
    #[serde(default)]
    pub mutating_only: bool,
    /// The fault.
    pub fault: Fault,
    /// The share of matching calls that get it (0.0 to 1.0).
    #[serde(default = "one")]
    pub rate: f64,
    /// At most this many times; unlimited when absent.
    #[serde(default)]
    pub count: Option<u32>,
    /// For [`Fault::Latency`].
    #[serde(default)]
    pub latency_ms: u64,
}

fn one() -> f64 {
    1.0
}

impl Rule {
    /// `fault` on a share `rate` of every call, whatever its service or operation.
    pub fn every(fault: Fault, rate: f64) -> Self {
        Rule {
            service: None,
            operation: None,
            mutating_only: false,
            fault,
            rate,
            count: None,
            latency_ms: 0,
        }
    }
}

/// The rules and the seed, as set over HTTP (`POST /_gateway/faults`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// The seed of the random choices.
    #[serde(default)]
    pub seed: u64,
    /// The rules, checked in order; the first that fires wins (latency adds to it).
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// What the gateway does to one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Delay first.
    pub latency_ms: u64,
    /// Then this fault, if any.
    pub fault: Option<Fault>,
}

#[derive(Debug)]
struct State {
    plan: FaultPlan,
    used: Vec<u32>,
    rng: StdRng,
    injected: u64,
}

/// The gateway's fault injector.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<State>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            state: Mutex::new(State {
                plan: FaultPlan::default(),
                used: Vec::new(),
                rng: StdRng::seed_from_u64(0),
                injected: 0,
            }),
        }
    }
}

impl Faults {
    /// Replace the rules (and reseed).
    pub fn set(&self, plan: FaultPlan) {
        let mut s = self.state.lock().expect("not poisoned");
        s.rng = StdRng::seed_from_u64(plan.seed);
        s.used = vec![0; plan.rules.len()];
        s.plan = plan;
    }

    /// Remove every rule.
    pub fn clear(&self) {
        self.set(FaultPlan::default());
    }

    /// The current rules.
    pub fn plan(&self) -> FaultPlan {
        self.state.lock().expect("not poisoned").plan.clone()
    }

    /// How many faults have been injected since the rules were last set.
    pub fn injected(&self) -> u64 {
        self.state.lock().expect("not poisoned").injected
    }

    /// Decide for one call.
    pub fn decide(&self, service: &str, operation: &str, mutating: bool) -> Decision {
        let mut s = self.state.lock().expect("not poisoned");
        let mut d = Decision::default();
        for i in 0..s.plan.rules.len() {
            let r = s.plan.rules[i].clone();
            let matches = r.service.as_deref().is_none_or(|x| x == service)
                && r.operation.as_deref().is_none_or(|x| x == operation)
                && (!r.mutating_only || mutating);
            if !matches || r.count.is_some_and(|c| s.used[i] >= c) {
                continue;
            }
            // A rule counts only what it injects: one fault per call, the first that fires.
            if r.fault != Fault::Latency && d.fault.is_some() {
                continue;
            }
            if s.rng.gen::<f64>() >= r.rate {
                continue;
            }
            s.used[i] += 1;
            if r.fault == Fault::Latency {
                d.latency_ms += r.latency_ms;
                continue;
            }
            d.fault = Some(r.fault);
            s.injected += 1;
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(fault: Fault, rate: f64) -> Rule {
        Rule::every(fault, rate)
    }

    #[test]
    fn seeded_rates_repeat() {
        let run = |seed| {
            let f = Faults::default();
            f.set(FaultPlan {
                seed,
                rules: vec![rule(Fault::Throttle, 0.3)],
            });
            (0..200)
                .map(|_| f.decide("s3", "PutObject", true).fault.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7), "the same seed gives the same faults");
        assert_ne!(run(7), run(8));
        let hits = run(7).iter().filter(|h| **h).count();
        assert!((30..90).contains(&hits), "about 30% of 200: {hits}");
    }

    #[test]
    fn rules_match_by_operation_and_count() {
        let f = Faults::default();
        let mut r = rule(Fault::Http503, 1.0);
        r.operation = Some("CreateUser".into());
        r.count = Some(2);
        f.set(FaultPlan {
            seed: 1,
            rules: vec![r],
        });
        assert_eq!(f.decide("iam", "GetUser", false).fault, None);
        assert_eq!(
            f.decide("iam", "CreateUser", true).fault,
            Some(Fault::Http503)
        );
        assert_eq!(
            f.decide("iam", "CreateUser", true).fault,
            Some(Fault::Http503)
        );
        assert_eq!(
            f.decide("iam", "CreateUser", true).fault,
            None,
            "count exhausted"
        );
        assert_eq!(f.injected(), 2);
    }
}
