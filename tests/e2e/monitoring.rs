//! The monitoring family end to end: the Prometheus workspace with logging, found by its tags,
//! made once even when the answer to its create is lost, and torn down.

use dal_tests::Sandbox;
use layer_core::engine::Mode;

#[tokio::test]
async fn the_prometheus_workspace_logs_to_the_infrastructure_group_and_survives_a_lost_create() {
    let sb = Sandbox::new("e2e-prom").await;
    let sdk = sb.sdk().await;
    let amp = aws_sdk_amp::Client::new(&sdk);
    // Another team's workspace with our alias, without our tags: left alone, never adopted.
    amp.create_workspace()
        .alias("e2e-prom-prometheus")
        .send()
        .await
        .unwrap();
    sb.aws.faults().set(local_aws::FaultPlan {
        seed: 11,
        rules: vec![local_aws::Rule {
            service: Some("aps".into()),
            operation: Some("CreateWorkspace".into()),
            mutating_only: true,
            fault: local_aws::Fault::LoseResponse,
            rate: 1.0,
            count: Some(1),
            latency_ms: 0,
        }],
    });
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    assert_eq!(
        sb.aws.faults().injected(),
        1,
        "the create's answer was lost"
    );
    sb.aws.faults().clear();

    let all = amp
        .list_workspaces()
        .alias("e2e-prom-prometheus")
        .send()
        .await
        .unwrap();
    assert_eq!(all.workspaces().len(), 2, "theirs and one of ours");
    let ours: Vec<_> = all
        .workspaces()
        .iter()
        .filter(|w| {
            w.tags()
                .and_then(|t| t.get("Environment"))
                .is_some_and(|e| e == "local")
        })
        .collect();
    assert_eq!(ours.len(), 1);
    let id = ours[0].workspace_id();
    let out = sb.session().await.outputs().await.unwrap();
    assert_eq!(out["prometheus_workspace_id"], id);
    assert_eq!(out["prometheus_workspace_arn"], ours[0].arn());
    assert!(out["prometheus_workspace_endpoint"]
        .as_str()
        .unwrap()
        .contains(id));
    let logging = amp
        .describe_logging_configuration()
        .workspace_id(id)
        .send()
        .await
        .unwrap();
    let infra = sb.session().await.infra.clone();
    assert_eq!(
        logging.logging_configuration().unwrap().log_group_arn(),
        format!(
            "{}:*",
            infra.prometheus_log_group_arn.trim_end_matches(":*")
        )
    );

    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    assert_eq!(sb.mutating_calls(), Vec::<String>::new());
    assert!(!sb.plan(Mode::Deploy).await.has_changes());

    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
            .await,
        0
    );
    let left = amp
        .list_workspaces()
        .alias("e2e-prom-prometheus")
        .send()
        .await
        .unwrap();
    assert_eq!(left.workspaces().len(), 1, "theirs stays");
    assert!(left.workspaces()[0].tags().is_none_or(|t| t.is_empty()));
}
