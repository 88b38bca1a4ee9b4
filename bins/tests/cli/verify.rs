//! bootstrap-db and verify on the local environment with its data plane: a real PostgreSQL and
//! Redis, TLS only, that the emulated cluster and replication group lead to.

use std::time::{Duration, Instant};

use dal_tests::Sandbox;
use layer::verify::{Report, Status};

async fn verify(sb: &Sandbox) -> Report {
    let session = sb.session().await;
    layer::verify::verify(&session).await.expect("verify runs")
}

fn failed(report: &Report) -> Vec<String> {
    report
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect()
}

async fn deployed(nid: &str) -> Sandbox {
    let sb = Sandbox::with_data_plane(nid).await;
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--bootstrap-db"])
            .await,
        0
    );
    sb
}

#[tokio::test]
async fn deploy_seed_bootstrap_then_verify_passes_and_each_fault_is_named() {
    let sb = deployed("e2e-verify").await;
    let report = verify(&sb).await;
    assert!(report.passed, "{report}");
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.check == "aurora: database scope_management exists"
                && c.status == Status::Pass),
        "{report}"
    );
    assert!(
        report.checks.iter().any(
            |c| c.check == "secrets: manual-zitadel-scope-mgmt-pat" && c.status == Status::Warn
        ),
        "the manual secret is a warning, not a failure: {report}"
    );
    assert_eq!(sb.cli(&["verify", "local"]).await, 0);

    // A dropped database is named, and bootstrap-db brings it back.
    sb.data_plane()
        .admin("DROP DATABASE chat")
        .await
        .expect("dropped");
    let report = verify(&sb).await;
    let failures = failed(&report);
    assert!(!report.passed);
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("aurora: database chat exists")
                && f.contains("bootstrap-db local")),
        "{failures:#?}"
    );
    assert_eq!(
        sb.cli(&["verify", "local"]).await,
        1,
        "verify exits non-zero"
    );
    assert_eq!(sb.cli(&["bootstrap-db", "local"]).await, 0);
    let report = verify(&sb).await;
    assert!(report.passed, "{report}");

    // A connection string with a wrong password is named.
    let name = format!("{}/psql-connection-string-theme", sb.nid);
    let good = sb
        .secret_value("psql-connection-string-theme")
        .await
        .expect("seeded");
    let (head, tail) = good.split_once('@').expect("user:password@host");
    let user = head.rsplit_once(':').expect("user:password").0;
    sb.secrets()
        .await
        .put_secret_value()
        .secret_id(&name)
        .secret_string(format!("{user}:wrong-password@{tail}"))
        .send()
        .await
        .expect("written");
    let failures = failed(&verify(&sb).await);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].contains("psql-connection-string-theme")
            && failures[0].contains("password authentication failed"),
        "{failures:#?}"
    );
}

#[tokio::test]
async fn a_rotated_master_password_leaves_the_derived_secrets_stale_until_seed() {
    let sb = deployed("e2e-verify-rotate").await;
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    let before = sb.aws.calls().snapshot().len();
    rds.modify_db_cluster()
        .db_cluster_identifier(format!("{}-aurora", sb.nid))
        .rotate_master_user_password(true)
        .apply_immediately(true)
        .send()
        .await
        .expect("rotated");
    assert!(sb.aws.calls().snapshot().len() > before);
    let report = verify(&sb).await;
    let failures = failed(&report);
    // The server and the managed secret changed together: the master connects.
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.check.starts_with("aurora: TLS connection as dbadmin")
                && c.status == Status::Pass),
        "{report}"
    );
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("secrets: no derived secret is stale")
                && f.contains("psql-password")
                && f.contains("psql-connection-string-chat")
                && f.contains("the master password was rotated ")
                && f.contains(" ago; this copy is stale until seed runs")),
        "stale, with the rotation's age: {failures:#?}"
    );
    assert!(
        failures
            .iter()
            .any(|f| f.contains("psql-connection-string-chat")
                && f.contains("password authentication failed")),
        "the old password no longer opens the database: {failures:#?}"
    );
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    let report = verify(&sb).await;
    assert!(report.passed, "{report}");
}

#[tokio::test]
async fn an_unreachable_redis_and_a_server_accepting_plain_text_are_named() {
    let sb = deployed("e2e-verify-down").await;
    sb.data_plane()
        .allow_plaintext(true)
        .await
        .expect("plain text allowed");
    sb.data_plane().stop_redis().await;
    let started = Instant::now();
    let report = verify(&sb).await;
    let took = started.elapsed();
    let failures = failed(&report);
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("redis: TLS connection to")),
        "{failures:#?}"
    );
    assert!(
        failures.iter().any(|f| f
            .starts_with("aurora: a connection without TLS is refused (rds.force_ssl's effect)")
            && f.contains("does not enforce rds.force_ssl")),
        "{failures:#?}"
    );
    assert!(
        took < Duration::from_secs(40),
        "an unreachable cache fails within its timeout, not a hang: {took:?}"
    );
}

#[tokio::test]
async fn verify_prints_no_secret_value_at_the_most_verbose_level() {
    let sb = deployed("e2e-verify-canary").await;
    let mut values: Vec<String> = Vec::new();
    for s in dal_tests::seeded_secrets() {
        if let Some(v) = sb.secret_value(&s).await {
            values.push(v);
        }
    }
    let master = sb
        .session()
        .await
        .observe()
        .await
        .expect("observed")
        .get("aurora_master_user_secret_arn")
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("master secret");
    let master = sb
        .secrets()
        .await
        .get_secret_value()
        .secret_id(master)
        .send()
        .await
        .expect("read")
        .secret_string()
        .map(str::to_string)
        .expect("value");
    let password: serde_json::Value = serde_json::from_str(&master).expect("json");
    values.push(password["password"].as_str().expect("password").to_string());
    for args in [
        &["-vvv", "verify", "local"][..],
        &["-vvv", "verify", "local", "--json"][..],
        &["-vvv", "bootstrap-db", "local"][..],
    ] {
        let out = sb
            .binary(env!("CARGO_BIN_EXE_data-and-ai"), args)
            .env_remove("RUST_LOG")
            .output()
            .await
            .expect("runs");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            all.len() > 1000,
            "the most verbose level says a lot: {args:?}"
        );
        for v in &values {
            if v.len() >= 8 {
                assert!(
                    !all.contains(v.as_str()),
                    "a secret value in the output of {args:?}"
                );
            }
        }
    }
}
