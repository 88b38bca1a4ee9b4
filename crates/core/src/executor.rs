//! The one executor: walks a dependency graph with bounded concurrency, hands each node the
//! outputs of the nodes it depends on, keeps going on independent branches when a node fails,
//! and reports every outcome at the end. In [`Direction::Reverse`] it walks dependents first,
//! which is the order of teardown.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;

use futures::stream::{FuturesUnordered, StreamExt};

use crate::address::Address;
use crate::outputs::{Inputs, Outputs};
use crate::Error;

/// One node of the graph.
#[derive(Debug)]
pub struct Node<T> {
    /// The node's address.
    pub address: Address,
    /// The addresses it depends on.
    pub depends_on: Vec<Address>,
    /// What the work function gets.
    pub payload: T,
}

/// Which way to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Dependencies first (plan, apply).
    Forward,
    /// Dependents first (destroy).
    Reverse,
}

/// What became of one node.
#[derive(Debug)]
pub enum Outcome {
    /// It ran and produced these outputs.
    Done(Outputs),
    /// It ran and failed.
    Failed(Error),
    /// It did not run because a node it waits for failed.
    Skipped {
        /// The failed node.
        because: Address,
    },
}

/// Every node's outcome, and the order in which nodes finished.
#[derive(Debug, Default)]
pub struct Report {
    /// Outcome by address.
    pub outcomes: BTreeMap<Address, Outcome>,
    /// Addresses in the order they finished (done or failed).
    pub finished: Vec<Address>,
}

impl Report {
    /// Whether every node ran and succeeded.
    pub fn is_success(&self) -> bool {
        self.outcomes
            .values()
            .all(|o| matches!(o, Outcome::Done(_)))
    }

    /// The failed nodes with their errors.
    pub fn failures(&self) -> impl Iterator<Item = (&Address, &Error)> {
        self.outcomes.iter().filter_map(|(a, o)| match o {
            Outcome::Failed(e) => Some((a, e)),
            _ => None,
        })
    }

    /// One line per failed or skipped node, for the operator.
    pub fn failure_summary(&self) -> String {
        let mut lines = Vec::new();
        for (a, o) in &self.outcomes {
            match o {
                Outcome::Failed(e) => lines.push(format!("  - {a}: {e}")),
                Outcome::Skipped { because } => {
                    lines.push(format!("  - {a}: not attempted, it waits for {because}"))
                }
                Outcome::Done(_) => {}
            }
        }
        lines.join("\n")
    }
}

/// A graph that cannot be walked.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A node depends on an address that is not in the graph.
    #[error("{from} depends on {to}, which is not part of the layer")]
    UnknownDependency {
        /// The depending node.
        from: Address,
        /// The missing node.
        to: Address,
    },
    /// Two nodes share an address.
    #[error("{0} appears twice in the layer")]
    Duplicate(Address),
    /// The graph has a cycle through these nodes.
    #[error("dependency cycle through {0:?}")]
    Cycle(Vec<Address>),
}

/// Walk the graph. `work` gets each node's payload and the outputs of its direct dependencies
/// (in reverse direction, no inputs); at most `concurrency` run at once.
pub async fn run<T, F, Fut>(
    nodes: Vec<Node<T>>,
    concurrency: usize,
    direction: Direction,
    work: F,
) -> Result<Report, GraphError>
where
    F: Fn(T, Inputs) -> Fut,
    Fut: Future<Output = Result<Outputs, Error>>,
{
    let n = nodes.len();
    let mut index = HashMap::with_capacity(n);
    for (i, node) in nodes.iter().enumerate() {
        if index.insert(node.address.clone(), i).is_some() {
            return Err(GraphError::Duplicate(node.address.clone()));
        }
    }
    // preds[i]: nodes that must finish before i; succs[i]: nodes waiting for i.
    let mut deps = vec![Vec::new(); n];
    for (i, node) in nodes.iter().enumerate() {
        for d in &node.depends_on {
            let j = *index.get(d).ok_or_else(|| GraphError::UnknownDependency {
                from: node.address.clone(),
                to: d.clone(),
            })?;
            deps[i].push(j);
        }
    }
    let mut preds = vec![Vec::new(); n];
    let mut succs = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &j in ds {
            match direction {
                Direction::Forward => {
                    preds[i].push(j);
                    succs[j].push(i);
                }
                Direction::Reverse => {
                    preds[j].push(i);
                    succs[i].push(j);
                }
            }
        }
    }
    check_acyclic(&nodes, &preds)?;

    let addresses: Vec<Address> = nodes.iter().map(|n| n.address.clone()).collect();
    let mut payloads: Vec<Option<T>> = nodes.into_iter().map(|n| Some(n.payload)).collect();
    let mut waiting: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut blocked: Vec<Option<Address>> = vec![None; n];
    let mut outputs: Vec<Option<Outputs>> = vec![None; n];
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut report = Report::default();
    let mut running = FuturesUnordered::new();
    let limit = concurrency.max(1);

    loop {
        while running.len() < limit {
            let Some(i) = ready.pop_front() else { break };
            let inputs = match direction {
                Direction::Forward => Inputs::new(
                    preds[i]
                        .iter()
                        .filter_map(|&j| outputs[j].clone().map(|o| (addresses[j].clone(), o)))
                        .collect(),
                ),
                Direction::Reverse => Inputs::default(),
            };
            let payload = payloads[i].take().expect("each node starts once");
            let fut = work(payload, inputs);
            running.push(async move { (i, fut.await) });
        }
        let Some((i, result)) = running.next().await else {
            break;
        };
        report.finished.push(addresses[i].clone());
        match result {
            Ok(out) => {
                outputs[i] = Some(out.clone());
                report
                    .outcomes
                    .insert(addresses[i].clone(), Outcome::Done(out));
            }
            Err(e) => {
                report
                    .outcomes
                    .insert(addresses[i].clone(), Outcome::Failed(e));
                // Everything downstream of a failure is skipped; independent branches go on.
                let mut stack = succs[i].clone();
                while let Some(s) = stack.pop() {
                    if blocked[s].is_none() {
                        blocked[s] = Some(addresses[i].clone());
                        stack.extend(succs[s].iter().copied());
                    }
                }
            }
        }
        for &s in &succs[i] {
            waiting[s] -= 1;
            if waiting[s] == 0 {
                match &blocked[s] {
                    Some(because) => {
                        report.outcomes.insert(
                            addresses[s].clone(),
                            Outcome::Skipped {
                                because: because.clone(),
                            },
                        );
                    }
                    None => ready.push_back(s),
                }
            }
        }
    }
    // Skipped nodes whose remaining predecessors were themselves skipped never reached zero.
    for (i, b) in blocked.into_iter().enumerate() {
        if let Some(because) = b {
            report
                .outcomes
                .entry(addresses[i].clone())
                .or_insert(Outcome::Skipped { because });
        }
    }
    Ok(report)
}

fn check_acyclic<T>(nodes: &[Node<T>], preds: &[Vec<usize>]) -> Result<(), GraphError> {
    let n = nodes.len();
    let mut indeg: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut succs = vec![Vec::new(); n];
    for (i, ps) in preds.iter().enumerate() {
        for &p in ps {
            succs[p].push(i);
        }
    }
    let mut queue: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut seen = 0;
    while let Some(i) = queue.pop() {
        seen += 1;
        for &s in &succs[i] {
            indeg[s] -= 1;
            if indeg[s] == 0 {
                queue.push(s);
            }
        }
    }
    if seen == n {
        Ok(())
    } else {
        Err(GraphError::Cycle(
            (0..n)
                .filter(|&i| indeg[i] > 0)
                .map(|i| nodes[i].address.clone())
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    fn node(a: &str, deps: &[&str]) -> Node<String> {
        Node {
            address: Address::new(a),
            depends_on: deps.iter().map(|d| Address::new(*d)).collect(),
            payload: a.to_string(),
        }
    }

    fn pos(order: &[Address], a: &str) -> usize {
        order
            .iter()
            .position(|x| x.to_string() == a)
            .unwrap_or_else(|| panic!("{a} did not finish"))
    }

    #[tokio::test]
    async fn dependencies_first_and_outputs_flow() {
        let nodes = vec![
            node("c", &["b"]),
            node("b", &["a"]),
            node("a", &[]),
            node("d", &["a", "c"]),
        ];
        let seen = Arc::new(Mutex::new(Vec::new()));
        let report = run(nodes, 10, Direction::Forward, |name, inputs| {
            let seen = seen.clone();
            async move {
                // Each node outputs its name; each records which upstream outputs it was given.
                let upstream: Vec<String> = ["a", "b", "c"]
                    .iter()
                    .filter_map(|u| inputs.str(&Address::new(*u), "name").ok())
                    .collect();
                seen.lock().unwrap().push((name.clone(), upstream));
                let mut o = Outputs::new();
                o.insert("name".into(), name.into());
                Ok(o)
            }
        })
        .await
        .unwrap();
        assert!(report.is_success());
        let f = &report.finished;
        assert!(
            pos(f, "a") < pos(f, "b") && pos(f, "b") < pos(f, "c") && pos(f, "c") < pos(f, "d")
        );
        let seen = seen.lock().unwrap();
        let d = seen.iter().find(|(n, _)| n == "d").unwrap();
        assert_eq!(
            d.1,
            vec!["a".to_string(), "c".to_string()],
            "d gets exactly its direct dependencies"
        );
    }

    #[tokio::test]
    async fn reverse_walks_dependents_first() {
        let nodes = vec![node("a", &[]), node("b", &["a"]), node("c", &["b"])];
        let report = run(nodes, 10, Direction::Reverse, |_, _| async {
            Ok(Outputs::new())
        })
        .await
        .unwrap();
        let f = &report.finished;
        assert!(pos(f, "c") < pos(f, "b") && pos(f, "b") < pos(f, "a"));
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let nodes: Vec<_> = (0..20).map(|i| node(&format!("n{i}"), &[])).collect();
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let report = run(nodes, 3, Direction::Forward, |_, _| {
            let (now, peak) = (now.clone(), peak.clone());
            async move {
                let c = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(c, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(Outputs::new())
            }
        })
        .await
        .unwrap();
        assert!(report.is_success());
        assert_eq!(
            peak.load(Ordering::SeqCst),
            3,
            "runs up to the bound at once, never more"
        );
    }

    #[tokio::test]
    async fn failure_skips_dependents_only_and_all_failures_are_reported() {
        // a -> b -> c ; x (independent, fails) ; y -> z (independent, succeed)
        let nodes = vec![
            node("a", &[]),
            node("b", &["a"]),
            node("c", &["b"]),
            node("x", &[]),
            node("y", &[]),
            node("z", &["y"]),
        ];
        let report = run(nodes, 2, Direction::Forward, |name, _| async move {
            if name == "a" || name == "x" {
                Err(Error::Other(format!("{name} broke")))
            } else {
                Ok(Outputs::new())
            }
        })
        .await
        .unwrap();
        assert!(!report.is_success());
        let failed: Vec<String> = report.failures().map(|(a, _)| a.to_string()).collect();
        assert_eq!(failed, ["a", "x"]);
        assert!(
            matches!(&report.outcomes[&Address::new("b")], Outcome::Skipped { because } if because.to_string() == "a")
        );
        assert!(matches!(
            &report.outcomes[&Address::new("c")],
            Outcome::Skipped { .. }
        ));
        assert!(matches!(
            report.outcomes[&Address::new("z")],
            Outcome::Done(_)
        ));
        let summary = report.failure_summary();
        assert!(
            summary.contains("a: a broke")
                && summary.contains("x: x broke")
                && summary.contains("c: not attempted"),
            "{summary}"
        );
    }

    #[tokio::test]
    async fn bad_graphs_are_rejected_before_any_work() {
        let calls = AtomicUsize::new(0);
        let work = |_: String, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok(Outputs::new()) }
        };
        let cyc = run(
            vec![node("a", &["b"]), node("b", &["a"]), node("c", &[])],
            4,
            Direction::Forward,
            work,
        )
        .await;
        assert!(matches!(cyc, Err(GraphError::Cycle(_))));
        let unknown = run(vec![node("a", &["nope"])], 4, Direction::Forward, work).await;
        assert!(matches!(unknown, Err(GraphError::UnknownDependency { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
