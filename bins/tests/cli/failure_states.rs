//! Creations that end in a failed state: deploy stops in seconds, not after
//! `wait_timeout_minutes`, and says which state and what to do. One table row per kind, each on
//! its own local AWS with the failure armed through the gateway.

use std::time::{Duration, Instant};

use dal_tests::Sandbox;
use local_aws::failure_states::{FailCreation, Kind};

const ROWS: &[(Kind, &str, &str)] = &[
    (
        Kind::DbCluster,
        "inaccessible-encryption-credentials",
        "Aurora cluster",
    ),
    (Kind::DbInstance, "incompatible-network", "Aurora instance"),
    (
        Kind::ReplicationGroup,
        "create-failed",
        "Redis replication group",
    ),
    (
        Kind::PrometheusWorkspace,
        "CREATION_FAILED",
        "Prometheus workspace",
    ),
];

async fn row(i: usize, kind: Kind, state: &str, what: &str) -> Result<(), String> {
    let sb = Sandbox::new(&format!("e2e-failed-{i}")).await;
    sb.aws
        .failure_states()
        .arm(FailCreation {
            kind,
            state: Some(state.to_string()),
        })
        .map_err(|e| format!("{kind:?}: {e}"))?;
    let started = Instant::now();
    let out = sb
        .binary(
            env!("CARGO_BIN_EXE_data-and-ai"),
            &["deploy", "local", "--auto-approve", "--skip-seed"],
        )
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("the binary runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let named = stderr.lines().any(|l| {
        l.contains(&format!("`{state}`")) && l.contains(what) && l.contains("deploy again")
    });
    // `wait_timeout_minutes` is 5 on local: a waiter that does not see the state waits it out.
    if out.status.code() != Some(1) || !named || took > Duration::from_secs(90) {
        return Err(format!(
            "{kind:?}: exit {:?} after {took:?}; the state and what to do named: {named}\n{stderr}",
            out.status.code()
        ));
    }
    Ok(())
}

#[tokio::test]
async fn each_failed_creation_ends_deploy_in_seconds_naming_the_state_and_what_to_do() {
    let run = |i: usize| {
        let (kind, state, what) = ROWS[i];
        row(i, kind, state, what)
    };
    let (a, b, c, d) = tokio::join!(run(0), run(1), run(2), run(3));
    assert_eq!(ROWS.len(), 4, "every row runs");
    let failures: Vec<String> = [a, b, c, d].into_iter().filter_map(Result::err).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
