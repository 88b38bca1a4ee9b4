//! Least privilege, proven on the local environment with IAM enforced by the gateway: each command
//! runs as a role that holds exactly the policy `iam-policy` generates for it, and succeeds, every
//! one of its calls signed as that role (the gateway records each call's signer); the
//! deploy policy loses each of its statements in turn, and deploy is refused the action that
//! statement gave; another environment's deploy role cannot even plan this one.

use std::process::Output;

use dal_tests::{Sandbox, ACCOUNT};
use layer_core::access::{Command, Policy, MANAGED_POLICY_LIMIT};

/// The generated policy of `command` for the sandbox's environment.
fn policy(sb: &Sandbox, command: Command) -> Policy {
    layer::iam_policy(&sb.env(), &[command], ACCOUNT).expect("the policy is generated")
}

/// Run the installed binary as `role` (through `assume_role_arn`, as an operator configures it).
async fn run_as(sb: &Sandbox, role: &str, args: &[&str]) -> Output {
    sb.assume(role);
    sb.binary(env!("CARGO_BIN_EXE_data-and-ai"), args)
        .output()
        .await
        .expect("the binary runs")
}

fn said(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A step: the role, an edit of `local.toml` made first (if any), the command.
type Step<'a> = (Command, Option<(&'a str, &'a str)>, Vec<&'a str>);

/// The run lock taken (as the sandbox's administrator) and left behind, as by a run that died.
async fn leave_a_lock(sb: &Sandbox) {
    let sdk = sb.sdk().await;
    let env = sb.env();
    let lease = layer::lock::take(
        &sdk,
        &env,
        "arn:aws:iam::123456789012:user/gone",
        "deploy local",
        None,
        |_| {},
    )
    .await
    .expect("the lock is free");
    drop(lease);
}

#[tokio::test]
async fn every_command_succeeds_holding_exactly_its_generated_policy() {
    let sb = Sandbox::with_data_plane("e2e-lp").await;
    // The outputs are published where the next layers read them (a bucket the platform owns).
    sb.older_bucket("e2e-lp-tfstate").await;
    sb.edit_env("local", |t| {
        format!("{t}\n[outputs]\nterraform_state = {{ bucket = \"e2e-lp-tfstate\", key = \"data-and-ai.tfstate\" }}\n")
    });
    let mut roles = std::collections::BTreeMap::new();
    for c in Command::ALL {
        let p = policy(&sb, c);
        if c == Command::Plan {
            assert!(
                p.statements.iter().all(|s| s
                    .actions
                    .iter()
                    .all(|a| layer_core::access::is_read_only(a))),
                "plan needs read-only actions only: {p:#?}"
            );
        }
        roles.insert(c, sb.least_privileged(c).await);
    }
    sb.aws.authz().set(true);
    let saved = sb.environments().join("lp.plan");
    let saved = saved.to_str().unwrap();
    let mut steps: Vec<Step> = vec![
        (Command::Plan, None, vec!["plan", "local"]),
        (
            Command::Deploy,
            None,
            vec!["deploy", "local", "--auto-approve", "--bootstrap-db"],
        ),
        (Command::Seed, None, vec!["seed", "local", "--force"]),
        // The S3 key's rotation: a new key made, stored, the old one deleted.
        (
            Command::Seed,
            None,
            vec!["seed", "local", "--rotate", "s3-secret-access-key"],
        ),
        (Command::Plan, None, vec!["outputs", "local"]),
        // A changed document (the version readers are told of), written by the publish role.
        (
            Command::Publish,
            Some((
                "key = \"data-and-ai.tfstate\" }",
                "key = \"data-and-ai.tfstate\", terraform_version = \"1.5.7\" }",
            )),
            vec!["outputs", "local", "--publish"],
        ),
        (
            Command::Plan,
            None,
            vec!["plan", "local", "--detailed-exitcode"],
        ),
        // A saved plan, applied by the deploy role.
        (Command::Plan, None, vec!["plan", "local", "--out", saved]),
        (Command::Deploy, None, vec!["apply", saved]),
        (Command::BootstrapDb, None, vec!["bootstrap-db", "local"]),
        (Command::Verify, None, vec!["verify", "local"]),
    ];
    let deploy = vec!["deploy", "local", "--auto-approve"];
    // Replicas added and removed: an Aurora reader instance, a Redis replica.
    for (from, to) in [
        ("instance_count = 1", "instance_count = 2"),
        ("num_cache_nodes = 1", "num_cache_nodes = 2"),
        ("instance_count = 2", "instance_count = 1"),
        ("num_cache_nodes = 2", "num_cache_nodes = 1"),
    ] {
        steps.push((Command::Deploy, Some((from, to)), deploy.clone()));
    }
    // A replacement: the Redis port cannot change in place.
    let replace = vec!["deploy", "local", "--auto-approve", "--allow-replace"];
    steps.push((
        Command::Deploy,
        Some(("[redis]\n", "[redis]\nport = 6379\n")),
        replace,
    ));
    steps.push((Command::Plan, None, vec!["lock", "show", "local"]));
    // A lock left by a run that is gone (taken below, before this step), broken.
    let break_at = steps.len();
    steps.push((
        Command::Deploy,
        None,
        vec!["lock", "break", "local", "--auto-approve"],
    ));
    steps.push((
        Command::Destroy,
        None,
        vec!["destroy", "local", "--auto-approve", "--purge-buckets"],
    ));
    for (i, (c, edit, args)) in steps.iter().enumerate() {
        if let Some((from, to)) = edit {
            sb.edit_env("local", |t| {
                assert!(t.contains(from), "{from}");
                t.replacen(from, to, 1)
            });
        }
        if i == break_at {
            leave_a_lock(&sb).await;
        }
        sb.aws.calls().reset();
        let out = run_as(&sb, &roles[c], args).await;
        if i == break_at {
            assert!(
                said(&out).contains("lock of `local` broken"),
                "{}",
                said(&out)
            );
        }
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?} as the {} role: {}\nrefused: {:#?}",
            c.name(),
            said(&out),
            sb.aws.authz().denials()
        );
        // Every call was signed as that role: none unsigned, none by another identity (but the
        // credentials' own STS calls that assume it).
        let role_name = roles[c].rsplit('/').next().unwrap();
        let session = format!(":assumed-role/{role_name}/");
        let calls = sb.aws.calls().snapshot();
        assert!(!calls.is_empty());
        let others: Vec<String> = calls
            .iter()
            .filter(|call| {
                let signer = call.principal.as_deref().unwrap_or("unrecorded");
                !signer.contains(&session) && call.service != "sts"
            })
            .map(|call| {
                format!(
                    "{}:{} by {:?}",
                    call.service, call.operation, call.principal
                )
            })
            .collect();
        assert_eq!(
            others,
            Vec::<String>::new(),
            "{args:?}: calls not made as {role_name}"
        );
    }
    assert_eq!(sb.aws.authz().denials(), vec![]);
    // Enforcement was on all along: a role with nothing is refused at its first call.
    let nothing = sb.role_with("lp-nothing", &[]).await;
    let out = run_as(&sb, &nothing, &["plan", "local"]).await;
    assert_ne!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        said(&out).contains("is not authorized to perform")
            && said(&out).contains("iam-policy local --for plan"),
        "the refusal is named, with the command that prints the policy: {}",
        said(&out)
    );
    assert!(
        sb.inventory().await.duplicates().is_empty(),
        "nothing made twice"
    );
}

/// A fact written by the layer before ours, right but untagged: deploy reads it once to keep it.
async fn theirs_fact(sb: &Sandbox) {
    let sm = aws_sdk_secretsmanager::Client::new(&sb.sdk().await);
    sm.create_secret()
        .name(format!("{}/s3-region", sb.nid))
        .secret_string(sb.env().region.clone())
        .send()
        .await
        .expect("the old layer's fact is made");
}

// The deploy policy's statements in two halves that run side by side.
#[tokio::test]
async fn each_statement_of_the_deploy_policy_is_needed_first_half() {
    statements_needed(0).await;
}

#[tokio::test]
async fn each_statement_of_the_deploy_policy_is_needed_second_half() {
    statements_needed(1).await;
}

/// Each statement of half `half` of the deploy policy removed in turn: deploy fails naming an
/// action that statement gave.
async fn statements_needed(half: usize) {
    let probe = Sandbox::new("e2e-lpx").await;
    let full = policy(&probe, Command::Deploy);
    drop(probe);
    let mut superfluous = Vec::new();
    // A few at a time, each on a local AWS of its own.
    let sids: Vec<String> = full.statements.iter().map(|s| s.sid.clone()).collect();
    let (first, second) = sids.split_at(sids.len().div_ceil(2));
    let mine = if half == 0 { first } else { second };
    assert!(!mine.is_empty(), "half {half} holds statements");
    for batch in mine.chunks(3) {
        let mut runs = tokio::task::JoinSet::new();
        for sid in batch {
            let sid = sid.clone();
            let full = full.clone();
            runs.spawn(async move {
                let sb = Sandbox::new("e2e-lpx").await;
                let without = Policy {
                    statements: full
                        .statements
                        .iter()
                        .filter(|s| s.sid != sid)
                        .cloned()
                        .collect(),
                };
                let arn = sb
                    .role_with("lp-deploy", &without.split(MANAGED_POLICY_LIMIT))
                    .await;
                // What only adoption needs is proven on an adoption.
                let mut args = vec!["deploy", "local", "--auto-approve"];
                if sid.starts_with("AdoptedFacts") {
                    theirs_fact(&sb).await;
                    args.push("--adopt");
                }
                sb.aws.authz().set(true);
                let out = run_as(&sb, &arn, &args).await;
                let gave = &full
                    .statements
                    .iter()
                    .find(|s| s.sid == sid)
                    .expect("the statement")
                    .actions;
                let denied = sb.aws.authz().denials();
                let named = denied
                    .iter()
                    .any(|d| gave.iter().any(|a| *a == d.action) && said(&out).contains(&d.action));
                (sid, out.status.code(), named, denied)
            });
        }
        while let Some(r) = runs.join_next().await {
            let (sid, code, named, denied) = r.expect("the run finishes");
            if code == Some(0) || !named {
                superfluous.push(format!("{sid}: exit {code:?}, refused {denied:?}"));
            }
        }
    }
    assert!(
        superfluous.is_empty(),
        "deploy did not fail naming an action of the removed statement: {superfluous:#?}"
    );
}

#[tokio::test]
async fn another_environments_deploy_role_cannot_plan_this_one() {
    let sb = Sandbox::new("e2e-lpo").await;
    let mut other = sb.env();
    other.naming_id = layer_core::naming::NamingId::parse("e2e-other").expect("a naming id");
    let p = layer::iam_policy(&other, &[Command::Deploy], ACCOUNT).expect("policy");
    let arn = sb
        .role_with("lp-other-deploy", &p.split(MANAGED_POLICY_LIMIT))
        .await;
    sb.aws.authz().set(true);
    let out = run_as(&sb, &arn, &["plan", "local"]).await;
    assert_ne!(out.status.code(), Some(0), "{}", said(&out));
    let denied = sb.aws.authz().denials();
    assert!(
        denied.iter().any(|d| d.resource.contains("e2e-lpo")),
        "refused on this environment's own resources: {denied:#?}"
    );
    assert!(
        said(&out).contains("is not authorized to perform"),
        "{}",
        said(&out)
    );
}

#[tokio::test]
async fn iam_policy_needs_no_aws_and_a_closed_pipe_ends_it_quietly() {
    let sb = Sandbox::new("e2e-lpp").await;
    sb.aws.calls().reset();
    let out = sb
        .binary(
            env!("CARGO_BIN_EXE_data-and-ai"),
            &["iam-policy", "local", "--for", "all", "--json"],
        )
        .output()
        .await
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert!(doc["Statement"].as_array().is_some_and(|s| s.len() > 20));
    assert!(sb.aws.calls().snapshot().is_empty(), "no call to AWS");
    // `iam-policy … | head`: the reader goes away before the first line is written.
    let mut child = sb
        .binary(env!("CARGO_BIN_EXE_data-and-ai"), &["iam-policy", "local"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    drop(child.stdout.take());
    let out = child.wait_with_output().await.expect("exits");
    assert_eq!(out.status.code(), Some(141), "{}", said(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        said(&out)
    );
}
