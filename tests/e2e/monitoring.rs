//! The monitoring family end to end: the Prometheus workspace with logging (waited for until
//! AWS has set it up), found by its tags, made once even when the answer to its create is lost,
//! and torn down.

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
    for disabled in [
        "grafana_workspace_id",
        "grafana_workspace_endpoint",
        "grafana_iam_role_arn",
    ] {
        assert!(
            out[disabled].is_null(),
            "{disabled} of a disabled Grafana is null"
        );
    }
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
    sb.settle().await;
    let left = amp
        .list_workspaces()
        .alias("e2e-prom-prometheus")
        .send()
        .await
        .unwrap();
    assert_eq!(left.workspaces().len(), 1, "theirs stays");
    assert!(left.workspaces()[0].tags().is_none_or(|t| t.is_empty()));
}

#[tokio::test]
async fn grafana_where_aws_offers_it_with_its_role_security_group_and_vpc_access() {
    let sb = Sandbox::new("e2e-graf").await;
    // Not offered in eu-central-2: a configuration error, before any call.
    sb.edit_env("local", |t| {
        t.replace(
            "enable_managed_grafana = false",
            "enable_managed_grafana = true",
        )
    });
    let err = layer::load(sb.environments(), "local")
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("monitoring.enable_managed_grafana") && err.contains("eu-central-2"),
        "{err}"
    );
    // In eu-central-1, with a stand-in infrastructure layer of its own.
    let sdk = local_aws::standin::sdk_config(&sb.aws.endpoint(), "eu-central-1").await;
    local_aws::standin::ensure(&sdk).await.unwrap();
    // The infrastructure layer was there before: AWS's lists show it.
    sb.settle().await;
    sb.edit_env("local", |t| format!("region = \"eu-central-1\"\n{t}"));
    sb.aws.slow().set(local_aws::SlowSettings {
        role_propagation_ms: 5000,
        ..Default::default()
    });
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    let creates = sb
        .aws
        .calls()
        .snapshot()
        .into_iter()
        .filter(|c| c.service == "grafana" && c.operation == "CreateWorkspace")
        .count();
    assert!(
        creates >= 2,
        "retried while the role propagated ({creates})"
    );

    let session = sb.session().await;
    let infra = session.infra.clone();
    // The stand-in VPC has no aps-workspaces endpoint: Grafana could not reach Prometheus, and
    // the operator is told so, with the fix.
    assert!(
        matches!(session.notices.as_slice(), [n] if n.contains("com.amazonaws.eu-central-1.aps-workspaces") && n.contains(&infra.vpc_id)),
        "{:?}",
        session.notices
    );
    let ec2 = ec2_query::Client::new(&sdk);
    let aps = ec2_query::NewVpcEndpoint {
        kind: "Interface",
        vpc_id: &infra.vpc_id,
        service_name: "com.amazonaws.eu-central-1.aps-workspaces",
        subnet_ids: infra.isolated_subnet_ids.clone(),
        private_dns_enabled: Some(true),
        ..Default::default()
    };
    ec2.create_vpc_endpoint(&aps).await.unwrap();
    assert_eq!(sb.session().await.notices, Vec::<String>::new());
    let out = session.outputs().await.unwrap();
    let id = out["grafana_workspace_id"].as_str().unwrap().to_string();
    assert!(out["grafana_workspace_endpoint"]
        .as_str()
        .unwrap()
        .contains(".grafana-workspace.eu-central-1."));
    assert!(out["grafana_iam_role_arn"]
        .as_str()
        .unwrap()
        .ends_with(":role/e2e-graf-grafana"));
    let grafana = aws_sdk_grafana::Client::new(&sdk);
    let w = grafana
        .describe_workspace()
        .workspace_id(&id)
        .send()
        .await
        .unwrap();
    let w = w.workspace().unwrap();
    assert_eq!(w.account_access_type().unwrap().as_str(), "CURRENT_ACCOUNT");
    assert_eq!(w.permission_type().unwrap().as_str(), "CUSTOMER_MANAGED");
    assert_eq!(w.authentication().unwrap().providers()[0].as_str(), "SAML");
    let sources: std::collections::BTreeSet<&str> =
        w.data_sources().iter().map(|d| d.as_str()).collect();
    assert_eq!(sources, ["CLOUDWATCH", "PROMETHEUS"].into());
    let vpc = w.vpc_configuration().unwrap();
    let subnets: std::collections::BTreeSet<&String> = vpc.subnet_ids().iter().collect();
    assert_eq!(subnets, infra.private_subnet_ids.iter().collect());
    let sg = ec2
        .describe_security_groups(&[], &[&vpc.security_group_ids()[0]])
        .await
        .unwrap();
    let sg = &sg[0];
    assert_eq!(sg.name, "e2e-graf-grafana");
    assert!(sg.ingress.is_empty(), "no inbound rule");
    let egress = &sg.egress;
    assert_eq!(egress.len(), 1);
    assert_eq!(egress[0].from_port, Some(443));
    assert_eq!(egress[0].cidrs, std::slice::from_ref(&infra.vpc_cidr));
    let iam = aws_sdk_iam::Client::new(&sdk);
    let policies = iam
        .list_role_policies()
        .role_name("e2e-graf-grafana")
        .send()
        .await
        .unwrap();
    let mut names = policies.policy_names().to_vec();
    names.sort();
    assert_eq!(names, ["cloudwatch-read", "prometheus-read", "vpc-eni"]);
    let prom = iam
        .get_role_policy()
        .role_name("e2e-graf-grafana")
        .policy_name("prometheus-read")
        .send()
        .await
        .unwrap();
    let doc = layer_core::policy::PolicyDocument::parse(prom.policy_document()).unwrap();
    assert_eq!(
        doc.statements()[0].resource,
        [out["prometheus_workspace_arn"]
            .as_str()
            .unwrap()
            .to_string()]
        .into()
    );

    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    assert_eq!(sb.mutating_calls(), Vec::<String>::new());

    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
            .await,
        0
    );
    assert!(grafana
        .describe_workspace()
        .workspace_id(&id)
        .send()
        .await
        .is_err());
    assert!(iam
        .get_role()
        .role_name("e2e-graf-grafana")
        .send()
        .await
        .is_err());
    let sgs = ec2.describe_security_groups(&[], &[]).await.unwrap();
    assert!(
        !sgs.iter().any(|g| g.name == "e2e-graf-grafana"),
        "its security group is gone"
    );
    let amp = aws_sdk_amp::Client::new(&sdk);
    sb.settle().await;
    assert!(amp
        .list_workspaces()
        .alias("e2e-graf-prometheus")
        .send()
        .await
        .unwrap()
        .workspaces()
        .is_empty());
}

#[tokio::test]
async fn a_workspace_named_by_id_is_adopted_under_its_alias_not_made_again() {
    let sb = Sandbox::new("e2e-prom-id").await;
    let amp = aws_sdk_amp::Client::new(&sb.sdk().await);
    // Made by the Terraform layer: its own alias and tags, none of ours.
    let theirs = amp
        .create_workspace()
        .alias("tf-prometheus")
        .tags("Project", "platform")
        .send()
        .await
        .unwrap()
        .workspace_id;
    sb.edit_env("local", |t| {
        format!("{t}\n[monitoring.names]\nprometheus = \"tf-prometheus\"\nprometheus_workspace_id = \"{theirs}\"\n")
    });
    let plan = sb.plan(Mode::Deploy).await;
    let c = plan
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_prometheus_workspace.this")
        .expect("the workspace is in the plan");
    assert_eq!(c.action, layer_core::Action::Adopt, "{plan}");
    assert_eq!(
        sb.cli(&[
            "deploy",
            "local",
            "--auto-approve",
            "--adopt",
            "--skip-seed"
        ])
        .await,
        0
    );
    sb.settle().await;
    let all = amp.list_workspaces().send().await.unwrap();
    let ids: Vec<&str> = all.workspaces().iter().map(|w| w.workspace_id()).collect();
    assert_eq!(ids, [theirs.as_str()], "one workspace: theirs, now ours");
    let w = amp
        .describe_workspace()
        .workspace_id(&theirs)
        .send()
        .await
        .unwrap();
    let w = w.workspace().unwrap();
    assert_eq!(w.alias(), Some("tf-prometheus"));
    assert!(w
        .tags()
        .is_some_and(|t| t.get("Layer").is_some_and(|v| v == "data-and-ai")));
    let out = sb.session().await.outputs().await.unwrap();
    assert_eq!(out["prometheus_workspace_id"], theirs.as_str());
    assert!(!sb.plan(Mode::Deploy).await.has_changes());

    // An id that names no workspace is a configuration error, and nothing is made.
    sb.edit_env("local", |t| {
        t.replace(&theirs, "ws-00000000-0000-0000-0000-000000000000")
    });
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        1
    );
    let made: Vec<String> = sb
        .layer_mutations()
        .into_iter()
        .map(|c| c.operation)
        .collect();
    assert_eq!(made, Vec::<String>::new());

    // Destroyed, the named workspace is gone: plans still read, and nothing is left to do.
    sb.edit_env("local", |t| {
        t.replace("ws-00000000-0000-0000-0000-000000000000", &theirs)
    });
    assert_eq!(sb.cli(&["destroy", "local", "--auto-approve"]).await, 0);
    sb.settle().await;
    assert!(!sb.plan(Mode::Destroy).await.has_changes());
}

/// AWS sets a workspace's logging configuration up in the background (`CREATING`), refuses to
/// change it meanwhile, and says only there whether it failed: deploy waits until it is `ACTIVE`.
#[tokio::test]
async fn deploy_waits_for_the_logging_configuration_to_be_active() {
    use aws_sdk_amp::error::ProvideErrorMetadata as _;
    let sb = Sandbox::new("e2e-prom-log").await;
    // Only the logging configuration is slow.
    sb.aws.slow().set(local_aws::SlowSettings {
        creation_ms: 6_000,
        modification_ms: 6_000,
        aurora_creation_ms: Some(0),
        redis_creation_ms: Some(0),
        grafana_creation_ms: Some(0),
        ..Default::default()
    });
    let amp = aws_sdk_amp::Client::new(&sb.sdk().await);
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    let out = sb.session().await.outputs().await.unwrap();
    let id = out["prometheus_workspace_id"].as_str().unwrap().to_string();
    let logging = amp
        .describe_logging_configuration()
        .workspace_id(&id)
        .send()
        .await
        .unwrap();
    let status = logging.logging_configuration().unwrap().status().unwrap();
    assert_eq!(
        status.status_code().as_str(),
        "ACTIVE",
        "the deploy ended only once its logging was set up"
    );

    // The local AWS as AWS: a change of a logging configuration still being set up is refused.
    let arn = logging
        .logging_configuration()
        .unwrap()
        .log_group_arn()
        .to_string();
    amp.update_logging_configuration()
        .workspace_id(&id)
        .log_group_arn(&arn)
        .send()
        .await
        .expect("an active configuration changes");
    let e = amp
        .update_logging_configuration()
        .workspace_id(&id)
        .log_group_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ConflictException"));
}
