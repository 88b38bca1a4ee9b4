//! Secrets end to end: containers and facts by deploy, seed (idempotent by call count, `--force`,
//! `--rotate`), derived secrets following a changed master password, the S3 access key's two-phase
//! replacement and lost responses, restore of a secret scheduled for deletion, and destroy.

use std::collections::BTreeMap;

use dal_tests::Sandbox;
use layer_core::Action;
use local_aws::{Fault, FaultPlan, Rule};
use percent_encoding::percent_decode_str;

use dal_tests::{seeded_secrets as seeded, AT_REST_SECRETS as AT_REST, DATABASES};

async fn versions(sb: &Sandbox) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for s in seeded() {
        let v = sb.secret_version(&s).await;
        out.insert(s, v);
    }
    out
}

async fn master_secret_arn(sb: &Sandbox) -> String {
    sb.session().await.observe().await.expect("observe")["aurora_master_user_secret_arn"]
        .as_str()
        .expect("master secret arn")
        .to_string()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

#[tokio::test]
async fn deploy_writes_facts_and_seeds_once_force_keeps_keys_at_rest_and_rotate_changes_one() {
    let sb = Sandbox::new("e2e-seed").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);

    // Facts, written by deploy from the other families' outputs and from config.
    let out = sb.session().await.outputs().await.expect("outputs");
    assert_eq!(
        sb.secret_value("psql-host").await.as_deref(),
        out["aurora_cluster_endpoint"].as_str()
    );
    assert_eq!(
        sb.secret_value("psql-username").await.as_deref(),
        Some("dbadmin")
    );
    assert_eq!(sb.secret_value("redis-port").await.as_deref(), Some("6380"));
    assert_eq!(
        sb.secret_value("s3-ai-data-bucket-arn").await.as_deref(),
        Some(format!("arn:aws:s3:::{}", sb.bucket("ai_data")).as_str())
    );
    assert_eq!(
        sb.secret_value("s3-region").await.as_deref(),
        Some("eu-central-2")
    );
    let ca = sb.secret_value("rds-ca-bundle").await.expect("ca bundle");
    let ca_file = std::fs::read_to_string(sb.environments().join(".local/ca/ca.pem")).unwrap();
    assert_eq!(ca, ca_file);
    // Every container, encrypted with the Secrets Manager key, tagged, in the outputs.
    let arns = out["secret_arns"].as_object().expect("secret_arns");
    assert_eq!(arns.len(), 31, "{arns:?}");
    assert_eq!(
        out["psql_connection_string_secret_arns"]
            .as_object()
            .expect("map")
            .len(),
        6
    );
    let key = sb.session().await.infra.secrets_kms_key_arn.clone();
    let d = sb
        .secrets()
        .await
        .describe_secret()
        .secret_id(format!("{}/encryption-key-ingestion", sb.nid))
        .send()
        .await
        .unwrap();
    assert_eq!(d.kms_key_id(), Some(key.as_str()));
    assert!(d
        .tags()
        .iter()
        .any(|t| t.key() == Some("ManagedBy") && t.value() == Some("data-and-ai-layer")));

    // Formats of the conventions.
    for s in ["encryption-key-app-repository", "litellm-salt-key"] {
        assert!(is_hex(&sb.secret_value(s).await.unwrap(), 64), "{s}");
    }
    for s in [
        "zitadel-master-key",
        "rabbitmq-password-chat",
        "zitadel-db-user-password",
    ] {
        let v = sb.secret_value(s).await.unwrap();
        assert!(
            v.len() == 32 && v.chars().all(|c| c.is_ascii_alphanumeric()),
            "{s}"
        );
    }
    let litellm = sb.secret_value("litellm-proxy-master-key").await.unwrap();
    assert!(is_hex(litellm.strip_prefix("sk-").expect("sk-"), 64));
    let defs: serde_json::Value = serde_json::from_str(
        &sb.secret_value("azure-openai-endpoint-definitions")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(defs[0]["key"], litellm.as_str());
    assert_eq!(defs[0]["endpoint"], "http://litellm.unique.svc:4000");
    assert_eq!(defs[0]["models"][2], "gpt-4-32k");
    assert_eq!(
        sb.secret_version("manual-zitadel-scope-mgmt-pat").await,
        None
    );

    // A second seed makes no mutating call.
    let before = versions(&sb).await;
    assert!(before.values().all(Option::is_some), "{before:?}");
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    assert_eq!(sb.mutating_calls(), Vec::<String>::new());
    assert_eq!(versions(&sb).await, before);

    // --force: everything but the keys that encrypt data at rest is rewritten.
    assert_eq!(sb.cli(&["seed", "local", "--force"]).await, 0);
    let forced = versions(&sb).await;
    for (s, v) in &forced {
        if AT_REST.contains(&s.as_str()) {
            assert_eq!(v, &before[s], "{s} encrypts data at rest: kept");
        } else {
            assert_ne!(v, &before[s], "{s} is rewritten by --force");
        }
    }
    // The endpoint definitions follow the new LiteLLM key in the same run.
    let litellm2 = sb.secret_value("litellm-proxy-master-key").await.unwrap();
    assert_ne!(litellm2, litellm);
    assert!(sb
        .secret_value("azure-openai-endpoint-definitions")
        .await
        .unwrap()
        .contains(&litellm2));

    // --rotate names exactly one.
    assert_eq!(
        sb.cli(&["seed", "local", "--rotate", "encryption-key-ingestion"])
            .await,
        0
    );
    let rotated = versions(&sb).await;
    for (s, v) in &rotated {
        if s == "encryption-key-ingestion" {
            assert_ne!(v, &forced[s]);
        } else {
            assert_eq!(v, &forced[s], "{s} is not rotated");
        }
    }

    // A derived secret cannot be rotated; nothing is written.
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["seed", "local", "--rotate", "psql-password"])
            .await,
        1
    );
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
}

#[tokio::test]
async fn derived_secrets_follow_a_changed_master_password_through_percent_encoding() {
    let sb = Sandbox::new("e2e-derived").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let master = master_secret_arn(&sb).await;
    let password = "p@ss:w/o?r#d%41&b+c d=é€";
    sb.secrets()
        .await
        .put_secret_value()
        .secret_id(&master)
        .secret_string(serde_json::json!({"username": "dbadmin", "password": password}).to_string())
        .send()
        .await
        .unwrap();

    // Plan sees the derived secrets as stale, from metadata.
    let session = sb.session().await;
    let states = session
        .secret_states(&session.observe().await.unwrap())
        .await
        .unwrap();
    let stale: Vec<&str> = states
        .iter()
        .filter(|(_, s)| matches!(s, secrets_seed::State::Stale(_)))
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        stale.len(),
        7,
        "psql-password and six connection strings: {states:?}"
    );
    assert!(stale.contains(&"psql-password"));

    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    assert_eq!(
        sb.secret_value("psql-password").await.as_deref(),
        Some(password)
    );
    let host = sb.secret_value("psql-host").await.unwrap();
    for db in DATABASES {
        let cs = sb
            .secret_value(&format!("psql-connection-string-{db}"))
            .await
            .unwrap();
        let url = url::Url::parse(&cs).expect("a URL");
        assert_eq!(url.scheme(), "postgresql");
        assert_eq!(url.username(), "dbadmin");
        assert_eq!(url.host_str(), Some(host.as_str()));
        assert_eq!(url.path(), format!("/{db}"));
        assert_eq!(url.query(), Some("sslmode=verify-full"));
        let decoded = percent_decode_str(url.password().unwrap())
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, password, "{db}");
    }
    let states = session
        .secret_states(&session.observe().await.unwrap())
        .await
        .unwrap();
    assert!(
        states
            .iter()
            .all(|(_, s)| !matches!(s, secrets_seed::State::Stale(_))),
        "{states:?}"
    );
}

#[tokio::test]
async fn the_s3_access_key_survives_a_lost_response_and_a_deleted_key_is_replaced() {
    let sb = Sandbox::new("e2e-keys").await;
    // The first CreateAccessKey is carried out and its answer lost.
    sb.aws.faults().set(FaultPlan {
        seed: 1,
        rules: vec![Rule {
            service: Some("iam".into()),
            operation: Some("CreateAccessKey".into()),
            mutating_only: false,
            fault: Fault::LoseResponse,
            rate: 1.0,
            count: Some(1),
            latency_ms: 0,
        }],
    });
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    sb.aws.faults().clear();
    let iam = sb.iam().await;
    let user = format!("{}-s3-access", sb.nid);
    let keys = |iam: aws_sdk_iam::Client, user: String| async move {
        iam.list_access_keys()
            .user_name(user)
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .iter()
            .map(|k| k.access_key_id().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // The key whose answer was lost is not listed yet when the run reconciles (lists lag); the
    // next seed, once the list shows it, deletes it.
    sb.settle().await;
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    sb.settle().await;
    let held = sb.secret_value("s3-access-key-id").await.unwrap();
    assert_eq!(
        keys(iam.clone(), user.clone()).await,
        vec![held.clone()],
        "the key whose answer was lost is gone; the one we hold is the only one"
    );

    // A key deleted out of band is replaced; the secrets name the new one.
    iam.delete_access_key()
        .user_name(&user)
        .access_key_id(&held)
        .send()
        .await
        .unwrap();
    sb.settle().await;
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    sb.settle().await;
    let now = sb.secret_value("s3-access-key-id").await.unwrap();
    assert_ne!(now, held);
    assert_eq!(keys(iam.clone(), user.clone()).await, vec![now.clone()]);

    // With two keys already there (one nobody holds), --rotate makes room, stores the new key,
    // then deletes the old: never more than two, and the secrets never name a deleted key.
    iam.create_access_key()
        .user_name(&user)
        .send()
        .await
        .unwrap();
    sb.settle().await;
    assert_eq!(
        sb.cli(&["seed", "local", "--rotate", "s3-secret-access-key"])
            .await,
        0
    );
    sb.settle().await;
    let rotated = sb.secret_value("s3-access-key-id").await.unwrap();
    assert_ne!(rotated, now);
    assert_eq!(keys(iam.clone(), user.clone()).await, vec![rotated.clone()]);

    // A rotation whose CreateAccessKey answer is lost: the key it made is not listed yet, so
    // the retry meets IAM's two-key quota (LimitExceeded). Seed waits for the list to show the
    // key nobody holds, deletes it, and makes the one it stores.
    sb.aws.faults().set(FaultPlan {
        seed: 1,
        rules: vec![Rule {
            service: Some("iam".into()),
            operation: Some("CreateAccessKey".into()),
            mutating_only: false,
            fault: Fault::LoseResponse,
            rate: 1.0,
            count: Some(1),
            latency_ms: 0,
        }],
    });
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["seed", "local", "--rotate", "s3-secret-access-key"])
            .await,
        0
    );
    sb.aws.faults().clear();
    let creates = sb
        .aws
        .calls()
        .snapshot()
        .into_iter()
        .filter(|c| c.operation == "CreateAccessKey")
        .count();
    assert_eq!(creates, 3, "lost, refused at the quota, made");
    sb.settle().await;
    let after = sb.secret_value("s3-access-key-id").await.unwrap();
    assert_ne!(after, rotated);
    assert_eq!(keys(iam, user).await, vec![after]);
}

#[tokio::test]
async fn a_secret_scheduled_for_deletion_is_restored_drift_is_rewritten_and_destroy_removes_ours() {
    let sb = Sandbox::new("e2e-restore").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let sm = sb.secrets().await;
    let name = |s: &str| format!("{}/{s}", sb.nid);
    let before = sb.secret_version("psql-password").await;
    sm.delete_secret()
        .secret_id(name("psql-password"))
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    sm.put_secret_value()
        .secret_id(name("psql-host"))
        .secret_string("wrong.example.com")
        .send()
        .await
        .unwrap();

    // Changed out of band earlier: the plan runs once AWS's lists show it.
    sb.settle().await;
    let plan = sb.plan(layer_core::engine::Mode::Deploy).await;
    let changed: BTreeMap<String, Action> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.address.to_string(), c.action.clone()))
        .collect();
    assert_eq!(
        changed,
        BTreeMap::from([
            (
                "aws_secretsmanager_secret.psql-host".to_string(),
                Action::Update
            ),
            (
                "aws_secretsmanager_secret.psql-password".to_string(),
                Action::Update
            ),
        ])
    );
    assert_eq!(
        dal_tests::fields(&plan, "aws_secretsmanager_secret.psql-host"),
        dal_tests::set(&["fact_version"])
    );

    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let out = sb.session().await.outputs().await.unwrap();
    assert_eq!(
        sb.secret_value("psql-host").await.as_deref(),
        out["aurora_cluster_endpoint"].as_str()
    );
    // Restored; the seed that deploy runs found its value already right, so it only recorded
    // its source again: no new version, and nothing stale.
    let d = sm
        .describe_secret()
        .secret_id(name("psql-password"))
        .send()
        .await
        .unwrap();
    assert!(d.deleted_date().is_none());
    assert_eq!(
        sb.secret_version("psql-password").await,
        before,
        "a restored derived secret holding the right value keeps its version"
    );
    let session = sb.session().await;
    let states = session
        .secret_states(&session.observe().await.unwrap())
        .await
        .unwrap();
    assert!(
        states
            .iter()
            .all(|(_, s)| !matches!(s, secrets_seed::State::Stale(_))),
        "{states:?}"
    );
    let master = master_secret_arn(&sb).await;
    let m: serde_json::Value = serde_json::from_str(
        sm.get_secret_value()
            .secret_id(master)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        sb.secret_value("psql-password").await.as_deref(),
        m["password"].as_str()
    );
    assert!(!sb
        .plan(layer_core::engine::Mode::Deploy)
        .await
        .has_changes());

    // A secret of ours made by someone else without our tags is left alone by destroy.
    sm.create_secret()
        .name(name("not-ours"))
        .secret_string("x")
        .send()
        .await
        .unwrap();
    assert_eq!(sb.cli(&["destroy", "local", "--auto-approve"]).await, 0);
    sb.settle().await;
    let left = sm
        .list_secrets()
        .include_planned_deletion(true)
        .send()
        .await
        .unwrap();
    let ours: Vec<&str> = left
        .secret_list()
        .iter()
        .filter_map(|s| s.name())
        .filter(|n| n.starts_with(&format!("{}/", sb.nid)))
        .collect();
    assert_eq!(ours, vec![name("not-ours").as_str()]);
}

#[tokio::test]
async fn an_untagged_secret_is_adopted_only_with_the_flag_and_destroy_keeps_the_recovery_window() {
    let sb = Sandbox::with("e2e-adopt-sec", |t| {
        t.replace("recovery_window_days = 0", "recovery_window_days = 7")
    })
    .await;
    let sm = sb.secrets().await;
    let name = |s: &str| format!("{}/{s}", sb.nid);
    // Made by the Terraform layer: same name, no tags of ours, a value deploy does not own.
    sm.create_secret()
        .name(name("psql-port"))
        .secret_string("5432")
        .send()
        .await
        .unwrap();
    let theirs = sb.secret_version("psql-port").await;
    let plan = sb.plan(layer_core::engine::Mode::Deploy).await;
    let c = plan
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_secretsmanager_secret.psql-port")
        .unwrap();
    assert_eq!(c.action, Action::Adopt);
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 3);
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--adopt"])
            .await,
        0
    );
    let d = sm
        .describe_secret()
        .secret_id(name("psql-port"))
        .send()
        .await
        .unwrap();
    assert!(d
        .tags()
        .iter()
        .any(|t| t.key() == Some("Layer") && t.value() == Some("data-and-ai")));
    assert_eq!(
        d.kms_key_id(),
        Some(sb.session().await.infra.secrets_kms_key_arn.as_str())
    );
    assert_eq!(sb.secret_value("psql-port").await.as_deref(), Some("5432"));
    // Its value was already right: it keeps its version, and the next plan leaves it alone.
    assert_eq!(sb.secret_version("psql-port").await, theirs);
    let after = sb.plan(layer_core::engine::Mode::Deploy).await;
    assert!(
        !after.changes.iter().any(|c| c.address.to_string()
            == "aws_secretsmanager_secret.psql-port"
            && c.action != Action::NoOp),
        "{after}"
    );

    // Destroy schedules ours for deletion with the configured window; a second destroy has
    // nothing left to do.
    assert_eq!(sb.cli(&["destroy", "local", "--auto-approve"]).await, 0);
    sb.settle().await;
    let left = sm
        .list_secrets()
        .include_planned_deletion(true)
        .max_results(100)
        .send()
        .await
        .unwrap();
    let ours: Vec<_> = left
        .secret_list()
        .iter()
        .filter(|s| {
            s.name()
                .is_some_and(|n| n.starts_with(&format!("{}/", sb.nid)))
        })
        .collect();
    assert_eq!(ours.len(), 31);
    assert!(ours.iter().all(|s| s.deleted_date().is_some()));
    let again = sb.plan(layer_core::engine::Mode::Destroy).await;
    assert!(!again.has_changes(), "{again}");
}

#[tokio::test]
async fn rotating_a_key_at_rest_in_a_protected_environment_needs_confirm_env() {
    let sb = Sandbox::with("e2e-protected-rot", |t| format!("protected = true\n{t}")).await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let before = sb.secret_version("litellm-salt-key").await;
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["seed", "local", "--rotate", "litellm-salt-key"])
            .await,
        3
    );
    assert_eq!(
        sb.cli(&[
            "seed",
            "local",
            "--rotate",
            "litellm-salt-key",
            "--confirm-env",
            "prod"
        ])
        .await,
        3,
        "the confirmation names this environment"
    );
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    assert_eq!(sb.secret_version("litellm-salt-key").await, before);
    assert_eq!(
        sb.cli(&[
            "seed",
            "local",
            "--rotate",
            "litellm-salt-key",
            "--confirm-env",
            "local"
        ])
        .await,
        0
    );
    assert_ne!(sb.secret_version("litellm-salt-key").await, before);
}

#[tokio::test]
async fn the_old_scripts_key_pair_is_adopted_with_our_tag_and_no_key_is_deleted() {
    let sb = Sandbox::new("e2e-key-adopt").await;
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    let iam = sb.iam().await;
    let sm = sb.secrets().await;
    let user = format!("{}-s3-access", sb.nid);
    let make = || async {
        let k = iam
            .create_access_key()
            .user_name(&user)
            .send()
            .await
            .unwrap()
            .access_key
            .unwrap();
        (k.access_key_id, k.secret_access_key)
    };
    // The old script stored one key in the secrets, untagged; another key serves someone else.
    let (id, secret) = make().await;
    let (other, _) = make().await;
    for (s, v) in [("s3-access-key-id", &id), ("s3-secret-access-key", &secret)] {
        sm.put_secret_value()
            .secret_id(format!("{}/{s}", sb.nid))
            .secret_string(v)
            .send()
            .await
            .unwrap();
    }
    // The old script ran long before: IAM's lists show its keys.
    sb.settle().await;
    let before = (
        sb.secret_version("s3-access-key-id").await,
        sb.secret_version("s3-secret-access-key").await,
    );
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    sb.settle().await;
    let after = (
        sb.secret_version("s3-access-key-id").await,
        sb.secret_version("s3-secret-access-key").await,
    );
    assert_eq!(after, before, "the pair is kept, not rewritten");
    let mut keys: Vec<String> = iam
        .list_access_keys()
        .user_name(&user)
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id().map(str::to_string))
        .collect();
    keys.sort();
    let mut expected = vec![id.clone(), other];
    expected.sort();
    assert_eq!(
        keys, expected,
        "no key of the user is deleted during adoption"
    );
    for s in ["s3-access-key-id", "s3-secret-access-key"] {
        let d = sm
            .describe_secret()
            .secret_id(format!("{}/{s}", sb.nid))
            .send()
            .await
            .unwrap();
        let tag = d
            .tags()
            .iter()
            .find(|t| t.key() == Some(secrets_seed::meta::TAG_ACCESS_KEY))
            .and_then(|t| t.value());
        assert_eq!(tag, Some(id.as_str()), "{s} records the key it holds");
    }
    // Adopted, it is ours: the next seed leaves the pair as it is, and the other key, recorded
    // at adoption as someone else's, stays too.
    assert_eq!(sb.cli(&["seed", "local"]).await, 0);
    sb.settle().await;
    assert_eq!(sb.secret_value("s3-access-key-id").await, Some(id));
    let mut after: Vec<String> = iam
        .list_access_keys()
        .user_name(&user)
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id().map(str::to_string))
        .collect();
    after.sort();
    assert_eq!(
        after, expected,
        "no later run deletes the key kept at adoption"
    );
}
