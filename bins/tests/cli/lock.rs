//! One run at a time: the run lock under eight concurrent deploys, a killed holder's lease
//! expiring, `lock show` and `lock break`. Each run is the installed binary, its own process, as
//! operators would start them.

use std::process::Output;
use std::time::Duration;

use dal_tests::Sandbox;

fn command(sb: &Sandbox, args: &[&str]) -> tokio::process::Command {
    let mut cmd = sb.binary(env!("CARGO_BIN_EXE_data-and-ai"), args);
    cmd.env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

async fn run(sb: &Sandbox, args: &[&str]) -> Output {
    command(sb, args).output().await.expect("the binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The timestamp (RFC 3339, UTC) of the log line that says `message`.
fn logged_at(stderr: &str, message: &str) -> Option<String> {
    stderr.lines().find_map(|l| {
        let (at, rest) = l.split_once(' ')?;
        rest.contains(&format!(" {message} "))
            .then(|| at.to_string())
    })
}

async fn wait_for_call(sb: &Sandbox, operation: &str) {
    for _ in 0..6000 {
        if sb.called(operation) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no {operation} within 30 s");
}

#[tokio::test]
async fn eight_concurrent_deploys_hold_the_lock_one_at_a_time_and_only_the_first_applies() {
    let sb = Sandbox::new("e2e-lock-eight").await;
    // Slow enough that the others arrive while the first holds the lock.
    sb.aws.slow().set(local_aws::SlowSettings {
        creation_ms: 12_000,
        ..Default::default()
    });
    let children: Vec<_> = (0..8)
        .map(|_| {
            command(
                &sb,
                &[
                    "deploy",
                    "local",
                    "--auto-approve",
                    "--skip-seed",
                    "--lock-timeout",
                    "10m",
                ],
            )
            .spawn()
            .expect("the binary starts")
        })
        .collect();
    // Read every child's output at once: a child blocked on a full pipe would hold the lock.
    let waits: Vec<_> = children
        .into_iter()
        .map(|child| tokio::spawn(child.wait_with_output()))
        .collect();
    let mut outs = Vec::new();
    for wait in waits {
        outs.push(wait.await.expect("joined").expect("it exits"));
    }
    // The holds never overlapped, as the local AWS saw them: the gateway's log of lock calls
    // alternates between a take and a release, eight times.
    assert_eq!(sb.lock_holds(), Ok(8), "{:#?}", sb.lock_calls());
    let mut held = Vec::new();
    let mut applied = 0;
    let mut waited = 0;
    for out in &outs {
        let all = text(out);
        assert_eq!(out.status.code(), Some(0), "{all}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let taken = logged_at(&stderr, "run lock taken")
            .unwrap_or_else(|| panic!("taken is logged: {all}"));
        let releasing = logged_at(&stderr, "run lock releasing")
            .unwrap_or_else(|| panic!("releasing is logged: {all}"));
        held.push((taken, releasing));
        assert!(
            !all.contains('\u{1b}'),
            "no escape code when the output is not a terminal: {all}"
        );
        if all.contains("Apply complete! Resources:") {
            applied += 1;
            // Live progress, one plain line per event, and the table of every change.
            assert!(
                stderr.contains("aws_rds_cluster.aurora: Creating...")
                    && stderr.contains("aws_rds_cluster.aurora: Still creating... [")
                    && stderr.contains("aws_rds_cluster.aurora: Creation complete after"),
                "{all}"
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("Changes ("), "{stdout}");
            assert!(
                stdout.lines().any(|l| l.contains("aws_rds_cluster.aurora")
                    && l.contains("create")
                    && l.contains("done")),
                "{stdout}"
            );
        } else {
            assert!(all.contains("No changes."), "{all}");
        }
        if all.contains("waiting for the run lock of `local`: held by") {
            waited += 1;
        }
    }
    assert_eq!(
        applied, 1,
        "exactly one deploy made the changes; the others found none"
    );
    assert!(waited >= 1, "some deploys waited, naming the holder");
    // And as the runs saw them: each took the lock after the previous one began releasing it.
    held.sort();
    for pair in held.windows(2) {
        assert!(pair[1].0 > pair[0].1, "overlapping holds: {held:#?}");
    }
    // Eight locks were taken and released: none is left.
    let show = run(&sb, &["lock", "show", "local"]).await;
    assert!(
        text(&show).contains("`local` is not locked"),
        "{}",
        text(&show)
    );
    assert_eq!(
        sb.lock_calls()
            .iter()
            .filter(|op| *op == "DeleteSecret")
            .count(),
        8
    );
}

#[tokio::test]
async fn a_killed_holders_lease_expires_and_the_next_run_waits_for_it_naming_the_holder() {
    // A lease long enough to outlast the next run's plan on a loaded machine (a 5 s lease once ran
    // out before the refused run asked for the lock).
    let sb = Sandbox::with("e2e-lock-kill", |t| {
        t.replace("lease_seconds = 10", "lease_seconds = 15")
    })
    .await;
    sb.aws.slow().set(local_aws::SlowSettings {
        creation_ms: 60_000,
        ..Default::default()
    });
    let mut holder = command(&sb, &["deploy", "local", "--auto-approve", "--skip-seed"])
        .spawn()
        .expect("the binary starts");
    let pid = holder.id().expect("running");
    wait_for_call(&sb, "CreateDBCluster").await;
    holder.kill().await.expect("killed");
    sb.aws.slow().set(local_aws::SlowSettings::default());

    // With no wait, the next run fails at once, naming the holder and the way out.
    let refused = run(
        &sb,
        &[
            "deploy",
            "local",
            "--auto-approve",
            "--skip-seed",
            "--lock-timeout",
            "0s",
        ],
    )
    .await;
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("is locked by another run"), "{said}");
    assert!(said.contains(&format!("(pid {pid})")), "{said}");
    assert!(said.contains("running `deploy local`"), "{said}");
    assert!(said.contains("lock break local"), "{said}");

    // Waiting, it starts once the lease (15 s) ran out, and finishes the job.
    let started = std::time::Instant::now();
    let next = run(&sb, &["deploy", "local", "--auto-approve", "--skip-seed"]).await;
    let said = text(&next);
    assert_eq!(next.status.code(), Some(0), "{said}");
    assert!(
        said.contains("waiting for the run lock of `local`: held by"),
        "{said}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(!sb
        .plan(layer_core::engine::Mode::Deploy)
        .await
        .has_changes());
}

#[tokio::test]
async fn lock_break_stops_the_holder_from_starting_work_and_frees_the_environment() {
    let sb = Sandbox::new("e2e-lock-break").await;
    sb.aws.slow().set(local_aws::SlowSettings {
        creation_ms: 8000,
        ..Default::default()
    });
    let holder = command(&sb, &["deploy", "local", "--auto-approve", "--skip-seed"])
        .spawn()
        .expect("the binary starts");
    let pid = holder.id().expect("running");
    wait_for_call(&sb, "CreateDBCluster").await;

    let show = run(&sb, &["lock", "show", "local"]).await;
    let said = text(&show);
    assert_eq!(show.status.code(), Some(0), "{said}");
    assert!(said.contains("`local` is locked: held by"), "{said}");
    assert!(said.contains(&format!("(pid {pid})")), "{said}");
    assert!(said.contains("arn:aws:"), "the holder's identity: {said}");

    let broke = run(&sb, &["lock", "break", "local", "--auto-approve"]).await;
    assert_eq!(broke.status.code(), Some(0), "{}", text(&broke));
    assert!(text(&broke).contains("lock of `local` broken"));

    // The holder learns at its next renewal, starts nothing new, and says so.
    let out = holder.wait_with_output().await.expect("it exits");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("lease was lost"), "{said}");
    assert!(
        !sb.called("CreateDBInstance"),
        "the cluster's instance was never started"
    );

    sb.aws.slow().set(local_aws::SlowSettings::default());
    let next = run(&sb, &["deploy", "local", "--auto-approve", "--skip-seed"]).await;
    assert_eq!(next.status.code(), Some(0), "{}", text(&next));
    let show = run(&sb, &["lock", "show", "local"]).await;
    assert!(text(&show).contains("`local` is not locked"));
}
