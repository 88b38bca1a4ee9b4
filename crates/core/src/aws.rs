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

/// The HTTPS client of every SDK configuration: the SDK's own (hyper 1, rustls, the system's
/// roots), with ring for its cryptography. The SDK crates are built without their default client,
/// which would compile AWS-LC, a C library, beside ring.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// An SDK configuration that can build clients but holds no credentials and makes no call: for
/// building an environment's resources only to read their declarations (IAM policies).
pub fn offline_config(region: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .http_client(https_client())
        .build()
}

/// Build the SDK configuration for an environment.
pub async fn sdk_config(env: &Environment) -> Result<SdkConfig> {
    let retry = RetryConfig::standard()
        .with_max_attempts(env.max_attempts)
        .with_initial_backoff(Duration::from_millis(if env.local { 20 } else { 500 }));
    let app = AppName::new(crate::TOOL_NAME).expect("tool name is a valid app name");
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
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

/// One line that says which credentials problem an SDK error is, and what to run, or `None` when
/// it is not one: no credentials, an expired (or never started) SSO session, an unknown profile,
/// a role that cannot be assumed. `chain` is the error with all its sources.
pub fn credentials_problem(
    chain: &str,
    profile: Option<&str>,
    role: Option<&str>,
) -> Option<String> {
    let c = chain.to_ascii_lowercase();
    let p = profile.unwrap_or("<profile>");
    if let Some(role) = role.filter(|_| c.contains("assumerole") || c.contains("assume role")) {
        if c.contains("accessdenied") || c.contains("not authorized") || c.contains("assume") {
            return Some(format!(
                "the credentials cannot assume the role {role}: check that they may call sts:AssumeRole on it and that its trust policy names them, or change `assume_role_arn`"
            ));
        }
    }
    if c.contains("profile")
        && (c.contains("not defined")
            || c.contains("could not find")
            || c.contains("was not found")
            || c.contains("no profile"))
    {
        return Some(format!(
            "the AWS profile `{p}` does not exist: set AWS_PROFILE to one that `aws configure list-profiles` shows"
        ));
    }
    if c.contains("sso") && (c.contains("expired") || c.contains("token")) {
        return Some(format!(
            "the SSO session of profile `{p}` has expired or was never started: run `aws sso login --profile {p}`"
        ));
    }
    // The chain ends at the instance metadata service; one switched off (or forbidden) answers
    // with its own error rather than "no credentials".
    let imds = c.contains("imds") || c.contains("instance metadata");
    if c.contains("no providers in chain provided credentials")
        || c.contains("credentialsnotloaded")
        || c.contains("failed to load credentials")
        || c.contains("no credentials")
        || (imds && c.contains("loading credentials"))
    {
        return Some(
            "no AWS credentials found: set AWS_PROFILE=<profile> (and run `aws sso login --profile <profile>` for SSO), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
        );
    }
    None
}

/// Who the credentials are, as STS says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The account.
    pub account: String,
    /// The user's or assumed role's ARN.
    pub arn: String,
}

/// Check, through STS, that the credentials belong to an allowed account. Returns who they are.
pub async fn check_account(config: &SdkConfig, env: &Environment) -> Result<Caller> {
    let sts = aws_sdk_sts::Client::new(config);
    let who = sts.get_caller_identity().send().await.map_err(|e| {
        let chain = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
        let profile = std::env::var("AWS_PROFILE").ok();
        match credentials_problem(&chain, profile.as_deref(), env.assume_role_arn.as_deref()) {
            Some(line) => Error::Config(line),
            None => Error::aws(
                "sts:GetCallerIdentity (checking which account the credentials belong to)",
                &e,
            ),
        }
    })?;
    let account = who.account().unwrap_or_default().to_string();
    if env.allowed_account_ids.iter().any(|a| a == &account) {
        Ok(Caller {
            account,
            arn: who.arn().unwrap_or_default().to_string(),
        })
    } else {
        Err(Error::WrongAccount(format!(
            "the credentials belong to account {account}, but environment `{}` allows only {}; switch credentials (AWS_PROFILE) or fix `allowed_account_ids` in {}",
            env.name,
            env.allowed_account_ids.join(", "),
            env.file_of("allowed_account_ids")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_problems_by_their_error_chain() {
        let none = "dispatch failure: other: an error occurred while loading credentials: the credential provider was not enabled: no providers in chain provided credentials";
        assert!(credentials_problem(none, None, None)
            .unwrap()
            .starts_with("no AWS credentials found"));
        let role = "dispatch failure: failed to load credentials: service error: AccessDenied: User: arn:aws:iam::1:user/me is not authorized to perform: sts:AssumeRole on resource";
        assert!(
            credentials_problem(role, None, Some("arn:aws:iam::1:role/deployer"))
                .unwrap()
                .contains("cannot assume the role arn:aws:iam::1:role/deployer")
        );
        let profile = "failed to load credentials: ProfileFile provider could not be built: profile `dev` was not defined";
        assert!(credentials_problem(profile, Some("dev"), None)
            .unwrap()
            .contains("`dev` does not exist"));
        let sso = "failed to load credentials: the SSO token has expired and must be refreshed";
        assert!(credentials_problem(sso, Some("dev"), None)
            .unwrap()
            .contains("aws sso login --profile dev"));
        assert!(
            credentials_problem("service error: AccessDenied: s3:ListBucket", None, None).is_none()
        );
    }
}
