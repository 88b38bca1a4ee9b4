//! The review flow from the installed binary: `plan --format markdown --detailed-exitcode` of an
//! environment with changes pending, as a pull-request comment (the summary line first, a table
//! per family, each change folded, the secrets by state; exit 2), and `graph --plan` (one node per
//! resource coloured by its action, one edge per dependency); neither writes anything.

use dal_tests::Sandbox;

#[tokio::test]
async fn plan_as_markdown_for_a_pull_request_comment() {
    let sb = Sandbox::new("e2e-review").await;
    let out = sb
        .binary(
            env!("CARGO_BIN_EXE_data-and-ai"),
            &[
                "plan",
                "local",
                "--format",
                "markdown",
                "--detailed-exitcode",
            ],
        )
        .output()
        .await
        .expect("the binary runs");
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "changes pending: {md}");
    assert!(md.starts_with("**Plan: "), "the summary line first: {md}");
    for family in ["S3", "Aurora", "Redis", "Secrets", "Bedrock", "Monitoring"] {
        assert!(md.contains(&format!("### {family}\n")), "{family}: {md}");
    }
    assert!(
        md.contains("| create | `aws_rds_cluster.aurora` | e2e-review-aurora |  |"),
        "{md}"
    );
    assert!(
        md.contains("<details><summary><code>aws_rds_cluster.aurora</code>: create</summary>"),
        "{md}"
    );
    assert!(md.contains("<details><summary>Secrets: "), "{md}");
    assert!(!md.contains('\u{1b}'), "no terminal colour: {md}");
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
}

#[tokio::test]
async fn graph_draws_one_node_per_resource_and_one_edge_per_dependency() {
    let sb = Sandbox::new("e2e-graph").await;
    let out = sb
        .binary(
            env!("CARGO_BIN_EXE_data-and-ai"),
            &["graph", "local", "--plan"],
        )
        .output()
        .await
        .expect("the binary runs");
    let dot = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{dot}");
    let graph = sb.session().await.dependencies();
    let nodes = dot.lines().filter(|l| l.contains(" [label=")).count();
    let edges = dot.lines().filter(|l| l.contains(" -> ")).count();
    assert_eq!(nodes, graph.len(), "{dot}");
    assert_eq!(
        edges,
        graph.iter().map(|(_, d)| d.len()).sum::<usize>(),
        "{dot}"
    );
    assert!(
        dot.contains("\"aws_rds_cluster.aurora\" -> \"aws_rds_cluster_instance.aurora\";"),
        "{dot}"
    );
    // A fresh environment: everything is created, and drawn so.
    let created = dot.lines().filter(|l| l.contains("(create)")).count();
    assert_eq!(created, nodes, "{dot}");
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
}
