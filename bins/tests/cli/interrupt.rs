//! Seed killed at any point: the binary is killed (SIGKILL) once the gateway has counted its
//! N-th mutating call, for a spread of N over a whole seed, each point landing mid-run; the next
//! seed (once the killed run's lock lease expired) converges, and no seeded secret that was
//! already stored (generated or derived) gets a new version. The killed run's hold of the run
//! lock and the rerun's never overlap, as the local AWS saw the lock calls.

use std::collections::BTreeMap;
use std::time::Duration;

use dal_tests::Sandbox;

/// Every seeded secret's current version (generated and derived alike), but the S3 key pair's:
/// a run killed halfway through storing a new pair leaves it inconsistent, and the next one
/// stores a whole new pair (checked on its own: it names the user's only key).
async fn versions(sb: &Sandbox) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for s in dal_tests::seeded_secrets()
        .into_iter()
        .filter(|s| !s.starts_with("s3-"))
    {
        let v = sb.secret_version(&s).await;
        out.insert(s, v);
    }
    out
}

/// Seed killed after each of `points` mutating calls, each on a sandbox of its own.
async fn seed_killed_at(points: &[usize]) {
    for &n in points {
        // A killed seed leaves its run lock behind: the next one waits out the lease (5 s).
        let sb = Sandbox::with(&format!("e2e-kill-{n}"), |t| {
            t.replace("lease_seconds = 10", "lease_seconds = 5")
        })
        .await;
        assert_eq!(
            sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
                .await,
            0
        );
        sb.aws.calls().reset();
        let mut child = sb
            .binary(env!("CARGO_BIN_EXE_data-and-ai"), &["seed", "local"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts");
        let finished = loop {
            if sb.layer_mutation_count() >= n {
                break false;
            }
            if child.try_wait().expect("child state").is_some() {
                break true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let _ = child.kill().await;
        // A kill point after the run ended proves nothing.
        assert!(
            !finished,
            "seed ended before its call {n}: the kill landed after the run"
        );
        let stored = versions(&sb).await;

        assert_eq!(
            sb.cli(&["seed", "local"]).await,
            0,
            "seed after a kill at call {n}"
        );
        // The killed run's hold and the rerun's never overlapped (the rerun broke the expired
        // lease first), as the local AWS saw the lock calls.
        assert_eq!(sb.lock_holds(), Ok(2), "after a kill at call {n}");
        let now = versions(&sb).await;
        for (secret, v) in &stored {
            if v.is_some() {
                assert_eq!(
                    &now[secret], v,
                    "{secret} was stored before the kill at call {n}: kept"
                );
            }
        }
        assert!(
            now.values().all(Option::is_some),
            "all seeded after a kill at call {n}"
        );
        // The key pair names the user's only key (asked once the list shows every change).
        sb.settle().await;
        let id = sb.secret_value("s3-access-key-id").await.expect("key id");
        assert_eq!(sb.access_key_ids().await, [id], "after a kill at call {n}");
        // And a further seed has nothing to do.
        sb.aws.calls().reset();
        assert_eq!(sb.cli(&["seed", "local"]).await, 0);
        assert_eq!(
            sb.mutating_calls(),
            Vec::<String>::new(),
            "after a kill at call {n}"
        );
    }
}

// Seven points over a whole seed, in two parts that run side by side.
#[tokio::test]
async fn seed_killed_early_converges_without_regenerating_a_stored_value() {
    seed_killed_at(&[1, 3, 6, 10]).await;
}

#[tokio::test]
async fn seed_killed_late_converges_without_regenerating_a_stored_value() {
    seed_killed_at(&[15, 21, 27]).await;
}

/// Ctrl-C during a deploy waiting on a slow creation: nothing new starts, what is in flight
/// finishes, the exit code is 130, and the next deploy finishes the job.
#[tokio::test]
async fn ctrl_c_during_a_slow_deploy_stops_starting_work_and_the_next_deploy_finishes() {
    let sb = Sandbox::new("e2e-ctrlc").await;
    sb.aws.slow().set(local_aws::SlowSettings {
        creation_ms: 3000,
        ..Default::default()
    });
    let child = sb
        .binary(
            env!("CARGO_BIN_EXE_data-and-ai"),
            &["deploy", "local", "--auto-approve", "--skip-seed"],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // Interrupt while the cluster is being created (its wait has 3 s to go).
    loop {
        if sb.called("CreateDBCluster") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let started = std::time::Instant::now();
    let out = child.wait_with_output().await.expect("it exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("run the command again"), "{stderr}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(30),
        "it stops once the creation in flight (3 s) is done: {took:?}"
    );
    // The cluster's instance was never started: it waits for the cluster.
    assert!(
        !sb.called("CreateDBInstance"),
        "no new work after the interruption"
    );

    // The next deploy creates the instance (3 s); a second Ctrl-C stops it at once, without
    // waiting for what is in flight.
    let child = sb
        .binary(
            env!("CARGO_BIN_EXE_data-and-ai"),
            &["deploy", "local", "--auto-approve", "--skip-seed"],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    while !sb.called("CreateDBInstance") {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = child.id().expect("running").to_string();
    let started = std::time::Instant::now();
    for _ in 0..2 {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = child.wait_with_output().await.expect("it exits");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("Stopped at once"), "{stderr}");
    assert!(
        took < Duration::from_millis(1500),
        "the second Ctrl-C does not wait for the creation in flight: {took:?}"
    );
    sb.aws.slow().set(local_aws::SlowSettings::default());
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    assert!(!sb
        .plan(layer_core::engine::Mode::Deploy)
        .await
        .has_changes());
}

/// The layer's mutating calls of a fresh deploy plus seed, counted on a sandbox of its own.
async fn fresh_deploy_mutations() -> usize {
    let sb = Sandbox::new("e2e-kill-reference").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    sb.layer_mutations().len()
}

/// Deploy (with seed) killed with SIGKILL once the gateway counted the layer's `n`-th mutating
/// call (or, with `slow`, while waiting on a slow creation); then deploy again with no flag but a
/// wait for the killed run's lease: it converges, nothing is duplicated, and no stored value
/// changes its version. Returns whether the kill landed before the deploy finished.
async fn deploy_killed_after(n: usize, slow: bool) -> bool {
    let sb = Sandbox::with(&format!("e2e-kill-deploy-{n}"), |t| {
        t.replace("lease_seconds = 10", "lease_seconds = 5")
    })
    .await;
    if slow {
        sb.aws.slow().set(local_aws::SlowSettings {
            creation_ms: 4000,
            ..Default::default()
        });
    }
    let mut child = sb
        .binary(
            env!("CARGO_BIN_EXE_data-and-ai"),
            &["deploy", "local", "--auto-approve"],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    let finished = loop {
        let reached = if slow {
            sb.called("CreateDBCluster")
        } else {
            sb.layer_mutation_count() >= n
        };
        if reached {
            break false;
        }
        if child.try_wait().expect("child state").is_some() {
            break true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    if slow {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let _ = child.kill().await;
    sb.aws.slow().set(local_aws::SlowSettings::default());
    let stored = versions(&sb).await;
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--lock-timeout", "60s"])
            .await,
        0,
        "deploy after a kill at call {n}"
    );
    assert!(
        !sb.plan(layer_core::engine::Mode::Deploy)
            .await
            .has_changes(),
        "converged after a kill at call {n}"
    );
    assert_eq!(sb.lock_holds(), Ok(2), "after a kill at call {n}");
    let now = versions(&sb).await;
    for (secret, v) in &stored {
        if v.is_some() {
            assert_eq!(&now[secret], v, "{secret} kept after a kill at call {n}");
        }
    }
    assert!(
        now.values().all(Option::is_some),
        "all seeded after a kill at call {n}"
    );
    let inventory = sb.inventory().await;
    assert_eq!(
        inventory.duplicates(),
        Vec::<String>::new(),
        "after a kill at call {n}"
    );
    assert_eq!(
        inventory.of("iam access key").len(),
        1,
        "after a kill at call {n}"
    );
    assert_eq!(
        inventory.of("rds cluster").len(),
        1,
        "after a kill at call {n}"
    );
    assert_eq!(
        inventory.of("prometheus workspace").len(),
        1,
        "after a kill at call {n}"
    );
    !finished
}

/// An even sample of 20 kill points over a fresh deploy plus seed, in four parts that run side by
/// side.
async fn kill_points(part: usize) {
    let total = fresh_deploy_mutations().await;
    assert!(total > 40, "a fresh deploy makes {total} mutating calls");
    let mut killed = 0;
    for k in 0..5 {
        let i = part * 5 + k;
        let n = 1 + i * (total - 2) / 19;
        if deploy_killed_after(n, false).await {
            killed += 1;
        }
    }
    assert!(killed >= 4, "most kills landed mid-deploy: {killed} of 5");
}

#[tokio::test]
async fn deploy_killed_at_points_1_of_4() {
    kill_points(0).await;
}
#[tokio::test]
async fn deploy_killed_at_points_2_of_4() {
    kill_points(1).await;
}
#[tokio::test]
async fn deploy_killed_at_points_3_of_4() {
    kill_points(2).await;
}
#[tokio::test]
async fn deploy_killed_at_points_4_of_4() {
    kill_points(3).await;
}

#[tokio::test]
async fn deploy_killed_while_waiting_on_a_slow_creation_converges() {
    assert!(deploy_killed_after(0, true).await, "killed during the wait");
}
