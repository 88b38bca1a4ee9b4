//! The monitoring family: Managed Prometheus (the workspace, logging to the infrastructure
//! layer's log group) and, optionally, Managed Grafana (not built yet: refused at load where it is
//! asked for). Owns `[monitoring]`.

use std::sync::Arc;

use aws_types::SdkConfig;
use layer_core::config::{Environment, Infrastructure};
use layer_core::engine::AnyResource;
use layer_core::naming::{resolve, NameRule};
use layer_core::Result;
use serde::Deserialize;

mod prometheus;

pub use prometheus::{Workspace, WorkspaceSpec, WORKSPACE_ARN, WORKSPACE_ENDPOINT, WORKSPACE_ID};

/// The section of the environment files this crate owns.
pub const SECTION: &str = "monitoring";

/// Regions without Managed Grafana.
const NO_GRAFANA: &[&str] = &["eu-central-2"];

/// `[monitoring]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSettings {
    /// `enable_managed_prometheus`.
    pub enable_managed_prometheus: bool,
    /// `enable_managed_grafana`.
    pub enable_managed_grafana: bool,
}

impl MonitoringSettings {
    /// Read and validate the section.
    pub fn load(env: &Environment) -> Result<Self> {
        let s: Self = env.section(SECTION)?;
        if s.enable_managed_grafana && NO_GRAFANA.contains(&env.region.as_str()) {
            return Err(env.invalid(
                "monitoring.enable_managed_grafana",
                &format!(
                    "Managed Grafana is not available in {}; set it to false",
                    env.region
                ),
            ));
        }
        if s.enable_managed_grafana {
            return Err(env.invalid(
                "monitoring.enable_managed_grafana",
                "Managed Grafana is not built by this tool yet; set it to false and create the workspace outside it",
            ));
        }
        s.prometheus_alias(env)?;
        Ok(s)
    }

    /// The Prometheus workspace's alias.
    pub fn prometheus_alias(&self, env: &Environment) -> Result<String> {
        resolve(
            "prometheus",
            format!("{}-prometheus", env.naming_id),
            None,
            NameRule::TagValue,
        )
        .map_err(|e| env.invalid("naming_id", &e))
    }
}

/// Build the family's resources for an environment.
pub fn resources(
    env: &Environment,
    infra: &Infrastructure,
    sdk: &SdkConfig,
) -> Result<Vec<Arc<dyn AnyResource>>> {
    let s = MonitoringSettings::load(env)?;
    let mut out: Vec<Arc<dyn AnyResource>> = Vec::new();
    if s.enable_managed_prometheus {
        out.push(Arc::new(
            Workspace::builder()
                .client(aws_sdk_amp::Client::new(sdk))
                .alias(s.prometheus_alias(env)?)
                .log_group_arn(infra.prometheus_log_group_arn.clone())
                .build(),
        ));
    }
    Ok(out)
}
