//! The Bedrock family: application inference profiles (one resource for the environment's set,
//! found by tags), and model invocation logging (the log group under the CloudWatch Logs key, the
//! role Bedrock writes with, and the account's logging configuration). Owns `[bedrock]`.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_types::SdkConfig;
use layer_core::config::{Environment, Infrastructure};
use layer_core::engine::AnyResource;
use layer_core::naming::{resolve, NameRule};
use layer_core::policy::{Effect, PolicyDocument, Statement};
use layer_core::{Address, Result};
use serde::Deserialize;
use shared_resources::{LogGroup, Role};

mod logging;
mod profiles;

pub use logging::{InvocationLogging, LoggingSpec};
pub use profiles::{InferenceProfiles, ProfileSpec, ProfilesSpec, AVAILABLE_MODELS, PROFILE_ARNS};

/// The section of the environment files this crate owns.
pub const SECTION: &str = "bedrock";

/// Where a profile's source model lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SourceType {
    /// A system-defined (`eu.*`, `global.*`) inference profile.
    InferenceProfile,
    /// A foundation model in the region.
    FoundationModel,
}

/// One application inference profile.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileSettings {
    /// The source model or system-defined profile id.
    pub source: String,
    /// Its type.
    pub source_type: SourceType,
    /// `false` removes a profile that `common.toml` defines from this environment (tables merge
    /// key by key: `claude-3-haiku = { enabled = false }`).
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// `[bedrock]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BedrockSettings {
    /// `enable_bedrock_logging`.
    pub enable_logging: bool,
    /// The invocation log group.
    pub log_group_name: String,
    /// Retention of the invocation log group, in days.
    pub log_retention_days: u32,
    /// `bedrock_inference_profiles`, by profile key.
    pub inference_profiles: BTreeMap<String, ProfileSettings>,
    /// Name overrides (`[bedrock.names]`).
    #[serde(default)]
    pub names: BedrockNameOverrides,
}

/// `[bedrock.names]`: the logging role's name (two environments in one account need two), and
/// profiles' names, by profile key (`{naming_id}-{key}` otherwise): profiles made under other
/// names (a Terraform layer's) are found and adopted by them.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BedrockNameOverrides {
    logging_role: Option<String>,
    /// A profile's name, by its key in `inference_profiles`.
    #[serde(default)]
    profiles: BTreeMap<String, String>,
}

/// The spec's known constraints on sources: what does not exist in eu-central-2, or cannot be
/// called on demand anywhere, and what to use instead.
fn known_constraint(region: &str, source: &str, source_type: SourceType) -> Option<String> {
    for model in ["anthropic.claude-3-5-sonnet", "anthropic.claude-3-haiku"] {
        if region != "eu-central-2" {
            break;
        }
        if source.starts_with(&format!("eu.{model}")) {
            return Some(format!(
                "`{source}` does not exist: {model} has no eu.* cross-region profile; use the foundation model `{}` with source_type = \"foundation-model\"",
                &source[3..]
            ));
        }
    }
    if source.starts_with("cohere.embed-v4") && source_type == SourceType::FoundationModel {
        return Some(format!(
            "Cohere Embed v4 cannot be called on demand as a foundation model; use `global.{source}` with source_type = \"inference-profile\""
        ));
    }
    None
}

impl BedrockSettings {
    /// Read and validate the section.
    pub fn load(env: &Environment) -> Result<Self> {
        let mut s: Self = env.section(SECTION)?;
        s.inference_profiles.retain(|_, p| p.enabled);
        for (key, p) in &s.inference_profiles {
            let k = format!("bedrock.inference_profiles.{key}");
            resolve(
                &format!("profiles.{key}"),
                format!("{}-{key}", env.naming_id),
                s.names.profiles.get(key),
                NameRule::InferenceProfileName,
            )
            .map_err(|e| env.invalid(&k, &e))?;
            let system = [
                "eu.", "global.", "us.", "us-gov.", "apac.", "jp.", "au.", "ca.",
            ]
            .iter()
            .any(|prefix| p.source.starts_with(prefix));
            match (p.source_type, system) {
                (SourceType::InferenceProfile, false) => {
                    return Err(env.invalid(&format!("{k}.source_type"), &format!("`{}` is a foundation model id; set source_type = \"foundation-model\"", p.source)))
                }
                (SourceType::FoundationModel, true) => {
                    return Err(env.invalid(&format!("{k}.source_type"), &format!("`{}` is a system-defined inference profile; set source_type = \"inference-profile\"", p.source)))
                }
                _ => {}
            }
            if let Some(why) = known_constraint(&env.region, &p.source, p.source_type) {
                return Err(env.invalid(&format!("{k}.source"), &why));
            }
        }
        if let Some(key) = s
            .names
            .profiles
            .keys()
            .find(|k| !s.inference_profiles.contains_key(*k))
        {
            return Err(env.invalid(
                &format!("bedrock.names.profiles.{key}"),
                "no enabled profile has this key in `[bedrock.inference_profiles]`; use one of its keys, or remove the name",
            ));
        }
        layer_core::config::check_log_retention(s.log_retention_days)
            .map_err(|why| env.invalid("bedrock.log_retention_days", &why))?;
        resolve(
            "log_group_name",
            s.log_group_name.clone(),
            None,
            NameRule::LogGroup,
        )
        .map_err(|e| env.invalid("bedrock.log_group_name", &e))?;
        s.logging_role(env)?;
        Ok(s)
    }

    /// The logging role's name.
    pub fn logging_role(&self, env: &Environment) -> Result<String> {
        resolve(
            "logging_role",
            format!("{}-bedrock-logging", env.naming_id),
            self.names.logging_role.as_ref(),
            NameRule::IamName,
        )
        .map_err(|e| env.invalid("bedrock.names", &e))
    }
}

/// The logging role's trust: Bedrock, for this account's own invocations only (the confused
/// deputy conditions).
pub fn logging_trust(region: &str, account_id: &str) -> PolicyDocument {
    PolicyDocument::new([Statement::new(Effect::Allow)
        .service_principal("bedrock.amazonaws.com")
        .actions(["sts:AssumeRole"])
        .condition("StringEquals", "aws:SourceAccount", [account_id])
        .condition(
            "ArnLike",
            "aws:SourceArn",
            [format!("arn:aws:bedrock:{region}:{account_id}:*")],
        )])
}

/// The logging role's one permission: write log streams of the invocation log group.
pub fn logging_policy(region: &str, account_id: &str, log_group: &str) -> PolicyDocument {
    PolicyDocument::new([Statement::new(Effect::Allow)
        .sid("InvocationLogs")
        .actions(["logs:CreateLogStream", "logs:PutLogEvents"])
        .resources([format!(
            "arn:aws:logs:{region}:{account_id}:log-group:{log_group}:log-stream:*"
        )])])
}

/// Build the family's resources for an environment.
/// Bedrock inference profiles and invocation logging, as a family of the layer.
#[derive(Debug, Clone, Copy)]
pub struct Bedrock;

impl layer_core::family::Family for Bedrock {
    const SECTION: &'static str = SECTION;
    type Settings = BedrockSettings;

    fn settings(env: &Environment) -> Result<BedrockSettings> {
        BedrockSettings::load(env)
    }

    fn resources(
        layer: layer_core::family::Layer<'_>,
        settings: &BedrockSettings,
    ) -> Result<Vec<Arc<dyn AnyResource>>> {
        resources(
            layer.env,
            layer.infra,
            layer.account_id,
            layer.sdk,
            settings,
        )
    }
}

fn resources(
    env: &Environment,
    infra: &Infrastructure,
    account_id: &str,
    sdk: &SdkConfig,
    s: &BedrockSettings,
) -> Result<Vec<Arc<dyn AnyResource>>> {
    let bedrock = aws_sdk_bedrock::Client::new(sdk);
    let mut out: Vec<Arc<dyn AnyResource>> = vec![Arc::new(
        InferenceProfiles::builder()
            .client(bedrock.clone())
            .naming_id(env.naming_id.to_string())
            .region(env.region.clone())
            .account_id(account_id)
            .profiles(s.inference_profiles.clone())
            .names(s.names.profiles.clone())
            .build(),
    )];
    if s.enable_logging {
        let region = env.region.as_str();
        let policy = logging_policy(region, account_id, &s.log_group_name);
        let log_group = LogGroup::builder()
            .client(aws_sdk_cloudwatchlogs::Client::new(sdk))
            .key("bedrock_invocations")
            .name(s.log_group_name.clone())
            .kms_key_arn(infra.logs_kms_key_arn.clone())
            .retention_days(s.log_retention_days as i32)
            .shared(format!(
                "Bedrock's invocation logging is one per account and region, and that deployment's covers this one: set `enable_logging = false` under [bedrock] in {}",
                env.file.display()
            ))
            .build();
        let role_name = s.logging_role(env)?;
        let role_arn = format!("arn:aws:iam::{account_id}:role/{role_name}");
        let role = Role::builder()
            .client(aws_sdk_iam::Client::new(sdk))
            .key("bedrock_logging")
            .name(role_name)
            .description("data-and-ai layer: Bedrock writes model invocation logs")
            .trust(logging_trust(region, account_id))
            .policies(Arc::new(move |_| {
                Ok([("invocation-logs".to_string(), policy.clone())].into())
            }))
            .build();
        out.push(Arc::new(
            InvocationLogging::builder()
                .client(bedrock)
                .log_group(s.log_group_name.clone())
                .log_group_address(Address::new("aws_cloudwatch_log_group.bedrock_invocations"))
                .role_address(Address::new("aws_iam_role.bedrock_logging"))
                .role_arn(role_arn)
                .build(),
        ));
        out.insert(0, Arc::new(role));
        out.insert(0, Arc::new(log_group));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logging_role_trusts_bedrock_for_this_account_only_and_writes_one_group() {
        let trust = logging_trust("eu-central-2", "123456789012");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&trust.to_json_string()).unwrap(),
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": ["bedrock.amazonaws.com"]},
                    "Action": ["sts:AssumeRole"],
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": ["arn:aws:bedrock:eu-central-2:123456789012:*"]},
                        "StringEquals": {"aws:SourceAccount": ["123456789012"]}
                    }
                }]
            })
        );
        let policy = logging_policy("eu-central-2", "123456789012", "/bedrock/model-invocations");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&policy.to_json_string()).unwrap(),
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "InvocationLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": ["arn:aws:logs:eu-central-2:123456789012:log-group:/bedrock/model-invocations:log-stream:*"]
                }]
            })
        );
    }

    #[test]
    fn the_spec_s_known_source_constraints() {
        assert!(known_constraint(
            "eu-central-2",
            "eu.anthropic.claude-3-haiku-20240307-v1:0",
            SourceType::InferenceProfile
        )
        .unwrap()
        .contains("anthropic.claude-3-haiku-20240307-v1:0"));
        assert!(known_constraint(
            "eu-central-2",
            "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
            SourceType::InferenceProfile
        )
        .is_some());
        assert!(known_constraint(
            "eu-central-2",
            "cohere.embed-v4:0",
            SourceType::FoundationModel
        )
        .unwrap()
        .contains("global.cohere.embed-v4:0"));
        assert!(known_constraint(
            "eu-central-2",
            "global.cohere.embed-v4:0",
            SourceType::InferenceProfile
        )
        .is_none());
        assert!(known_constraint(
            "eu-central-2",
            "anthropic.claude-3-haiku-20240307-v1:0",
            SourceType::FoundationModel
        )
        .is_none());
        // The eu.* rule is eu-central-2's: elsewhere the region's own list decides at plan time.
        assert!(known_constraint(
            "eu-west-1",
            "eu.anthropic.claude-3-haiku-20240307-v1:0",
            SourceType::InferenceProfile
        )
        .is_none());
    }
}
