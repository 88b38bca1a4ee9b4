//! Fault injection, set per operation or as a rate, seeded so that a failing run can be repeated:
//! the throttling error each service really returns, HTTP 500 and 503, a connection dropped
//! before the request reaches moto, a request carried out whose response is lost, and latency.
//!
//! Whether a call gets a fault is a function of the seed, the rule, the call (service,
//! operation, the resource it names) and how many times that call was made before: two runs with
//! one seed inject the same faults into the same calls, however concurrent calls interleave.

use std::sync::Mutex;

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
    injected: u64,
    /// Faults injected into mutating calls, by kind.
    on_writes: std::collections::BTreeMap<String, u64>,
    /// How many times each call (service, operation, resource) was decided.
    attempts: std::collections::HashMap<(String, String, String), u64>,
}

/// A number in `[0, 1)` that depends only on its inputs (FNV-1a over them, then splitmix64's
/// finalizer): the same on every run and machine.
fn draw(seed: u64, rule: usize, call: &(String, String, String), attempt: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(&seed.to_le_bytes());
    eat(&(rule as u64).to_le_bytes());
    eat(call.0.as_bytes());
    eat(call.1.as_bytes());
    eat(call.2.as_bytes());
    eat(&attempt.to_le_bytes());
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
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
                injected: 0,
                on_writes: Default::default(),
                attempts: Default::default(),
            }),
        }
    }
}

impl Faults {
    /// Replace the rules (with their seed), and start counting again.
    pub fn set(&self, plan: FaultPlan) {
        let mut s = self.state.lock().expect("not poisoned");
        s.used = vec![0; plan.rules.len()];
        s.injected = 0;
        s.on_writes.clear();
        s.attempts.clear();
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

    /// Faults injected into mutating calls since the rules were last set, by kind
    /// (`throttle`, `http500`, …).
    pub fn injected_into_writes(&self) -> std::collections::BTreeMap<String, u64> {
        self.state.lock().expect("not poisoned").on_writes.clone()
    }

    /// Decide for one call of `operation` on `resource` (what the request names, if anything).
    pub fn decide(
        &self,
        service: &str,
        operation: &str,
        resource: Option<&str>,
        mutating: bool,
    ) -> Decision {
        let mut s = self.state.lock().expect("not poisoned");
        let mut d = Decision::default();
        let call = (
            service.to_string(),
            operation.to_string(),
            resource.unwrap_or_default().to_string(),
        );
        let attempt = {
            let n = s.attempts.entry(call.clone()).or_insert(0);
            *n += 1;
            *n
        };
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
            if draw(s.plan.seed, i, &call, attempt) >= r.rate {
                continue;
            }
            s.used[i] += 1;
            if r.fault == Fault::Latency {
                d.latency_ms += r.latency_ms;
                continue;
            }
            d.fault = Some(r.fault);
            s.injected += 1;
            if mutating {
                let kind = serde_json::to_value(r.fault)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                *s.on_writes.entry(kind).or_insert(0) += 1;
            }
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
                .map(|i| {
                    f.decide("s3", "PutObject", Some(&format!("b{}", i % 20)), true)
                        .fault
                        .is_some()
                })
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
        assert_eq!(f.decide("iam", "GetUser", None, false).fault, None);
        assert_eq!(
            f.decide("iam", "CreateUser", None, true).fault,
            Some(Fault::Http503)
        );
        assert_eq!(
            f.decide("iam", "CreateUser", None, true).fault,
            Some(Fault::Http503)
        );
        assert_eq!(
            f.decide("iam", "CreateUser", None, true).fault,
            None,
            "count exhausted"
        );
        assert_eq!(f.injected(), 2);
        assert_eq!(
            f.injected_into_writes(),
            [("http503".to_string(), 2)].into()
        );
        f.set(FaultPlan::default());
        assert_eq!(
            (f.injected(), f.injected_into_writes().len()),
            (0, 0),
            "reset when set"
        );
    }

    #[test]
    fn the_same_calls_get_the_same_faults_however_they_interleave() {
        let plan = FaultPlan {
            seed: 3,
            rules: vec![rule(Fault::Http500, 0.3)],
        };
        let calls: Vec<String> = (0..60).map(|i| format!("secret-{}", i % 12)).collect();
        let run = |order: &[String]| {
            let f = Faults::default();
            f.set(plan.clone());
            let mut hit: Vec<(String, u32)> = Vec::new();
            let mut seen = std::collections::HashMap::<&str, u32>::new();
            for c in order {
                let n = seen.entry(c.as_str()).or_insert(0);
                *n += 1;
                if f.decide("secretsmanager", "PutSecretValue", Some(c), true)
                    .fault
                    .is_some()
                {
                    hit.push((c.clone(), *n));
                }
            }
            hit.sort();
            hit
        };
        let mut reversed = calls.clone();
        reversed.reverse();
        assert_eq!(run(&calls), run(&reversed));
        assert!(!run(&calls).is_empty());
    }
}
