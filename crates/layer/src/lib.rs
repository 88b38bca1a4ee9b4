//! The data-and-ai layer, composed: loads an environment, validates every family's section,
//! connects to AWS (shell check, account guard, infrastructure discovery), builds every family's
//! resources into one [`Engine`], and offers the operator's commands ([`cli`]).
//!
//! This is the one place that knows every family; family crates never depend on each other.

pub mod cli;
pub mod discover;

use std::path::Path;

use aws_types::SdkConfig;
use layer_core::config::{Environment, Infrastructure};
use layer_core::engine::{ApplyError, Engine, Mode, PlanRun};
use layer_core::resource::{Context, WaitSettings};
use layer_core::{Outputs, Result, SafetyFlags};

/// Every family's section name, in the order they are documented.
pub const FAMILIES: &[&str] = &[
    data_s3::SECTION,
    data_aurora::SECTION,
    data_redis::SECTION,
    ai_bedrock::SECTION,
    secrets_seed::SECTION,
    monitoring::SECTION,
];

/// Load an environment and validate every family's section, before any call to AWS.
pub fn load(environments: &Path, name: &str) -> Result<Environment> {
    let env = Environment::load(environments, name, FAMILIES)?;
    let s3: data_s3::S3Settings = env.section(data_s3::SECTION)?;
    s3.names(&env)?;
    data_aurora::AuroraSettings::load(&env)?;
    data_redis::RedisSettings::load(&env)?;
    ai_bedrock::BedrockSettings::load(&env)?;
    secrets_seed::SecretsSettings::load(&env)?;
    monitoring::MonitoringSettings::load(&env)?;
    Ok(env)
}

/// An environment connected to AWS: credentials checked, infrastructure found, resources built.
pub struct Session {
    /// The environment.
    pub env: Environment,
    /// The SDK configuration every client is built from.
    pub sdk: SdkConfig,
    /// The account the credentials belong to (checked against the allowed ones).
    pub account_id: String,
    /// The infrastructure layer's outputs.
    pub infra: Infrastructure,
    engine: Engine,
}

impl Session {
    /// Connect: check the shell's AWS variables against the environment, build the SDK
    /// configuration, check the account through STS, discover the infrastructure layer, and
    /// build every family's resources. Read-only calls only.
    pub async fn connect(env: Environment) -> Result<Self> {
        layer_core::aws::check_shell(&env, |k| std::env::var(k).ok())?;
        let sdk = layer_core::aws::sdk_config(&env).await?;
        let account_id = layer_core::aws::check_account(&sdk, &env).await?;
        let mut inputs = env.infrastructure.clone();
        if inputs.discover {
            let found = discover::discover(&sdk, &env.region, &inputs.discover_tags).await?;
            inputs.fill_from(found);
        }
        let infra = inputs.require(&env)?;
        let mut resources = data_s3::resources(&env, &infra, &account_id, &sdk)?;
        resources.extend(data_aurora::resources(&env, &infra, &sdk)?);
        resources.extend(data_redis::resources(&env, &infra, &sdk)?);
        let engine = Engine::new(resources, env.concurrency);
        Ok(Session {
            env,
            sdk,
            account_id,
            infra,
            engine,
        })
    }

    /// The context every resource call gets.
    pub fn context(&self, flags: SafetyFlags) -> Context {
        Context {
            environment: self.env.name.clone(),
            tags: self.env.resource_tags(),
            flags,
            wait: WaitSettings {
                timeout: self.env.wait_timeout,
                poll: std::time::Duration::from_millis(if self.env.local { 250 } else { 15_000 }),
            },
        }
    }

    /// Observe everything and plan.
    pub async fn plan(&self, cx: &Context, mode: Mode) -> Result<PlanRun> {
        self.engine.plan(cx, mode).await
    }

    /// Check the plan against the safety flags (before any mutating call), then apply it.
    pub async fn apply(
        &self,
        cx: &Context,
        run: PlanRun,
    ) -> std::result::Result<Outputs, ApplyError> {
        layer_core::safety::check(&run.plan, &self.env.name, self.env.protected, &cx.flags)
            .map_err(|r| ApplyError::Other(r.into()))?;
        let outputs = self.engine.apply(cx, run).await?;
        Ok(self.with_layer_outputs(outputs))
    }

    /// The layer's outputs as they are now (read-only).
    pub async fn outputs(&self) -> Result<Outputs> {
        let run = self
            .plan(&self.context(SafetyFlags::default()), Mode::Deploy)
            .await?;
        Ok(self.with_layer_outputs(run.observed_outputs()))
    }

    fn with_layer_outputs(&self, outputs: Outputs) -> Outputs {
        // Outputs starting with `_` are for dependents only.
        let mut outputs: Outputs = outputs
            .into_iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .collect();
        outputs.insert("aws_region".into(), self.env.region.clone().into());
        outputs
    }
}

/// Make sure the pinned emulator is installed in `venv` (used by `cargo xtask ci`).
pub fn local_venv(venv: &Path) -> anyhow::Result<()> {
    local_aws::moto::ensure_venv(venv).map(|_| ())
}
