//! The longest chain of creation waits through the layer's dependency graph, weighed with the
//! local AWS's slow settings: a fresh deploy can finish no sooner, whatever its concurrency.

use std::collections::HashMap;

use local_aws::SlowSettings;

/// How long a creation waits, by the local AWS's settings.
type Wait = fn(&SlowSettings) -> u64;

/// The slow setting each resource type's creation waits for.
const WAITS: &[(&str, Wait)] = &[
    ("aws_rds_cluster", SlowSettings::aurora),
    ("aws_rds_cluster_instance", SlowSettings::aurora),
    ("aws_elasticache_replication_group", SlowSettings::redis),
    ("aws_grafana_workspace", SlowSettings::grafana),
];

fn wait_of(address: &str, slow: &SlowSettings) -> u64 {
    let kind = address.split('.').next().unwrap_or_default();
    WAITS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, f)| f(slow))
}

/// The dependency graph in the DOT that `data-and-ai graph` prints: each node (`"a" [label=…]`)
/// with what its edges (`"dependency" -> "a"`) say it depends on.
pub(crate) fn from_dot(dot: &str) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let name = |s: &str| s.trim().trim_end_matches(';').trim_matches('"').to_string();
    let mut graph: Vec<(String, Vec<String>)> = Vec::new();
    for line in dot.lines().map(str::trim) {
        if let Some((dep, a)) = line.split_once(" -> ") {
            let (dep, a) = (name(dep), name(a));
            let Some((_, deps)) = graph.iter_mut().find(|(n, _)| *n == a) else {
                anyhow::bail!("the graph's edge {dep} -> {a} names no node drawn before it");
            };
            deps.push(dep);
        } else if let Some((node, _)) = line.split_once(" [label=") {
            graph.push((name(node), Vec::new()));
        }
    }
    anyhow::ensure!(!graph.is_empty(), "the graph has no node:\n{dot}");
    Ok(graph)
}

/// The longest chain (seconds, and the addresses along it) of `graph`: each resource with what it
/// depends on.
pub(crate) fn longest(graph: &[(String, Vec<String>)], slow: &SlowSettings) -> (f64, Vec<String>) {
    let deps: HashMap<&str, &[String]> = graph
        .iter()
        .map(|(a, d)| (a.as_str(), d.as_slice()))
        .collect();
    let mut memo: HashMap<String, (u64, Vec<String>)> = HashMap::new();
    fn walk(
        at: &str,
        deps: &HashMap<&str, &[String]>,
        slow: &SlowSettings,
        memo: &mut HashMap<String, (u64, Vec<String>)>,
    ) -> (u64, Vec<String>) {
        if let Some(done) = memo.get(at) {
            return done.clone();
        }
        let before = deps
            .get(at)
            .into_iter()
            .flat_map(|d| d.iter())
            .map(|d| walk(d, deps, slow, memo))
            .max_by_key(|(ms, _)| *ms)
            .unwrap_or_default();
        let (ms, mut path) = before;
        path.push(at.to_string());
        let out = (ms + wait_of(at, slow), path);
        memo.insert(at.to_string(), out.clone());
        out
    }
    let (ms, path) = graph
        .iter()
        .map(|(a, _)| walk(a, &deps, slow, &mut memo))
        .max_by_key(|(ms, _)| *ms)
        .unwrap_or_default();
    let waiting = path.into_iter().filter(|a| wait_of(a, slow) > 0).collect();
    (ms as f64 / 1000.0, waiting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_is_read_back_from_the_dot_the_tool_prints() {
        let dot = r#"digraph "data-and-ai local" {
  rankdir=LR;
  node [shape=box, style="rounded,filled", fontname="Helvetica"];
  subgraph cluster_0 {
    label="aurora";
    "aws_security_group.aurora" [label="aws_security_group.aurora", fillcolor="white"];
    "aws_rds_cluster.aurora" [label="aws_rds_cluster.aurora", fillcolor="white"];
    "aws_rds_cluster_instance.aurora" [label="aws_rds_cluster_instance.aurora", fillcolor="white"];
  }
  "aws_security_group.aurora" -> "aws_rds_cluster.aurora";
  "aws_rds_cluster.aurora" -> "aws_rds_cluster_instance.aurora";
  "aws_security_group.aurora" -> "aws_rds_cluster_instance.aurora";
}
"#;
        let g = |a: &str, d: &[&str]| (a.to_string(), d.iter().map(|s| s.to_string()).collect());
        assert!(from_dot("digraph {\n}\n").is_err());
        assert!(from_dot("  \"a\" -> \"b\";\n").is_err());
        assert_eq!(
            from_dot(dot).unwrap(),
            vec![
                g("aws_security_group.aurora", &[]),
                g("aws_rds_cluster.aurora", &["aws_security_group.aurora"]),
                g(
                    "aws_rds_cluster_instance.aurora",
                    &["aws_rds_cluster.aurora", "aws_security_group.aurora"]
                ),
            ]
        );
    }

    #[test]
    fn the_chain_follows_dependencies_and_weighs_only_slow_creations() {
        let g = |a: &str, d: &[&str]| (a.to_string(), d.iter().map(|s| s.to_string()).collect());
        let graph = vec![
            g("aws_security_group.aurora", &[]),
            g("aws_rds_cluster.aurora", &["aws_security_group.aurora"]),
            g(
                "aws_rds_cluster_instance.aurora",
                &["aws_rds_cluster.aurora"],
            ),
            g(
                "aws_elasticache_replication_group.redis",
                &["aws_security_group.aurora"],
            ),
        ];
        let slow = SlowSettings {
            aurora_creation_ms: Some(60_000),
            redis_creation_ms: Some(100_000),
            ..Default::default()
        };
        let (s, path) = longest(&graph, &slow);
        assert_eq!(s, 120.0);
        assert_eq!(
            path,
            ["aws_rds_cluster.aurora", "aws_rds_cluster_instance.aurora"]
        );
        let slower_redis = SlowSettings {
            redis_creation_ms: Some(130_000),
            ..slow
        };
        let (s, path) = longest(&graph, &slower_redis);
        assert_eq!(s, 130.0);
        assert_eq!(path, ["aws_elasticache_replication_group.redis"]);
    }
}
