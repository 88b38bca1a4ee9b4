//! The monitoring family: Managed Prometheus and (optional) Managed Grafana.
//!
//! **Status: settings only.** This crate owns and validates the `[monitoring]` section; the
//! workspaces are not built yet.

use layer_core::config::Environment;
use layer_core::Result;
use serde::Deserialize;

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
        Ok(s)
    }
}
