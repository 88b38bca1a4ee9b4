//! Two deployments under one environment name in one account, with their own naming ids (as
//! developer sandboxes in a shared account are): ownership names the deployment, so the second
//! never counts the first's account-wide Bedrock log group as its own, is refused at plan time
//! naming the owner and the fix, and its destroy leaves the first untouched.

use std::path::Path;

use dal_tests::Sandbox;

/// Run the command line on the environments in `dir`.
async fn cli(dir: &Path, args: &[&str]) -> i32 {
    let mut argv = vec![
        "data-and-ai".to_string(),
        "--environments".into(),
        dir.display().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    let inv = layer::cli::Invocation {
        root: dir.to_path_buf(),
        local: None,
        assume_role_arn: None,
    };
    layer::cli::run(argv, &inv).await
}

#[tokio::test]
async fn a_second_deployment_under_one_environment_name_is_refused_and_leaves_the_first_alone() {
    let a = Sandbox::new("e2e-own-a").await;
    assert_eq!(a.cli(&["deploy", "local", "--auto-approve"]).await, 0);

    // The second deployment: the same files, the same local AWS, another naming id.
    let b = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(a.environments()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, b.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let local = b.path().join("local.toml");
    let text = std::fs::read_to_string(&local).unwrap();
    std::fs::write(
        &local,
        text.replace("naming_id = \"e2e-own-a\"", "naming_id = \"e2e-own-b\""),
    )
    .unwrap();

    // Refused at plan time, naming the owner and the fix, before any write.
    let env = layer::load(b.path(), "local").unwrap();
    let session = layer::Session::connect(env).await.unwrap();
    let cx = session.context(layer_core::SafetyFlags::default());
    let err = session
        .plan(&cx, layer_core::engine::Mode::Deploy)
        .await
        .map(|_| ())
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("e2e-own-a")
            && err.contains("enable_logging = false")
            && err.contains("enable_endpoint = false"),
        "{err}"
    );
    a.aws.calls().reset();
    assert_eq!(
        cli(b.path(), &["deploy", "local", "--auto-approve"]).await,
        1
    );
    assert_eq!(a.all_mutations(), Vec::<String>::new());

    // With its own logging off, it deploys; its destroy leaves the first deployment whole.
    let text = std::fs::read_to_string(&local).unwrap();
    // Its own logging off, and the VPC's interface endpoints (one per service and VPC) left to
    // the first, as the refusals said.
    let text = text.replace(
        "skip_final_snapshot = true",
        "skip_final_snapshot = true\nenable_endpoint = false",
    );
    let text = text.replace(
        "multi_az_enabled = false",
        "multi_az_enabled = false\nenable_endpoint = false",
    );
    std::fs::write(
        &local,
        format!("{text}\n[bedrock]\nenable_logging = false\n"),
    )
    .unwrap();
    assert_eq!(
        cli(b.path(), &["deploy", "local", "--auto-approve"]).await,
        0
    );
    assert_eq!(
        cli(
            b.path(),
            &["destroy", "local", "--auto-approve", "--purge-buckets"]
        )
        .await,
        0
    );
    a.settle().await;
    assert_eq!(
        a.cli(&["plan", "local", "--detailed-exitcode"]).await,
        0,
        "the first deployment is as it was"
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&a.sdk().await);
    let group = logs
        .describe_log_groups()
        .log_group_identifiers("/bedrock/model-invocations")
        .send()
        .await
        .unwrap();
    assert_eq!(
        group.log_groups().len(),
        1,
        "the first's invocation log is kept"
    );
}
