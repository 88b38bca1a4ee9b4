//! Eventual consistency, end to end: the gateway's model (lists that lag behind writes, a new
//! bucket, user or security group not seen at once), and the product under it: a fresh deploy
//! whose seed finds every container and whose next plan is empty with minutes of list lag, the S3
//! key never deleted from under the secrets that hold it, derived secrets built from their
//! source's current version, calls right after `CreateBucket` or `CreateSecurityGroup` retried,
//! and the name of a secret deleted without recovery waited for.

use std::time::Duration;

use dal_tests::Sandbox;
use local_aws::ConsistencySettings;

fn lag(list_lag_ms: u64, read_after_create_ms: u64) -> ConsistencySettings {
    ConsistencySettings {
        list_lag_ms,
        read_after_create_ms,
        deletion_ms: 0,
        services: Default::default(),
    }
}

async fn listed_secrets(sb: &Sandbox) -> Vec<String> {
    let out = sb
        .secrets()
        .await
        .list_secrets()
        .include_planned_deletion(true)
        .send()
        .await
        .expect("list");
    out.secret_list()
        .iter()
        .filter_map(|s| s.name().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn lists_lag_behind_writes_and_direct_reads_do_not() {
    let sb = Sandbox::new("e2e-lag").await;
    sb.aws.consistency().set(lag(1_500, 0));
    let sm = sb.secrets().await;
    sm.create_secret()
        .name("lag/a")
        .secret_string("v1")
        .send()
        .await
        .unwrap();
    // Not listed yet, but described.
    assert!(!listed_secrets(&sb).await.contains(&"lag/a".to_string()));
    assert!(sm.describe_secret().secret_id("lag/a").send().await.is_ok());
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    assert!(listed_secrets(&sb).await.contains(&"lag/a".to_string()));

    // A change shows the entry from before it; a deletion still lists it as it was.
    sm.tag_resource()
        .secret_id("lag/a")
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("k")
                .value("v")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let listed = sm.list_secrets().send().await.unwrap();
    let a = listed
        .secret_list()
        .iter()
        .find(|s| s.name() == Some("lag/a"))
        .expect("listed as before");
    assert!(a.tags().is_empty(), "the tag is not listed yet");
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    sm.delete_secret()
        .secret_id("lag/a")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    assert!(listed_secrets(&sb).await.contains(&"lag/a".to_string()));
    assert!(sm
        .describe_secret()
        .secret_id("lag/a")
        .send()
        .await
        .is_err());

    // The settings read back, one service overridden; DELETE makes the world consistent.
    let body = r#"{"list_lag_ms": 3000, "read_after_create_ms": 1000, "services": {"secretsmanager": {"list_lag_ms": 600000}}}"#;
    let port = sb
        .aws
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (status, _) =
        local_aws::daemon::http_request("127.0.0.1", port, "POST", "/_gateway/consistency", body)
            .await
            .expect("post");
    assert_eq!(status, 200);
    let s = sb.aws.consistency().settings();
    assert_eq!(s.list_lag("secretsmanager"), Duration::from_secs(600));
    assert_eq!(s.list_lag("logs"), Duration::from_secs(3));
    let (status, _) = local_aws::daemon::http_request(
        "127.0.0.1",
        port,
        "POST",
        "/_gateway/consistency",
        r#"{"lag": 1}"#,
    )
    .await
    .expect("post");
    assert_eq!(status, 400, "an unknown key is refused");
    let (status, _) =
        local_aws::daemon::http_request("127.0.0.1", port, "DELETE", "/_gateway/consistency", "")
            .await
            .expect("delete");
    assert_eq!(status, 200);
    assert_eq!(
        sb.aws.consistency().settings(),
        ConsistencySettings::default()
    );
}

#[tokio::test]
async fn new_buckets_users_keys_and_log_groups_are_not_seen_at_once() {
    let sb = Sandbox::new("e2e-lag-new").await;
    sb.aws.consistency().set(lag(1_500, 1_000));
    let s3 = sb.s3().await;
    s3.create_bucket()
        .bucket("lag-bucket")
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint("eu-central-2".into())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let e = s3
        .get_bucket_tagging()
        .bucket("lag-bucket")
        .send()
        .await
        .unwrap_err();
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    assert_eq!(e.code(), Some("NoSuchBucket"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let e = s3.get_bucket_tagging().bucket("lag-bucket").send().await;
    assert!(
        !matches!(&e, Err(e) if e.code() == Some("NoSuchBucket")),
        "seen after the delay"
    );

    let iam = sb.iam().await;
    iam.create_user()
        .user_name("lag-user")
        .send()
        .await
        .unwrap();
    let e = iam
        .create_access_key()
        .user_name("lag-user")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchEntity"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let key = iam
        .create_access_key()
        .user_name("lag-user")
        .send()
        .await
        .unwrap();
    let id = key.access_key().unwrap().access_key_id().to_string();
    let listed = iam
        .list_access_keys()
        .user_name("lag-user")
        .send()
        .await
        .unwrap();
    assert!(
        listed.access_key_metadata().is_empty(),
        "a new key is not listed yet"
    );
    let used = iam
        .get_access_key_last_used()
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(used.user_name(), Some("lag-user"), "but read directly");

    let logs = aws_sdk_cloudwatchlogs::Client::new(&sb.sdk().await);
    logs.create_log_group()
        .log_group_name("/lag/group")
        .send()
        .await
        .unwrap();
    let by_prefix = logs
        .describe_log_groups()
        .log_group_name_prefix("/lag/")
        .send()
        .await
        .unwrap();
    assert!(by_prefix.log_groups().is_empty(), "a listing lags");
    let by_name = logs
        .describe_log_groups()
        .log_group_identifiers("/lag/group")
        .send()
        .await
        .unwrap();
    let names: Vec<_> = by_name
        .log_groups()
        .iter()
        .filter_map(|g| g.log_group_name())
        .collect();
    assert_eq!(names, ["/lag/group"], "a lookup by name does not");
}

/// Minutes of list lag where AWS documents it (Secrets Manager) and for IAM and Logs: a fix that
/// only waits a few seconds cannot pass. Bedrock's and AMP's lists keep the default 3 s: their
/// resources have AWS-chosen ids and are found only by listing, so deploy waits until they are
/// listed (bounded), which a ten-minute lag would outlast.
fn minutes_of_lag() -> ConsistencySettings {
    let mut s = ConsistencySettings::aws_like();
    for service in ["secretsmanager", "iam", "logs"] {
        s.services.insert(
            service.into(),
            local_aws::consistency::ServiceLag {
                list_lag_ms: Some(600_000),
                read_after_create_ms: None,
            },
        );
    }
    s
}

#[tokio::test]
async fn a_fresh_deploy_seeds_everything_and_the_next_plan_is_empty_under_minutes_of_lag() {
    let sb = Sandbox::new("e2e-lag-deploy").await;
    sb.aws.consistency().set(minutes_of_lag());
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    for s in dal_tests::seeded_secrets() {
        assert!(
            sb.secret_version(&s).await.is_some(),
            "{s} is seeded by the deploy"
        );
    }
    assert_eq!(
        sb.cli(&["plan", "local", "--detailed-exitcode"]).await,
        0,
        "no false creates right after a deploy"
    );
    // Verify's key check finds the key IAM's list does not show yet.
    let reader = secrets_seed::Reader::new(&sb.sdk().await);
    let id = sb.secret_value("s3-access-key-id").await.expect("key id");
    let status = reader
        .access_key_status(&format!("{}-s3-access", sb.nid), &id)
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some(secrets_seed::NOT_LISTED_YET));
    assert_eq!(
        reader
            .access_key_status(&format!("{}-s3-access", sb.nid), "AKIANOTAKEY000000000")
            .await
            .unwrap(),
        None,
        "a key that is not the user's is not"
    );
    // A second deploy and seed within the lag change nothing.
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    assert_eq!(sb.mutating_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_rerun_within_the_lag_never_deletes_the_key_the_secrets_hold() {
    let sb = Sandbox::new("e2e-lag-key").await;
    sb.aws.consistency().set(minutes_of_lag());
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let user = format!("{}-s3-access", sb.nid);
    let iam = sb.iam().await;
    let old = sb.secret_value("s3-access-key-id").await.expect("key id");
    // A run that stored a new key and was killed before deleting the old one.
    let new = iam
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .unwrap();
    let new = new.access_key().unwrap();
    let sm = sb.secrets().await;
    for (secret, value) in [
        ("s3-secret-access-key", new.secret_access_key()),
        ("s3-access-key-id", new.access_key_id()),
    ] {
        let name = format!("{}/{secret}", sb.nid);
        sm.put_secret_value()
            .secret_id(&name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
        sm.tag_resource()
            .secret_id(&name)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("seed:access-key-id")
                    .value(new.access_key_id())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    // The rerun, within the lag: the list shows neither the new key nor the secrets' new tags.
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    let held = sb.secret_value("s3-access-key-id").await.expect("key id");
    assert_eq!(held, new.access_key_id(), "the stored key stays");
    let exists = iam
        .get_access_key_last_used()
        .access_key_id(new.access_key_id())
        .send()
        .await;
    assert!(exists.is_ok(), "the key the secrets hold was not deleted");
    // Once the list shows them, the next seed removes the key no secret holds, and only it.
    sb.aws.consistency().clear();
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    assert_eq!(
        sb.access_key_ids().await,
        [new.access_key_id()],
        "the old key {old} went, the held one stayed"
    );
}

#[tokio::test]
async fn derived_secrets_follow_their_sources_current_version_within_the_lag() {
    let sb = Sandbox::new("e2e-lag-derived").await;
    sb.aws.consistency().set(minutes_of_lag());
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert_eq!(
        sb.cli(&["seed", "local", "--rotate", "litellm-proxy-master-key"])
            .await,
        0
    );
    // At once again: the list still shows the key's version from before the rotation.
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    let key = sb
        .secret_value("litellm-proxy-master-key")
        .await
        .expect("key");
    let defs = sb
        .secret_value("azure-openai-endpoint-definitions")
        .await
        .expect("definitions");
    assert!(defs.contains(&key), "built from the current key");
}

#[tokio::test]
async fn the_run_lock_under_a_name_scheduled_for_deletion_is_bounded_named_and_freed() {
    let sb = Sandbox::new("e2e-lag-lock").await;
    let name = format!("{}/run-lock", sb.nid);
    let sm = sb.secrets().await;
    sm.create_secret().name(&name).send().await.unwrap();
    sm.delete_secret()
        .secret_id(&name)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let taken = layer::lock::take(
        &sb.sdk().await,
        &sb.env(),
        "arn:aws:iam::123456789012:user/t",
        "seed local",
        Some(Duration::from_secs(2)),
        |_| {},
    )
    .await;
    let msg = taken.expect_err("the name is taken").to_string();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "bounded by the lock's wait"
    );
    assert!(
        msg.contains(&name)
            && msg.contains("scheduled for deletion on ")
            && msg.contains("lock break local"),
        "{msg}"
    );
    // A command that needs the lock fails the same way, changing nothing.
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["seed", "local", "--lock-timeout", "1s"]).await, 1);
    assert_eq!(sb.mutating_calls(), Vec::<String>::new());
    // `lock break` frees the name; the lock can be taken again.
    assert_eq!(
        sb.cli(&["lock", "break", "local", "--auto-approve"]).await,
        0
    );
    let lease = layer::lock::take(
        &sb.sdk().await,
        &sb.env(),
        "arn:aws:iam::123456789012:user/t",
        "seed local",
        Some(Duration::from_secs(2)),
        |_| {},
    )
    .await
    .expect("free again");
    lease.release().await.unwrap();
}

/// EC2 does not know a security group made a moment ago: the calls that name it by id are
/// refused with `InvalidGroup.NotFound` and change nothing, and a deploy (whose every security
/// group gets its rules right after it is made) goes through it in one run.
#[tokio::test]
async fn a_new_security_group_is_not_known_to_ec2_at_once() {
    use ec2_query::{Permission, ProvideErrorMetadata as _, RuleChange};
    let sb = Sandbox::new("e2e-lag-sg").await;
    // Seconds, not one: two calls must come within it on a loaded machine.
    sb.aws.consistency().set(lag(0, 3_000));
    let ec2 = ec2_query::Client::new(&sb.sdk().await);
    let vpc = ec2.describe_vpcs(&[]).await.unwrap()[0].id.clone();
    let no_tags = Vec::<(&str, &str)>::new();
    let id = ec2
        .create_security_group("lag-group", "made a moment ago", &vpc, no_tags)
        .await
        .unwrap();
    let rule = Permission {
        protocol: "tcp".into(),
        from_port: Some(5432),
        to_port: Some(5432),
        cidrs: vec!["10.0.0.0/8".into()],
    };
    let authorize = RuleChange::AuthorizeIngress;
    let e = ec2
        .change_rules(authorize, &id, std::slice::from_ref(&rule))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidGroup.NotFound"));
    let e = ec2.describe_security_groups(&[], &[&id]).await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidGroup.NotFound"));
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let group = ec2.describe_security_groups(&[], &[&id]).await.unwrap();
    assert!(
        group[0].ingress.is_empty(),
        "the refused call added nothing"
    );
    ec2.change_rules(authorize, &id, &[rule])
        .await
        .expect("seen after the delay");

    // The product: three seconds before a new group is known, and one run of deploy.
    sb.aws.consistency().set(ConsistencySettings {
        services: [(
            "ec2".to_string(),
            local_aws::consistency::ServiceLag {
                read_after_create_ms: Some(3_000),
                ..Default::default()
            },
        )]
        .into(),
        ..local_aws::ConsistencySettings::aws_like()
    });
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    let refused = sb
        .aws
        .calls()
        .snapshot()
        .into_iter()
        .filter(|c| c.operation.starts_with("AuthorizeSecurityGroup") && c.status == Some(400))
        .count();
    assert!(refused > 0, "the deploy met groups not known yet");
    sb.settle().await;
    assert!(!sb
        .plan(layer_core::engine::Mode::Deploy)
        .await
        .has_changes());
}

/// AWS deletes a secret deleted without recovery in the background, and refuses a create of its
/// name meanwhile: the run lock taken right after another run released it, and the containers of
/// a deploy right after a destroy, wait for the name instead of failing.
#[tokio::test]
async fn a_secret_deleted_without_recovery_holds_its_name_for_a_moment() {
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
    let sb = Sandbox::new("e2e-lag-del").await;
    sb.aws.consistency().set(ConsistencySettings {
        deletion_ms: 2_000,
        ..ConsistencySettings::aws_like()
    });
    let sm = sb.secrets().await;
    sm.create_secret().name("lag-deleted").send().await.unwrap();
    sm.delete_secret()
        .secret_id("lag-deleted")
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let e = sm
        .create_secret()
        .name("lag-deleted")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidRequestException"));
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    sm.create_secret()
        .name("lag-deleted")
        .send()
        .await
        .expect("the name is free after the delay");

    // The product: a container deleted without recovery (by hand, or by a destroy) is made
    // again by the deploy right after, which waits for its name; the run lock, taken right
    // after the last run released it, waits for its own.
    let deploy = ["deploy", "local", "--auto-approve", "--skip-seed"];
    assert_eq!(sb.cli(&deploy).await, 0);
    // The last run's lock has freed its name: the next deploy does not wait on it.
    sb.settle().await;
    // Longer than the deploy takes to plan, lock and plan again, on a loaded machine too.
    sb.aws.consistency().set(ConsistencySettings {
        deletion_ms: 10_000,
        ..ConsistencySettings::aws_like()
    });
    let container = format!("{}/redis-host", sb.nid);
    sm.delete_secret()
        .secret_id(&container)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&deploy).await,
        0,
        "a deploy right after the deletion"
    );
    let refused: Vec<Option<String>> = sb
        .aws
        .calls()
        .snapshot()
        .into_iter()
        .filter(|c| c.operation == "CreateSecret" && c.status == Some(400))
        .map(|c| c.resource)
        .collect();
    assert!(
        refused
            .iter()
            .any(|r| r.as_deref().is_some_and(|r| r.contains("redis-host"))),
        "the deploy met the container's name not freed yet: {refused:?}"
    );
    assert!(
        sm.describe_secret()
            .secret_id(&container)
            .send()
            .await
            .is_ok(),
        "made again"
    );
    sb.aws.consistency().set(ConsistencySettings::aws_like());
    sb.settle().await;
    assert!(!sb
        .plan(layer_core::engine::Mode::Deploy)
        .await
        .has_changes());
}
