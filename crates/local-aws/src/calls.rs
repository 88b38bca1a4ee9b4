//! Call counting: every request through the gateway, by service and operation, split into
//! mutating and read-only calls. Readable from Rust and over HTTP (`GET /_gateway/calls`),
//! resettable (`POST /_gateway/calls/reset`). Each call carries when it arrived and when it was
//! answered, on one clock, and its status: enough to order what happened inside AWS (a lock's
//! holds, for one) from the outside.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// One call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The SigV4 service name (`s3`, `iam`, `ec2`, …).
    pub service: String,
    /// The operation (`PutBucketVersioning`, `CreateUser`, …).
    pub operation: String,
    /// Whether the call changes anything.
    pub mutating: bool,
    /// The resource it named, where the request shows one (an S3 bucket, a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Who signed it, while IAM is enforced: the caller's ARN, or `unsigned`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// When it arrived, on the log's clock (a tick per arrival and per answer).
    pub arrived: u64,
    /// When its answer left, on the same clock; `None` while in flight or when dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered: Option<u64>,
    /// The answer's HTTP status; `None` while in flight or when the connection was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl Call {
    /// Whether AWS answered it with success (2xx).
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Counts of one operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OperationCount {
    /// Calls made.
    pub count: usize,
    /// Whether the operation mutates.
    pub mutating: bool,
}

/// The summary served over HTTP.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    /// All calls.
    pub total: usize,
    /// Mutating calls.
    pub mutating: usize,
    /// Read-only calls.
    pub read_only: usize,
    /// By `service:Operation`.
    pub by_operation: BTreeMap<String, OperationCount>,
}

/// The log of calls.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<Call>>,
    clock: AtomicU64,
}

impl CallLog {
    /// Record a call as it arrives; the answer is noted with [`CallLog::answered`] under the
    /// returned index and arrival tick.
    pub fn record(&self, mut call: Call) -> (usize, u64) {
        let mut calls = self.calls.lock().expect("not poisoned");
        let arrived = self.clock.fetch_add(1, Ordering::SeqCst);
        call.arrived = arrived;
        calls.push(call);
        (calls.len() - 1, arrived)
    }

    /// Note the answer to the call recorded at `index` (its status, or `None` when dropped). A
    /// reset in between makes the index stale, and it is ignored.
    pub fn answered(&self, index: usize, arrived: u64, status: Option<u16>) {
        let mut calls = self.calls.lock().expect("not poisoned");
        if let Some(c) = calls.get_mut(index).filter(|c| c.arrived == arrived) {
            c.answered = Some(self.clock.fetch_add(1, Ordering::SeqCst));
            c.status = status;
        }
    }

    /// Every call so far, in order.
    pub fn snapshot(&self) -> Vec<Call> {
        self.calls.lock().expect("not poisoned").clone()
    }

    /// How many calls so far match `matches`, counted in place: a test polling the log every
    /// millisecond does not copy it each time (nor hold up the gateway's recording as long).
    pub fn count(&self, matches: impl Fn(&Call) -> bool) -> usize {
        let calls = self.calls.lock().expect("not poisoned");
        calls.iter().filter(|c| matches(c)).count()
    }

    /// The mutating calls so far.
    pub fn mutating(&self) -> Vec<Call> {
        self.snapshot().into_iter().filter(|c| c.mutating).collect()
    }

    /// Forget every call.
    pub fn reset(&self) {
        self.calls.lock().expect("not poisoned").clear();
    }

    /// Counts.
    pub fn summary(&self) -> CallSummary {
        let calls = self.snapshot();
        let mut s = CallSummary {
            total: calls.len(),
            ..Default::default()
        };
        for c in calls {
            if c.mutating {
                s.mutating += 1;
            } else {
                s.read_only += 1;
            }
            let e = s
                .by_operation
                .entry(format!("{}:{}", c.service, c.operation))
                .or_default();
            e.count += 1;
            e.mutating = c.mutating;
        }
        s
    }
}

/// Whether an operation name is read-only by AWS's naming (`Get…`, `List…`, `Describe…`, `Head…`).
pub fn is_read_only(operation: &str) -> bool {
    ["Get", "List", "Describe", "Head", "Lookup", "BatchGet"]
        .iter()
        .any(|p| operation.starts_with(p))
}
