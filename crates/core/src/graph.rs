//! The layer drawn as a Graphviz DOT graph (`graph <env>`): one node per resource, grouped by
//! family, one edge per dependency (from what is made first to what needs it), and with a plan,
//! each node coloured by its planned action.

use std::fmt::Write as _;

use crate::plan::family;
use crate::{Action, Address, Plan};

/// The fill colour of a planned action, and its name for the legend.
fn colour(action: Option<&Action>) -> (&'static str, &'static str) {
    match action {
        None => ("#ffffff", ""),
        Some(Action::NoOp) => ("#f2f2f2", "no change"),
        Some(Action::Create) => ("#c8f0c8", "create"),
        Some(Action::Update) => ("#fff0b3", "update"),
        Some(Action::Adopt) => ("#cfe8ff", "adopt"),
        Some(Action::Replace { .. }) => ("#f0c8f0", "replace"),
        Some(Action::Delete) => ("#f8c8c8", "destroy"),
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// DOT of `graph` (each resource with what it depends on), titled `title`; with `plan`, each
/// node says and shows its planned action.
pub fn to_dot(title: &str, graph: &[(Address, Vec<Address>)], plan: Option<&Plan>) -> String {
    let action = |a: &Address| {
        plan.and_then(|p| p.changes.iter().find(|c| &c.address == a))
            .map(|c| &c.action)
    };
    let mut out = format!(
        "digraph {} {{\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n",
        quoted(title)
    );
    let mut families: Vec<&str> = Vec::new();
    for (a, _) in graph {
        if !families.contains(&family(a)) {
            families.push(family(a));
        }
    }
    for (i, fam) in families.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{i} {{\n    label={};", quoted(fam));
        for (a, _) in graph.iter().filter(|(a, _)| family(a) == *fam) {
            let (fill, word) = colour(action(a));
            let label = if word.is_empty() {
                a.to_string()
            } else {
                format!("{a}\\n({word})")
            };
            let _ = writeln!(
                out,
                "    {} [label={}, fillcolor=\"{fill}\"];",
                quoted(&a.to_string()),
                quoted(&label).replace("\\\\n", "\\n")
            );
        }
        out.push_str("  }\n");
    }
    for (a, deps) in graph {
        for d in deps {
            let _ = writeln!(
                out,
                "  {} -> {};",
                quoted(&d.to_string()),
                quoted(&a.to_string())
            );
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::PlannedChange;

    #[test]
    fn one_node_per_resource_one_edge_per_dependency_coloured_by_the_plan() {
        let a = Address::new;
        let graph = vec![
            (a("aws_security_group.aurora"), vec![]),
            (
                a("aws_rds_cluster.aurora"),
                vec![a("aws_security_group.aurora")],
            ),
            (
                a("aws_rds_cluster_instance.aurora"),
                vec![a("aws_rds_cluster.aurora")],
            ),
            (a("aws_s3_bucket.ai_data"), vec![]),
        ];
        let plan = Plan {
            changes: vec![
                PlannedChange::new(a("aws_rds_cluster.aurora"), "c", Action::Create),
                PlannedChange::new(a("aws_s3_bucket.ai_data"), "b", Action::NoOp),
            ],
        };
        expect![[r##"
            digraph "data-and-ai dev" {
              rankdir=LR;
              node [shape=box, style="rounded,filled", fontname="Helvetica"];
              subgraph cluster_0 {
                label="Aurora";
                "aws_security_group.aurora" [label="aws_security_group.aurora", fillcolor="#ffffff"];
                "aws_rds_cluster.aurora" [label="aws_rds_cluster.aurora\n(create)", fillcolor="#c8f0c8"];
                "aws_rds_cluster_instance.aurora" [label="aws_rds_cluster_instance.aurora", fillcolor="#ffffff"];
              }
              subgraph cluster_1 {
                label="S3";
                "aws_s3_bucket.ai_data" [label="aws_s3_bucket.ai_data\n(no change)", fillcolor="#f2f2f2"];
              }
              "aws_security_group.aurora" -> "aws_rds_cluster.aurora";
              "aws_rds_cluster.aurora" -> "aws_rds_cluster_instance.aurora";
            }
        "##]].assert_eq(&to_dot("data-and-ai dev", &graph, Some(&plan)));
    }
}
