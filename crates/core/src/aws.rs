//! AWS configuration: the standard credential chain (or the local endpoint's static keys), an
//! optional role per environment, retries with backoff, a user agent naming the tool, and the
//! account guard that runs before the first write.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{AppName, BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;

use crate::config::Environment;
use crate::{Error, Result};

/// Check the shell's AWS variables against the environment file. A region or endpoint that
/// contradicts it is an error, so a stray `AWS_REGION` never sends a deploy to the wrong place.
pub fn check_shell(env: &Environment, var: impl Fn(&str) -> Option<String>) -> Result<()> {
    for key in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(region) = var(key).filter(|r| !r.is_empty()) {
            if region != env.region {
                return Err(Error::Config(format!(
                    "{key}={region} contradicts region `{}` of environment `{}`; unset {key} or change `region` in {}",
                    env.region,
                    env.name,
                    env.file_of("region")
                )));
            }
        }
    }
    if let Some(url) = var("AWS_ENDPOINT_URL").filter(|u| !u.is_empty()) {
        match &env.endpoint_url {
            Some(ours) if ours.trim_end_matches('/') == url.trim_end_matches('/') => {}
            Some(ours) => {
                return Err(Error::Config(format!(
                    "AWS_ENDPOINT_URL={url} contradicts endpoint {ours} of environment `{}`; unset AWS_ENDPOINT_URL",
                    env.name
                )))
            }
            None => {
                return Err(Error::Config(format!(
                    "AWS_ENDPOINT_URL={url} is set, but environment `{}` talks to AWS itself; unset AWS_ENDPOINT_URL",
                    env.name
                )))
            }
        }
    }
    Ok(())
}

/// Build the SDK configuration for an environment.
pub async fn sdk_config(env: &Environment) -> Result<SdkConfig> {
    let retry = RetryConfig::standard()
        .with_max_attempts(env.max_attempts)
        .with_initial_backoff(Duration::from_millis(if env.local { 20 } else { 500 }));
    let app = AppName::new(crate::TOOL_NAME).expect("tool name is a valid app name");
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(env.region.clone()))
        .retry_config(retry)
        .app_name(app);
    if let Some(url) = &env.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    if env.local {
        // The local environment never reads the operator's real credentials.
        loader = loader.credentials_provider(Credentials::from_keys("local", "local", None));
    }
    let base = loader.load().await;
    let Some(role) = &env.assume_role_arn else {
        return Ok(base);
    };
    let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
        .session_name(format!("{}-{}", crate::TOOL_NAME, env.name))
        .configure(&base)
        .build()
        .await;
    Ok(base
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(provider),
        )
        .build())
}

/// Check, through STS, that the credentials belong to an allowed account. Returns the account id.
pub async fn check_account(config: &SdkConfig, env: &Environment) -> Result<String> {
    let sts = aws_sdk_sts::Client::new(config);
    let who = sts.get_caller_identity().send().await.map_err(|e| {
        Error::aws(
            "sts:GetCallerIdentity (checking which account the credentials belong to)",
            &e,
        )
    })?;
    let account = who.account().unwrap_or_default().to_string();
    if env.allowed_account_ids.iter().any(|a| a == &account) {
        Ok(account)
    } else {
        Err(Error::WrongAccount(format!(
            "the credentials belong to account {account}, but environment `{}` allows only {}; switch credentials (AWS_PROFILE) or fix `allowed_account_ids` in {}",
            env.name,
            env.allowed_account_ids.join(", "),
            env.file_of("allowed_account_ids")
        )))
    }
}
