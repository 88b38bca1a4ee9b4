//! The evidence suites that run in CI: under faults a fresh deploy plus seed, and a destroy,
//! converge with nothing duplicated and no value regenerated; one plan names drift in every
//! family; after destroy nothing of the environment is left in any service the layer touches.
//! Each fault run is repeatable from its seed; each kind of fault lands on a write; no run, a
//! failed one included, rewrites a stored value.

use std::collections::BTreeMap;

use dal_tests::{fields, Sandbox};
use layer_core::engine::Mode;
use local_aws::{Fault, FaultPlan, Rule};

fn rule(fault: Fault, rate: f64) -> Rule {
    Rule::every(fault, rate)
}

/// 10% of calls: throttled, failing with 500 or 503, a connection dropped before the request, or
/// the answer lost after the request was carried out; and 2% more of each kind on writes, so that
/// every kind lands on one.
fn ten_percent(seed: u64) -> FaultPlan {
    let on_writes = |fault| Rule {
        mutating_only: true,
        ..rule(fault, 0.02)
    };
    FaultPlan {
        seed,
        rules: vec![
            rule(Fault::Throttle, 0.04),
            rule(Fault::Http500, 0.015),
            rule(Fault::Http503, 0.015),
            rule(Fault::DropConnection, 0.015),
            rule(Fault::LoseResponse, 0.015),
            on_writes(Fault::Http500),
            on_writes(Fault::Http503),
            on_writes(Fault::DropConnection),
            on_writes(Fault::LoseResponse),
        ],
    }
}

/// Run a command until it succeeds (at most `tries` times); returns how many runs it took. With
/// `stored`, after every run (a failed one too), every seeded secret still has exactly those
/// versions: a rerun never writes a stored value, not even halfway.
async fn until_it_converges(
    sb: &Sandbox,
    args: &[&str],
    tries: usize,
    stored: Option<&BTreeMap<String, Vec<String>>>,
) -> usize {
    for run in 1..=tries {
        let code = sb.cli(args).await;
        if let Some(stored) = stored {
            assert_eq!(
                &version_lists(sb).await,
                stored,
                "run {run} of `{}` wrote a stored value",
                args.join(" ")
            );
        }
        if code == 0 {
            return run;
        }
    }
    panic!("`{}` did not converge in {tries} runs", args.join(" "));
}

/// Every seeded secret's versions (`ListSecretVersionIds`, deprecated ones included), sorted;
/// read from the emulator directly, past the gateway's faults.
async fn version_lists(sb: &Sandbox) -> BTreeMap<String, Vec<String>> {
    let moto = format!("http://127.0.0.1:{}", sb.aws.moto_port());
    let sm = aws_sdk_secretsmanager::Client::new(
        &local_aws::standin::sdk_config(&moto, "eu-central-2").await,
    );
    let mut out = BTreeMap::new();
    for s in dal_tests::seeded_secrets() {
        let listed = sm
            .list_secret_version_ids()
            .secret_id(format!("{}/{s}", sb.nid))
            .include_deprecated(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{s}: {e:?}"));
        let mut ids: Vec<String> = listed
            .versions()
            .iter()
            .filter_map(|v| v.version_id().map(str::to_string))
            .collect();
        ids.sort();
        out.insert(s, ids);
    }
    out
}

/// Each kind of fault landed on a write at least once.
fn every_kind_landed(injected: &BTreeMap<String, u64>) {
    for kind in [
        "throttle",
        "http500",
        "http503",
        "drop_connection",
        "lose_response",
    ] {
        assert!(
            injected.get(kind).is_some_and(|n| *n > 0),
            "no `{kind}` fault landed on a mutating call: {injected:?}"
        );
    }
}

async fn converges_under_faults(seed: u64) {
    let sb = Sandbox::new(&format!("e2e-faults-{seed}")).await;
    sb.aws.faults().set(ten_percent(seed));
    let deploy = ["deploy", "local", "--auto-approve", "--lock-timeout", "60s"];
    let mut runs = until_it_converges(&sb, &deploy, 5, None).await;
    let seeded = version_lists(&sb).await;
    assert!(
        seeded.values().all(|v| v.len() == 1),
        "every secret seeded once: {seeded:?}"
    );
    // Another full run under faults changes nothing that was stored, at any point.
    runs += until_it_converges(&sb, &deploy, 5, Some(&seeded)).await;
    let mut landed = sb.aws.faults().injected_into_writes();
    sb.aws.faults().clear();
    let inventory = sb.inventory().await;
    assert_eq!(inventory.duplicates(), Vec::<String>::new());
    assert_eq!(inventory.of("rds cluster").len(), 1, "{inventory:#?}");
    assert_eq!(inventory.of("rds instance").len(), 1, "{inventory:#?}");
    assert_eq!(inventory.of("elasticache replication group").len(), 1);
    assert_eq!(inventory.of("s3 bucket").len(), 2);
    assert_eq!(inventory.of("iam access key").len(), 1, "{inventory:#?}");
    assert_eq!(
        inventory.of("prometheus workspace").len(),
        1,
        "{inventory:#?}"
    );
    assert_eq!(inventory.of("vpc endpoint").len(), 2, "{inventory:#?}");
    assert_eq!(
        inventory.of("secret").len(),
        secrets_seed::catalog(&sb.session().await.databases).len(),
        "one container per secret, and no run lock left: {inventory:#?}"
    );
    // Converged: nothing to plan, nothing to seed.
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    assert_eq!(sb.mutating_calls(), Vec::<String>::new());

    // Destroy under faults, then nothing is left.
    sb.aws.faults().set(ten_percent(seed + 100));
    runs += until_it_converges(
        &sb,
        &[
            "destroy",
            "local",
            "--auto-approve",
            "--lock-timeout",
            "60s",
        ],
        5,
        None,
    )
    .await;
    for (kind, n) in sb.aws.faults().injected_into_writes() {
        *landed.entry(kind).or_insert(0) += n;
    }
    sb.aws.faults().clear();
    // Some command failed and was run again, as an operator would: the reruns were exercised.
    assert!(
        runs > 3,
        "three commands converged in {runs} runs: no rerun happened"
    );
    every_kind_landed(&landed);
    assert_eq!(
        sb.inventory().await.items,
        Vec::<String>::new(),
        "nothing left behind"
    );
}

#[tokio::test]
async fn faults_seed_1() {
    converges_under_faults(1).await;
}
#[tokio::test]
async fn faults_seed_2() {
    converges_under_faults(2).await;
}
#[tokio::test]
async fn faults_seed_3() {
    converges_under_faults(3).await;
}
#[tokio::test]
async fn faults_seed_4() {
    converges_under_faults(4).await;
}
#[tokio::test]
async fn faults_seed_5() {
    converges_under_faults(5).await;
}

#[tokio::test]
async fn nothing_is_left_behind_after_destroy() {
    let sb = Sandbox::new("e2e-leftovers").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let deployed = sb.inventory().await;
    // The inventory sees every service: a destroy that left any of these would be caught.
    for kind in [
        "rds cluster",
        "rds master secret",
        "rds instance",
        "rds cluster parameter group",
        "rds subnet group",
        "elasticache replication group",
        "elasticache parameter group",
        "elasticache subnet group",
        "security group",
        "vpc endpoint",
        "s3 bucket",
        "iam user",
        "iam access key",
        "iam role",
        "log group",
        "secret",
        "bedrock inference profile",
        "bedrock invocation logging",
        "prometheus workspace",
        "log delivery",
        "kms grant",
    ] {
        assert!(
            !deployed.of(kind).is_empty(),
            "deploy made no {kind}: {deployed:#?}"
        );
    }
    assert_eq!(sb.cli(&["destroy", "local", "--auto-approve"]).await, 0);
    assert_eq!(
        sb.inventory().await.items,
        Vec::<String>::new(),
        "nothing left behind"
    );
}

/// The no-op plan's budget is never met by observing less: fields of every family changed out of
/// band are each named by one plan of the whole layer.
#[tokio::test]
async fn one_plan_names_drift_in_every_family() {
    let sb = Sandbox::new("e2e-drift-all").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let sdk = sb.sdk().await;
    let nid = sb.nid.clone();

    // S3: versioning suspended.
    sb.s3()
        .await
        .put_bucket_versioning()
        .bucket(sb.bucket("ai_data"))
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    // Aurora: backup retention.
    aws_sdk_rds::Client::new(&sdk)
        .modify_db_cluster()
        .db_cluster_identifier(format!("{nid}-aurora"))
        .backup_retention_period(3)
        .apply_immediately(true)
        .send()
        .await
        .expect("retention");
    // Redis: the slow log's retention.
    aws_sdk_cloudwatchlogs::Client::new(&sdk)
        .put_retention_policy()
        .log_group_name(format!("/aws/vendedlogs/elasticache/{nid}-redis/slow-log"))
        .retention_in_days(1)
        .send()
        .await
        .expect("log retention");
    // Bedrock: the logging role's inline policy removed.
    let iam = sb.iam().await;
    let role = format!("{nid}-bedrock-logging");
    let policies = iam
        .list_role_policies()
        .role_name(&role)
        .send()
        .await
        .expect("policies");
    for p in policies.policy_names() {
        iam.delete_role_policy()
            .role_name(&role)
            .policy_name(p)
            .send()
            .await
            .expect("deleted");
    }
    // Aurora: a tag added by hand.
    aws_sdk_rds::Client::new(&sdk)
        .add_tags_to_resource()
        .resource_name(format!(
            "arn:aws:rds:eu-central-2:123456789012:cluster:{nid}-aurora"
        ))
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("Owner")
                .value("by-hand")
                .build(),
        )
        .send()
        .await
        .expect("tag");
    // Secrets: a container's description.
    sb.secrets()
        .await
        .update_secret()
        .secret_id(format!("{nid}/psql-host"))
        .description("changed by hand")
        .send()
        .await
        .expect("description");

    // Changed out of band earlier: the plan runs once AWS's lists show it.
    sb.settle().await;
    let plan = sb.plan(Mode::Deploy).await;
    for (address, field) in [
        ("aws_s3_bucket.ai_data", "versioning"),
        ("aws_rds_cluster.aurora", "backup_retention_days"),
        ("aws_rds_cluster.aurora", "tags"),
        ("aws_cloudwatch_log_group.redis_slow_log", "retention_days"),
        ("aws_iam_role.bedrock_logging", "policies"),
        ("aws_secretsmanager_secret.psql-host", "description"),
    ] {
        assert!(
            fields(&plan, address).contains(field),
            "{address}.{field} not named: {}",
            plan.render(false)
        );
    }
    // And apply repairs all of it, as the least-privileged deploy role, with IAM enforced: the
    // update paths' permissions are declared too.
    sb.enforce_least_privilege(layer_core::access::Command::Deploy)
        .await;
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve"]).await,
        0,
        "refused: {:?}",
        sb.aws.authz().denials()
    );
    assert_eq!(sb.aws.authz().denials(), vec![]);
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
}

/// A security group's rule change whose answer is lost: the SDK's retry finds the rules there
/// (or gone) and EC2 refuses it (`InvalidPermission.Duplicate`, `.NotFound`). The run takes that
/// as the change made: it does not fail, and the rules are the ones asked for.
#[tokio::test]
async fn a_lost_answer_of_a_rule_change_is_the_change_made() {
    let sb = Sandbox::new("e2e-lost-rule").await;
    let ops = [
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
    ];
    sb.aws.faults().set(FaultPlan {
        seed: 7,
        rules: ops
            .iter()
            .map(|op| Rule {
                operation: Some(op.to_string()),
                mutating_only: true,
                count: Some(1),
                ..rule(Fault::LoseResponse, 1.0)
            })
            .collect(),
    });
    let code = sb
        .cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
        .await;
    let injected = sb.aws.faults().injected();
    sb.aws.faults().clear();
    let called: std::collections::BTreeSet<String> = sb
        .aws
        .calls()
        .snapshot()
        .into_iter()
        .filter(|c| ops.contains(&c.operation.as_str()))
        .map(|c| c.operation)
        .collect();
    assert_eq!(
        code, 0,
        "a lost answer of a rule change never fails the run"
    );
    assert!(
        called.len() >= 2,
        "a fresh deploy adds ingress rules and revokes the default egress rule: {called:?}"
    );
    assert_eq!(
        injected,
        called.len() as u64,
        "each rule change lost one answer"
    );
    assert!(
        !sb.plan(Mode::Deploy).await.has_changes(),
        "the rules are as asked"
    );
}

/// A release of the run lock whose first try fails (the SDK's retries included) is tried again:
/// the lock is gone when the run ends, so the next run does not wait out the lease.
#[tokio::test]
async fn a_failed_release_of_the_run_lock_is_tried_again() {
    let sb = Sandbox::new("e2e-release").await;
    // local.toml's `max_attempts`: the SDK's whole first try of the release fails.
    let first_try = 3;
    sb.aws.faults().set(FaultPlan {
        seed: 11,
        rules: vec![Rule {
            operation: Some("DeleteSecret".into()),
            count: Some(first_try),
            ..rule(Fault::DropConnection, 1.0)
        }],
    });
    let code = sb
        .cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
        .await;
    let injected = sb.aws.faults().injected();
    sb.aws.faults().clear();
    assert_eq!(code, 0);
    assert_eq!(
        injected,
        u64::from(first_try),
        "the release's first try failed"
    );
    let moto = format!("http://127.0.0.1:{}", sb.aws.moto_port());
    let sm = aws_sdk_secretsmanager::Client::new(
        &local_aws::standin::sdk_config(&moto, "eu-central-2").await,
    );
    let lock = sm
        .describe_secret()
        .secret_id(format!("{}/run-lock", sb.nid))
        .send()
        .await;
    assert!(
        lock.as_ref().is_err_and(|e| {
            aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(e)
                == Some("ResourceNotFoundException")
        }),
        "no run lock is left: {lock:?}"
    );
}
