//! Saved plans: `plan --out FILE` then `apply FILE` carries out exactly that plan, and refuses,
//! changing nothing, when what it observes has moved since.

use dal_tests::Sandbox;

#[tokio::test]
async fn a_saved_plan_is_applied_exactly_and_refused_once_it_is_out_of_date() {
    let sb = Sandbox::new("e2e-saved").await;
    let file = sb.environments().join("deploy.plan.json");
    let f = file.to_str().unwrap();
    assert_eq!(sb.cli(&["plan", "local", "--out", f]).await, 0);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["environment"], "local");
    assert_eq!(saved["format"], "data-and-ai-plan/1");
    assert!(saved["plan"]["changes"].as_array().unwrap().len() > 30);
    assert_eq!(sb.aws.calls().summary().mutating, 0, "plan writes nothing");

    assert_eq!(sb.cli(&["apply", f]).await, 0);
    let s3 = sb.s3().await;
    let app = sb.bucket("application_data");
    s3.head_bucket().bucket(&app).send().await.unwrap();

    // Saved when nothing was to change; then someone tags the bucket by hand.
    assert_eq!(sb.cli(&["plan", "local", "--out", f]).await, 0);
    let mut tags: Vec<aws_sdk_s3::types::Tag> = s3
        .get_bucket_tagging()
        .bucket(&app)
        .send()
        .await
        .unwrap()
        .tag_set()
        .to_vec();
    tags.push(
        aws_sdk_s3::types::Tag::builder()
            .key("Team")
            .value("by-hand")
            .build()
            .unwrap(),
    );
    s3.put_bucket_tagging()
        .bucket(&app)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .set_tag_set(Some(tags))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    sb.aws.calls().reset();
    assert_eq!(sb.cli(&["apply", f]).await, 1, "out of date");
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    let still = s3.get_bucket_tagging().bucket(&app).send().await.unwrap();
    assert!(still.tag_set().iter().any(|t| t.key() == "Team"));

    // Not a plan at all.
    std::fs::write(&file, "{}").unwrap();
    assert_eq!(sb.cli(&["apply", f]).await, 1);
}
