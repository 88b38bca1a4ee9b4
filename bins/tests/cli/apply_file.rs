//! `apply FILE` carries out exactly the saved plan, as the installed binary: the changes it
//! reports are the file's, counted by action, and nothing is left to do after it.

use dal_tests::Sandbox;

#[tokio::test]
async fn apply_carries_out_exactly_the_saved_plan() {
    let sb = Sandbox::new("e2e-applyfile").await;
    let file = sb.environments().join("deploy.plan.json");
    let f = file.to_str().unwrap();
    assert_eq!(sb.cli(&["plan", "local", "--out", f]).await, 0);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let changes = saved["plan"]["changes"].as_array().unwrap();
    let count = |kind: &str| {
        changes
            .iter()
            .filter(|c| c["action"]["kind"] == kind)
            .count()
    };
    let summary = &saved["plan"]["summary"];
    assert_eq!(
        summary["add"],
        count("create"),
        "a fresh layer: creates only"
    );
    assert!(count("create") > 30);
    let out = sb
        .binary(env!("CARGO_BIN_EXE_data-and-ai"), &["apply", f])
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let expected = format!(
        "Apply complete! Resources: {} added, {} changed, {} destroyed.",
        summary["add"], summary["change"], summary["destroy"]
    );
    assert!(stdout.contains(&expected), "{expected} in:\n{stdout}");
    sb.settle().await;
    assert!(
        !sb.plan(layer_core::engine::Mode::Deploy)
            .await
            .has_changes(),
        "nothing the file held is left undone"
    );
}
