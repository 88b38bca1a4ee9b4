//! The Aurora family end to end, sbx-like and prod-like, through slow creation and modification.

use std::collections::BTreeSet;

use dal_tests::{fields, set, Sandbox};
use layer_core::engine::Mode;
use layer_core::Action;
use local_aws::SlowSettings;

#[tokio::test]
async fn sbx_like_aurora_waits_through_slow_creation_and_tears_down_with_a_final_snapshot() {
    let sb = Sandbox::with("e2e-aurora", |t| {
        t.replace("skip_final_snapshot = true", "skip_final_snapshot = false")
    })
    .await;
    sb.aws.slow().set(SlowSettings {
        creation_ms: 1500,
        modification_ms: 500,
        ..Default::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    // The deploy waited: the instance can only be created once the cluster is available, and
    // each takes 1.5 s to create, so a deploy that did not wait would end well before 3 s.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(3000),
        "waited through the cluster's and then the instance's creation: {elapsed:?}"
    );
    let describes = sb
        .aws
        .calls()
        .snapshot()
        .iter()
        .filter(|c| c.operation == "DescribeDBClusters")
        .count();
    assert!(
        describes > 3,
        "waited through creation ({describes} describes)"
    );

    let session = sb.session().await;
    let out = session.outputs().await.expect("outputs");
    assert_eq!(out["aurora_cluster_id"], "e2e-aurora-aurora");
    assert!(out["aurora_cluster_arn"]
        .as_str()
        .unwrap()
        .ends_with(":cluster:e2e-aurora-aurora"));
    assert!(out["aurora_cluster_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("e2e-aurora-aurora.cluster-"));
    assert!(out["aurora_cluster_reader_endpoint"]
        .as_str()
        .unwrap()
        .starts_with("e2e-aurora-aurora.cluster-ro-"));
    assert_eq!(out["aurora_cluster_database_name"], "postgres");
    assert!(out["aurora_master_user_secret_arn"]
        .as_str()
        .unwrap()
        .contains(":secret:rds!cluster-"));
    assert!(out["aurora_endpoint_id"]
        .as_str()
        .unwrap()
        .starts_with("vpce-"));

    let sdk = sb.sdk().await;
    let rds = aws_sdk_rds::Client::new(&sdk);
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-aurora-aurora")
        .send()
        .await
        .unwrap();
    let c = &c.db_clusters()[0];
    let infra = &session.infra;
    assert_eq!(c.engine(), Some("aurora-postgresql"));
    assert_eq!(c.engine_version(), Some("14.19"));
    assert_eq!(c.master_username(), Some("dbadmin"));
    assert_eq!(c.storage_encrypted(), Some(true));
    assert_eq!(c.kms_key_id(), Some(infra.general_kms_key_arn.as_str()));
    assert_eq!(
        c.master_user_secret().and_then(|s| s.kms_key_id()),
        Some(infra.secrets_kms_key_arn.as_str())
    );
    assert_eq!(
        c.enabled_cloudwatch_logs_exports(),
        ["postgresql".to_string()]
    );
    assert_eq!(
        c.db_cluster_parameter_group(),
        Some("e2e-aurora-aurora-pg14")
    );
    let params = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name("e2e-aurora-aurora-pg14")
        .source("user")
        .send()
        .await
        .unwrap();
    assert!(params
        .parameters()
        .iter()
        .any(|p| p.parameter_name() == Some("rds.force_ssl") && p.parameter_value() == Some("1")));
    let instances = rds
        .describe_db_instances()
        .db_instance_identifier("e2e-aurora-aurora-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        instances.db_instances()[0].db_instance_class(),
        Some("db.t4g.medium")
    );
    let subnets = rds
        .describe_db_subnet_groups()
        .db_subnet_group_name("e2e-aurora-aurora")
        .send()
        .await
        .unwrap();
    let ids: BTreeSet<String> = subnets.db_subnet_groups()[0]
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(String::from))
        .collect();
    assert_eq!(ids, infra.isolated_subnet_ids.iter().cloned().collect());
    let ec2 = ec2_query::Client::new(&sdk);
    let sg = ec2
        .describe_security_groups(
            &[ec2_query::Filter::new("group-name", "e2e-aurora-aurora")],
            &[],
        )
        .await
        .unwrap();
    let sg = &sg[0];
    let cidrs = |perms: &[ec2_query::Permission]| -> Vec<(Option<i32>, String)> {
        perms
            .iter()
            .flat_map(|p| p.cidrs.iter().map(|c| (p.from_port, c.clone())))
            .collect()
    };
    assert_eq!(
        cidrs(&sg.ingress),
        vec![(Some(5432), infra.vpc_cidr.clone())]
    );
    assert_eq!(
        cidrs(&sg.egress)
            .iter()
            .map(|(_, c)| c.clone())
            .collect::<Vec<_>>(),
        vec![infra.vpc_cidr.clone()],
        "egress only to the VPC"
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/rds/cluster/e2e-aurora-aurora/postgresql")
        .send()
        .await
        .unwrap();
    let g = &groups.log_groups()[0];
    assert_eq!(g.kms_key_id(), Some(infra.logs_kms_key_arn.as_str()));
    assert_eq!(g.retention_in_days(), Some(30));

    assert!(
        !sb.plan(Mode::Deploy).await.has_changes(),
        "second plan is empty"
    );
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert_eq!(
        sb.layer_mutations(),
        vec![],
        "a second deploy makes no mutating call"
    );

    // Teardown: instances before the cluster, the final snapshot kept, the security group last.
    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
            .await,
        0
    );
    let order: Vec<String> = sb
        .layer_mutations()
        .into_iter()
        .map(|c| c.operation)
        .collect();
    let pos = |op: &str| {
        order
            .iter()
            .position(|o| o == op)
            .unwrap_or_else(|| panic!("{op} not called: {order:?}"))
    };
    assert!(pos("DeleteDBInstance") < pos("DeleteDBCluster"));
    assert!(pos("DeleteDBCluster") < pos("DeleteSecurityGroup"));
    assert!(pos("DeleteDBCluster") < pos("DeleteDBSubnetGroup"));
    let snaps = rds.describe_db_cluster_snapshots().send().await.unwrap();
    let finals: Vec<&str> = snaps
        .db_cluster_snapshots()
        .iter()
        .filter_map(|s| s.db_cluster_snapshot_identifier())
        .filter(|id| id.starts_with("e2e-aurora-aurora-final-"))
        .collect();
    assert_eq!(finals.len(), 1, "final snapshot: {finals:?}");
    assert!(
        rds.describe_db_clusters()
            .db_cluster_identifier("e2e-aurora-aurora")
            .send()
            .await
            .is_err(),
        "cluster gone"
    );
}

#[tokio::test]
async fn prod_like_aurora_rolls_an_instance_class_change_one_instance_at_a_time() {
    let sb = Sandbox::with("e2e-roll", |t| {
        t.replace(
            "instance_class = \"db.t4g.medium\"\ninstance_count = 1\ndeletion_protection = false",
            "instance_class = \"db.r6g.large\"\ninstance_count = 2\ndeletion_protection = true",
        )
    })
    .await;
    sb.aws.slow().set(SlowSettings {
        creation_ms: 300,
        modification_ms: 700,
        ..Default::default()
    });
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-roll-aurora")
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].db_cluster_members().len(), 2);
    assert_eq!(c.db_clusters()[0].deletion_protection(), Some(true));

    sb.edit_env("local", |t| t.replace("db.r6g.large", "db.r6g.xlarge"));
    let p = sb.plan(Mode::Deploy).await;
    assert_eq!(
        fields(&p, "aws_rds_cluster_instance.aurora"),
        set(&["instance_class"]),
        "plan:\n{p}"
    );
    assert!(p.to_string().contains("readers first"), "{p}");
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let log: Vec<(String, Option<String>)> = sb
        .layer_mutations()
        .into_iter()
        .filter(|c| c.service == "rds")
        .map(|c| (c.operation, c.resource))
        .collect();
    let expected = vec![
        (
            "ModifyDBInstance".to_string(),
            Some("e2e-roll-aurora-2".to_string()),
        ),
        (
            "FailoverDBCluster".to_string(),
            Some("e2e-roll-aurora".to_string()),
        ),
        (
            "ModifyDBInstance".to_string(),
            Some("e2e-roll-aurora-1".to_string()),
        ),
    ];
    assert_eq!(
        log, expected,
        "the reader first, then a failover, then the old writer"
    );
    // The writer was modified only after the reader had finished modifying.
    let calls = sb.aws.calls().snapshot();
    let first = calls
        .iter()
        .position(|c| c.operation == "ModifyDBInstance")
        .unwrap();
    let second = calls
        .iter()
        .rposition(|c| c.operation == "ModifyDBInstance")
        .unwrap();
    let polls = calls[first..second]
        .iter()
        .filter(|c| c.operation == "DescribeDBInstances")
        .count();
    assert!(
        polls >= 2,
        "waited for the reader before going on ({polls} polls)"
    );
    assert!(!sb.plan(Mode::Deploy).await.has_changes());

    // Deletion protection is never switched off silently, and destroy is refused before any
    // mutating call (the instances, deleted before the cluster, are left alone too).
    let p = sb.plan(Mode::Destroy).await;
    let c = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_rds_cluster.aurora")
        .unwrap();
    assert_eq!(c.requires, Some(layer_core::Flag::DeletionProtection));
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&[
            "destroy",
            "local",
            "--auto-approve",
            "--purge-buckets",
            "--allow-replace",
            "--adopt"
        ])
        .await,
        3,
        "no flag allows it"
    );
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-roll-aurora")
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.db_clusters()[0].db_cluster_members().len(),
        2,
        "instances kept"
    );
    // Switched off in the environment and deployed, destroy goes through.
    sb.edit_env("local", |t| {
        t.replace("deletion_protection = true", "deletion_protection = false")
    });
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
            .await,
        0
    );
}

#[tokio::test]
async fn aurora_drift_is_named_and_repaired_and_a_replacement_is_refused() {
    let sb = Sandbox::new("e2e-adrift").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let sdk = sb.sdk().await;
    let rds = aws_sdk_rds::Client::new(&sdk);
    rds.modify_db_cluster()
        .db_cluster_identifier("e2e-adrift-aurora")
        .backup_retention_period(3)
        .deletion_protection(true)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let arn = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-adrift-aurora")
        .send()
        .await
        .unwrap()
        .db_clusters()[0]
        .db_cluster_arn()
        .unwrap()
        .to_string();
    rds.add_tags_to_resource()
        .resource_name(arn)
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("Rogue")
                .value("yes")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let session = sb.session().await;
    let ec2 = ec2_query::Client::new(&sdk);
    let sg = ec2
        .describe_security_groups(
            &[ec2_query::Filter::new("group-name", "e2e-adrift-aurora")],
            &[],
        )
        .await
        .unwrap();
    let sg_id = sg[0].id.clone();
    let open = ec2_query::Permission {
        protocol: "tcp".into(),
        from_port: Some(5432),
        to_port: Some(5432),
        cidrs: vec!["0.0.0.0/0".into()],
    };
    ec2.change_rules(ec2_query::RuleChange::AuthorizeIngress, &sg_id, &[open])
        .await
        .unwrap();
    drop(session);

    let p = sb.plan(Mode::Deploy).await;
    assert_eq!(
        fields(&p, "aws_rds_cluster.aurora"),
        set(&["backup_retention_days", "deletion_protection", "tags"]),
        "plan:\n{p}"
    );
    assert_eq!(
        fields(&p, "aws_security_group.aurora"),
        set(&["ingress"]),
        "plan:\n{p}"
    );
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    assert!(!sb.plan(Mode::Deploy).await.has_changes());

    // An immutable field: a replacement, refused without --allow-replace, before any write.
    sb.edit_env("local", |t| {
        t.replace("database_name = \"postgres\"", "database_name = \"other\"")
            .replace("[aurora]\n", "[aurora]\ndatabase_name = \"other\"\n")
    });
    let p = sb.plan(Mode::Deploy).await;
    let c = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_rds_cluster.aurora")
        .unwrap();
    assert_eq!(
        c.action,
        Action::Replace {
            reasons: vec!["database_name".into()]
        }
    );
    assert_eq!(c.requires, Some(layer_core::Flag::AllowReplace));
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 3);
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
}

#[tokio::test]
async fn impossible_aurora_settings_fail_before_any_call() {
    let sb = Sandbox::new("e2e-abad").await;
    for (from, to) in [
        ("instance_count = 1", "instance_count = 0"),
        (
            "instance_class = \"db.t4g.medium\"",
            "instance_class = \"db.q9.huge\"",
        ),
    ] {
        sb.edit_env("local", |t| t.replacen(from, to, 1));
        assert_eq!(sb.cli(&["plan", "local"]).await, 1, "{to}");
        sb.edit_env("local", |t| t.replacen(to, from, 1));
    }
    assert_eq!(sb.aws.calls().summary().total, 0);
}

#[tokio::test]
async fn engine_versions_are_floors_and_a_major_upgrade_needs_its_flag_and_scaling_down_removes_readers_only(
) {
    let sb = Sandbox::with("e2e-aver", |t| {
        t.replace("instance_count = 1", "instance_count = 2")
    })
    .await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);

    // AWS's own minor upgrade is no diff.
    rds.modify_db_cluster()
        .db_cluster_identifier("e2e-aver-aurora")
        .engine_version("14.20")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let p = sb.plan(Mode::Deploy).await;
    assert!(!p.has_changes(), "a newer minor is no diff:\n{p}");

    // A major version is an in-place upgrade behind --allow-major-upgrade, never a replacement.
    sb.edit_env("local", |t| {
        t.replace("[aurora]\n", "[aurora]\nengine_version = \"15.4\"\n")
    });
    let p = sb.plan(Mode::Deploy).await;
    let c = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_rds_cluster.aurora")
        .unwrap();
    assert_eq!(c.action, Action::Update, "{p}");
    assert_eq!(c.requires, Some(layer_core::Flag::MajorUpgrade));
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 3);
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--allow-major-upgrade"])
            .await,
        0
    );
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-aver-aurora")
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].engine_version(), Some("15.4"));

    // Scaling down removes a reader, never the writer.
    let writer = |c: &aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput| {
        c.db_clusters()[0]
            .db_cluster_members()
            .iter()
            .find(|m| m.is_cluster_writer() == Some(true))
            .and_then(|m| m.db_instance_identifier())
            .map(String::from)
    };
    let before = writer(&c).expect("a writer");
    sb.edit_env("local", |t| {
        t.replace("instance_count = 2", "instance_count = 1")
    });
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let deleted: Vec<Option<String>> = sb
        .layer_mutations()
        .into_iter()
        .filter(|c| c.operation == "DeleteDBInstance")
        .map(|c| c.resource)
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_ne!(
        deleted[0].as_deref(),
        Some(before.as_str()),
        "the writer stays"
    );
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-aver-aurora")
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].db_cluster_members().len(), 1);
    assert_eq!(writer(&c), Some(before));
}

#[tokio::test]
async fn an_instance_without_our_tags_is_never_scaled_down_or_destroyed() {
    let sb = Sandbox::with("e2e-foreign-inst", |t| {
        t.replace("instance_count = 1", "instance_count = 2")
    })
    .await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    // Someone adds a reader of their own to our cluster.
    rds.create_db_instance()
        .db_instance_identifier("e2e-foreign-inst-analytics")
        .db_cluster_identifier("e2e-foreign-inst-aurora")
        .engine("aurora-postgresql")
        .db_instance_class("db.t4g.medium")
        .send()
        .await
        .unwrap();
    assert!(
        fields(
            &sb.plan(Mode::Deploy).await,
            "aws_rds_cluster_instance.aurora"
        )
        .is_empty(),
        "the foreign instance is not counted as ours"
    );
    // Scaling down removes our reader, never theirs.
    sb.edit_env("local", |t| {
        t.replace("instance_count = 2", "instance_count = 1")
    });
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let ids = |c: aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput| {
        let mut v: Vec<String> = c.db_clusters()[0]
            .db_cluster_members()
            .iter()
            .filter_map(|m| m.db_instance_identifier().map(str::to_string))
            .collect();
        v.sort();
        v
    };
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-foreign-inst-aurora")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ids(c),
        vec![
            "e2e-foreign-inst-analytics".to_string(),
            "e2e-foreign-inst-aurora-1".to_string()
        ]
    );
    // Destroy deletes ours, leaves theirs, and says why the cluster stays.
    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
            .await,
        1
    );
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-foreign-inst-aurora")
        .send()
        .await
        .unwrap();
    assert_eq!(ids(c), vec!["e2e-foreign-inst-analytics".to_string()]);
}

#[tokio::test]
async fn a_cluster_whose_master_secret_key_differs_is_adopted_then_shown_as_a_replacement() {
    let sb = Sandbox::new("e2e-seckey").await;
    let session = sb.session().await;
    let infra = session.infra.clone();
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    // Terraform made it: no tags of ours, and its master secret under the general key.
    rds.create_db_subnet_group()
        .db_subnet_group_name("e2e-seckey-aurora")
        .db_subnet_group_description("terraform")
        .set_subnet_ids(Some(infra.isolated_subnet_ids.clone()))
        .send()
        .await
        .unwrap();
    rds.create_db_cluster()
        .db_cluster_identifier("e2e-seckey-aurora")
        .engine("aurora-postgresql")
        .engine_version("14.19")
        .master_username("dbadmin")
        .manage_master_user_password(true)
        .master_user_secret_kms_key_id(&infra.general_kms_key_arn)
        .storage_encrypted(true)
        .kms_key_id(&infra.general_kms_key_arn)
        .db_subnet_group_name("e2e-seckey-aurora")
        .database_name("postgres")
        .send()
        .await
        .unwrap();
    // Its key cannot change in place, as on AWS.
    let e = rds
        .modify_db_cluster()
        .db_cluster_identifier("e2e-seckey-aurora")
        .master_user_secret_kms_key_id(&infra.secrets_kms_key_arn)
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_rds::error::ProvideErrorMetadata::code(&e),
        Some("InvalidParameterCombination")
    );

    let p = sb.plan(Mode::Deploy).await;
    let c = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_rds_cluster.aurora")
        .unwrap();
    // Its settings depend on the security group, known after apply: adopt, with the flag.
    assert_eq!(c.action, layer_core::Action::Adopt);
    assert_eq!(c.requires, Some(layer_core::Flag::Adopt));
    // Adoption is not an endless failing apply: it tags the cluster and leaves the key.
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
    let p = sb.plan(Mode::Deploy).await;
    let c = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_rds_cluster.aurora")
        .unwrap();
    assert_eq!(
        c.action,
        layer_core::Action::Replace {
            reasons: vec!["master_user_secret_kms_key".into()]
        },
        "{p}"
    );
    assert_eq!(c.requires, Some(layer_core::Flag::AllowReplace));
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        3
    );
    assert_eq!(sb.all_mutations(), Vec::<String>::new());

    // The instance lives in the cluster: the plan replaces it with the cluster, and apply
    // deletes it first and creates it again after, the only order AWS accepts.
    let i = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_rds_cluster_instance.aurora")
        .unwrap();
    assert!(
        matches!(i.action, layer_core::Action::Replace { .. }),
        "{p}"
    );
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&[
            "deploy",
            "local",
            "--auto-approve",
            "--skip-seed",
            "--allow-replace"
        ])
        .await,
        0
    );
    let rds_calls: Vec<String> = sb
        .mutating_calls()
        .into_iter()
        .filter(|c| c.contains("DBCluster") || c.contains("DBInstance"))
        .collect();
    let at = |op: &str| {
        rds_calls
            .iter()
            .position(|c| c.strip_prefix("rds:") == Some(op))
            .unwrap_or_else(|| panic!("{op} not in {rds_calls:?}"))
    };
    assert!(
        at("DeleteDBInstance") < at("DeleteDBCluster")
            && at("DeleteDBCluster") < at("CreateDBCluster")
            && at("CreateDBCluster") < at("CreateDBInstance"),
        "{rds_calls:?}"
    );
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-seckey-aurora")
        .send()
        .await
        .unwrap();
    let c = &c.db_clusters()[0];
    assert_eq!(
        c.master_user_secret().and_then(|s| s.kms_key_id()),
        Some(infra.secrets_kms_key_arn.as_str())
    );
    assert_eq!(c.db_cluster_members().len(), 1);
    let p = sb.plan(Mode::Deploy).await;
    assert!(!p.has_changes(), "{p}");
}

#[tokio::test]
async fn a_deploy_that_finds_the_cluster_busy_waits_for_it_before_modifying() {
    let sb = Sandbox::new("e2e-busy").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    sb.aws.slow().set(SlowSettings {
        modification_ms: 3_000,
        ..Default::default()
    });
    // Out of band, the cluster starts modifying (maintenance, another tool).
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    rds.modify_db_cluster()
        .db_cluster_identifier("e2e-busy-aurora")
        .backup_retention_period(9)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    // AWS refuses a modification meanwhile; so does the gateway.
    let refused = rds
        .modify_db_instance()
        .db_instance_identifier("e2e-busy-aurora-1")
        .db_instance_class("db.t4g.large")
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    use aws_sdk_rds::error::ProvideErrorMetadata as _;
    assert_eq!(refused.code(), Some("InvalidDBClusterStateFault"));
    sb.edit_env("local", |t| t.replace("db.t4g.medium", "db.t4g.large"));
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let modifies: Vec<String> = sb
        .layer_mutations()
        .into_iter()
        .filter(|c| c.operation.starts_with("Modify"))
        .map(|c| c.operation)
        .collect();
    assert_eq!(
        modifies,
        ["ModifyDBCluster", "ModifyDBInstance"],
        "each sent once, when it could be carried out"
    );
    let i = rds
        .describe_db_instances()
        .db_instance_identifier("e2e-busy-aurora-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        i.db_instances()[0].db_instance_class(),
        Some("db.t4g.large")
    );
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
    // A manual snapshot leaves the cluster backing up; AWS refuses a modification meanwhile.
    rds.create_db_cluster_snapshot()
        .db_cluster_identifier("e2e-busy-aurora")
        .db_cluster_snapshot_identifier("e2e-busy-manual")
        .send()
        .await
        .unwrap();
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-busy-aurora")
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].status(), Some("backing-up"));
    sb.edit_env("local", |t| {
        t.replace("[aurora]\n", "[aurora]\nbackup_retention_days = 10\n")
    });
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let modifies: Vec<String> = sb
        .layer_mutations()
        .into_iter()
        .filter(|c| c.operation.starts_with("Modify"))
        .map(|c| c.operation)
        .collect();
    assert_eq!(
        modifies,
        ["ModifyDBCluster"],
        "sent once the backup was done"
    );
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-busy-aurora")
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].backup_retention_period(), Some(10));
}

#[tokio::test]
async fn a_cluster_still_deleting_is_planned_as_wait_then_create_and_deploy_waits_for_it() {
    let sb = Sandbox::new("e2e-leaving").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    sb.aws.slow().set(SlowSettings {
        modification_ms: 6_000,
        ..Default::default()
    });
    // Out of band, someone deletes the database (its instance first, as AWS requires).
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    rds.delete_db_instance()
        .db_instance_identifier("e2e-leaving-aurora-1")
        .send()
        .await
        .unwrap();
    rds.delete_db_cluster()
        .db_cluster_identifier("e2e-leaving-aurora")
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-leaving-aurora")
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].status(), Some("deleting"));
    // The plan says what apply will do: wait for the old cluster to go, then create.
    let plan = sb.plan(Mode::Deploy).await;
    let cluster = plan
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_rds_cluster.aurora")
        .expect("the cluster is in the plan");
    assert_eq!(cluster.action, Action::Create, "{plan}");
    let note = cluster.note.clone().unwrap_or_default();
    assert!(
        note.contains("still deleting") && note.contains("waits until it is gone"),
        "{note}"
    );
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let creates: Vec<String> = sb
        .layer_mutations()
        .into_iter()
        .filter(|c| c.operation.starts_with("CreateDB"))
        .map(|c| c.operation)
        .collect();
    assert_eq!(
        creates,
        ["CreateDBCluster", "CreateDBInstance"],
        "each sent once, after the old cluster was gone"
    );
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-leaving-aurora")
        .send()
        .await
        .unwrap();
    assert_eq!(c.db_clusters()[0].status(), Some("available"));
    assert!(!sb.plan(Mode::Deploy).await.has_changes());
}

#[tokio::test]
async fn a_same_named_cluster_made_without_our_tags_between_plan_and_apply_is_refused() {
    let sb = Sandbox::new("e2e-race").await;
    let s = sb.session().await;
    let cx = s.context(layer_core::SafetyFlags::default());
    let run = s.plan(&cx, Mode::Deploy).await.unwrap();
    // Meanwhile, someone else makes a cluster under our name, without our tags.
    let rds = aws_sdk_rds::Client::new(&sb.sdk().await);
    rds.create_db_cluster()
        .db_cluster_identifier("e2e-race-aurora")
        .engine("aurora-postgresql")
        .master_username("someone")
        .master_user_password("not-ours-1234")
        .send()
        .await
        .unwrap();
    sb.aws.calls().reset();
    let err = s.apply(&cx, run).await.expect_err("refused").to_string();
    assert!(
        err.contains("e2e-race-aurora") && err.contains("appeared without our tags since plan"),
        "{err}"
    );
    // Never taken over: not tagged, not modified, no instance put in it.
    let touched: Vec<String> = sb
        .layer_mutations()
        .into_iter()
        .filter(|c| {
            matches!(
                c.operation.as_str(),
                "AddTagsToResource" | "ModifyDBCluster" | "CreateDBInstance"
            )
        })
        .map(|c| c.operation)
        .collect();
    assert_eq!(touched, Vec::<String>::new());
    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("e2e-race-aurora")
        .send()
        .await
        .unwrap();
    assert!(c.db_clusters()[0]
        .tag_list()
        .iter()
        .all(|t| t.key() != Some("ManagedBy")));
}
