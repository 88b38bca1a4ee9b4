//! The Bedrock family end to end: the spec's eight application inference profiles, invocation
//! logging through a role that must propagate first, a changed set, foreign logging left alone,
//! sources the region lacks refused before any write, and teardown.

use dal_tests::Sandbox;
use layer_core::engine::Mode;
use layer_core::{Action, Flag};
use local_aws::SlowSettings;

const SOURCES: &[(&str, &str)] = &[
    (
        "claude-sonnet-4-5",
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    (
        "claude-opus-4-5",
        "eu.anthropic.claude-opus-4-5-20251101-v1:0",
    ),
    ("claude-opus-4-6", "eu.anthropic.claude-opus-4-6-v1"),
    (
        "claude-haiku-4-5",
        "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
    ),
    (
        "claude-3-5-sonnet",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
    ),
    ("claude-3-haiku", "anthropic.claude-3-haiku-20240307-v1:0"),
    ("titan-embed-text-v2", "amazon.titan-embed-text-v2:0"),
    ("cohere-embed-v4", "global.cohere.embed-v4:0"),
];

async fn application_profiles(
    bedrock: &aws_sdk_bedrock::Client,
) -> Vec<(String, String, std::collections::BTreeMap<String, String>)> {
    let list = bedrock
        .list_inference_profiles()
        .type_equals(aws_sdk_bedrock::types::InferenceProfileType::Application)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for p in list.inference_profile_summaries() {
        let tags = bedrock
            .list_tags_for_resource()
            .resource_arn(p.inference_profile_arn())
            .send()
            .await
            .unwrap()
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        out.push((
            p.inference_profile_name().to_string(),
            p.inference_profile_arn().to_string(),
            tags,
        ));
    }
    out.sort();
    out
}

#[tokio::test]
async fn the_eight_profiles_and_invocation_logging_deploy_change_and_tear_down() {
    let sb = Sandbox::new("e2e-ai").await;
    // IAM takes a moment before Bedrock may use the new role: the put is retried meanwhile.
    sb.aws.slow().set(SlowSettings {
        role_propagation_ms: 5000,
        ..Default::default()
    });
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    let puts = sb
        .aws
        .calls()
        .snapshot()
        .into_iter()
        .filter(|c| c.operation == "PutModelInvocationLoggingConfiguration")
        .count();
    assert!(puts >= 2, "retried while the role propagated ({puts} puts)");

    let sdk = sb.sdk().await;
    let bedrock = aws_sdk_bedrock::Client::new(&sdk);
    let profiles = application_profiles(&bedrock).await;
    assert_eq!(profiles.len(), 8, "{profiles:?}");
    let out = sb.session().await.outputs().await.unwrap();
    for (key, source) in SOURCES {
        let (name, arn, tags) = profiles
            .iter()
            .find(|(n, _, _)| *n == format!("e2e-ai-{key}"))
            .unwrap_or_else(|| panic!("{key} missing"));
        assert_eq!(
            tags.get("Model").map(String::as_str),
            Some(*source),
            "{name}"
        );
        assert_eq!(tags.get("Environment").map(String::as_str), Some("local"));
        assert!(arn.contains(":application-inference-profile/"), "{arn}");
        assert_eq!(out["bedrock_inference_profile_arns"][key], *arn);
    }
    assert!(out["bedrock_available_models"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "amazon.titan-embed-text-v2:0"));

    let logging = bedrock
        .get_model_invocation_logging_configuration()
        .send()
        .await
        .unwrap();
    let logging = logging.logging_config().unwrap();
    let cw = logging.cloud_watch_config().unwrap();
    assert_eq!(cw.log_group_name(), "/bedrock/model-invocations");
    assert!(cw.role_arn().ends_with(":role/e2e-ai-bedrock-logging"));
    assert_eq!(logging.text_data_delivery_enabled(), Some(true));
    let iam = sb.iam().await;
    let role = iam
        .get_role()
        .role_name("e2e-ai-bedrock-logging")
        .send()
        .await
        .unwrap();
    let trust = layer_core::policy::PolicyDocument::parse(
        role.role().unwrap().assume_role_policy_document().unwrap(),
    )
    .unwrap();
    let trust = trust.statements()[0].clone();
    assert_eq!(
        trust.condition["StringEquals"]["aws:SourceAccount"],
        ["123456789012".to_string()].into()
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let group = logs
        .describe_log_groups()
        .log_group_name_prefix("/bedrock/model-invocations")
        .send()
        .await
        .unwrap();
    assert_eq!(
        group.log_groups()[0].kms_key_id(),
        Some(sb.session().await.infra.logs_kms_key_arn.as_str())
    );

    // A second deploy observes only.
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        0
    );
    assert_eq!(sb.mutating_calls(), Vec::<String>::new());

    // Add one, change one, remove one: exactly that plan; the change needs its flag.
    sb.edit_env("local", |t| {
        format!(
            "{t}\n[bedrock.inference_profiles]\nextra-haiku = {{ source = \"anthropic.claude-haiku-4-5-20251001-v1:0\", source_type = \"foundation-model\" }}\nclaude-sonnet-4-5 = {{ source = \"anthropic.claude-sonnet-4-5-20250929-v1:0\", source_type = \"foundation-model\" }}\ncohere-embed-v4 = {{ enabled = false }}\n"
        )
    });
    let p = sb.plan(Mode::Deploy).await;
    let c = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_bedrock_inference_profile.profiles")
        .unwrap();
    assert_eq!(c.action, Action::Update, "{p}");
    assert_eq!(c.requires, Some(Flag::AllowReplace), "{p}");
    let paths: std::collections::BTreeSet<&str> = c
        .fields
        .iter()
        .map(|f| f.path.as_str())
        .filter(|f| !f.ends_with(".tags.Model"))
        .collect();
    assert_eq!(
        paths,
        [
            "profiles.claude-sonnet-4-5.source",
            "profiles.cohere-embed-v4",
            "profiles.extra-haiku"
        ]
        .into(),
        "{p}"
    );
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        3
    );
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    let old_sonnet = out["bedrock_inference_profile_arns"]["claude-sonnet-4-5"].clone();
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
    let profiles = application_profiles(&bedrock).await;
    let names: Vec<&str> = profiles.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(profiles.len(), 8, "{names:?}");
    assert!(names.contains(&"e2e-ai-extra-haiku") && !names.contains(&"e2e-ai-cohere-embed-v4"));
    let out = sb.session().await.outputs().await.unwrap();
    assert_ne!(
        out["bedrock_inference_profile_arns"]["claude-sonnet-4-5"],
        old_sonnet
    );
    assert!(!sb.plan(Mode::Deploy).await.has_changes());

    // Destroy leaves none of ours behind.
    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
            .await,
        0
    );
    assert!(application_profiles(&bedrock).await.is_empty());
    assert!(sb
        .mutating_calls()
        .contains(&"bedrock:DeleteModelInvocationLoggingConfiguration".to_string()));
    assert!(bedrock
        .get_model_invocation_logging_configuration()
        .send()
        .await
        .unwrap()
        .logging_config()
        .and_then(|c| c.cloud_watch_config())
        .is_none());
    assert!(iam
        .get_role()
        .role_name("e2e-ai-bedrock-logging")
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn foreign_logging_is_a_conflict_and_a_missing_source_is_refused_before_any_write() {
    let sb = Sandbox::new("e2e-ai-guard").await;
    let sdk = sb.sdk().await;
    let bedrock = aws_sdk_bedrock::Client::new(&sdk);

    // A source this region does not offer: refused at plan time, naming it and the region.
    sb.edit_env("local", |t| {
        format!("{t}\n[bedrock.inference_profiles]\nnova = {{ source = \"amazon.nova-pro-v1:0\", source_type = \"foundation-model\" }}\n")
    });
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        1
    );
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    let session = sb.session().await;
    let cx = session.context(layer_core::SafetyFlags::default());
    let err = match session.plan(&cx, Mode::Deploy).await {
        Ok(_) => panic!("planned with a missing source"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("amazon.nova-pro-v1:0") && err.contains("eu-central-2"),
        "{err}"
    );
    sb.edit_env("local", |t| {
        t.replace("\n[bedrock.inference_profiles]\nnova = { source = \"amazon.nova-pro-v1:0\", source_type = \"foundation-model\" }\n", "")
    });

    // Another team's audit logging: a conflict, left alone without --adopt.
    let iam = sb.iam().await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let audit = iam
        .create_role()
        .role_name("audit-bedrock")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("audit-bedrock")
        .policy_name("logs")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    logs.create_log_group()
        .log_group_name("/audit/bedrock")
        .send()
        .await
        .unwrap();
    let audit_arn = audit.role().unwrap().arn().to_string();
    bedrock
        .put_model_invocation_logging_configuration()
        .logging_config(
            aws_sdk_bedrock::types::LoggingConfig::builder()
                .cloud_watch_config(
                    aws_sdk_bedrock::types::CloudWatchConfig::builder()
                        .log_group_name("/audit/bedrock")
                        .role_arn(&audit_arn)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let p = sb.plan(Mode::Deploy).await;
    let c = p
        .changes
        .iter()
        .find(|c| {
            c.address.to_string() == "aws_bedrock_model_invocation_logging_configuration.this"
        })
        .unwrap();
    assert_eq!(c.action, Action::Adopt, "{p}");
    assert_eq!(c.requires, Some(Flag::Adopt));
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        3
    );
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    // Destroy never removes it.
    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
            .await,
        0
    );
    let still = bedrock
        .get_model_invocation_logging_configuration()
        .send()
        .await
        .unwrap();
    assert_eq!(
        still
            .logging_config()
            .and_then(|c| c.cloud_watch_config())
            .map(|c| c.role_arn()),
        Some(audit_arn.as_str())
    );
}

#[tokio::test]
async fn a_profile_made_elsewhere_under_our_name_is_adopted_with_the_flag_never_replaced_by_it() {
    let sb = Sandbox::new("e2e-ai-adopt").await;
    let bedrock = aws_sdk_bedrock::Client::new(&sb.sdk().await);
    // Someone made `e2e-ai-adopt-claude-3-haiku` by hand, from another model, without tags.
    bedrock
        .create_inference_profile()
        .inference_profile_name("e2e-ai-adopt-claude-3-haiku")
        .model_source(
            aws_sdk_bedrock::types::InferenceProfileModelSource::CopyFrom(
                "arn:aws:bedrock:eu-central-2::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0".into(),
            ),
        )
        .send()
        .await
        .unwrap();
    // Made earlier: AWS's lists show it by the time we plan.
    sb.settle().await;
    sb.aws.calls().reset();
    assert_eq!(
        sb.cli(&["deploy", "local", "--auto-approve", "--skip-seed"])
            .await,
        3,
        "adoption needs its flag"
    );
    assert_eq!(sb.all_mutations(), Vec::<String>::new());
    assert_eq!(
        sb.cli(&[
            "deploy",
            "local",
            "--auto-approve",
            "--skip-seed",
            "--adopt"
        ])
        .await,
        0
    );
    let profiles = application_profiles(&bedrock).await;
    assert_eq!(profiles.len(), 8);
    let (_, arn, tags) = profiles
        .iter()
        .find(|(n, _, _)| n == "e2e-ai-adopt-claude-3-haiku")
        .unwrap();
    assert_eq!(tags.get("Environment").map(String::as_str), Some("local"));
    assert!(
        !tags.contains_key("Model"),
        "its Model tag never claims a source it was not made from"
    );
    // Its source cannot be known to match: the next plan replaces it, with --allow-replace.
    let p = sb.plan(Mode::Deploy).await;
    let c = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "aws_bedrock_inference_profile.profiles")
        .unwrap();
    assert_eq!(c.requires, Some(Flag::AllowReplace), "{p}");
    // Adopted, it is ours: destroy removes it with the rest.
    assert_eq!(
        sb.cli(&["destroy", "local", "--auto-approve", "--purge-buckets"])
            .await,
        0
    );
    assert!(
        application_profiles(&bedrock).await.is_empty(),
        "{arn} gone"
    );
}
