//! The monitoring family: Managed Prometheus (the workspace, logging to the infrastructure
//! layer's log group) and, optionally, Managed Grafana (the workspace, its role and its security
//! group). Owns `[monitoring]`.

use std::sync::Arc;

use aws_types::SdkConfig;
use layer_core::config::{Environment, Infrastructure};
use layer_core::engine::AnyResource;
use layer_core::naming::{resolve, NameRule};
use layer_core::Result;
use serde::Deserialize;

mod grafana;
mod prometheus;

pub use grafana::{
    policies as grafana_policies, trust as grafana_trust, GrafanaSpec, GrafanaWorkspace,
    GRAFANA_ENDPOINT, GRAFANA_ID, GRAFANA_ROLE_ARN,
};
pub use prometheus::{Workspace, WorkspaceSpec, WORKSPACE_ARN, WORKSPACE_ENDPOINT, WORKSPACE_ID};

use layer_core::Address;
use shared_resources::{Role, Rule, SecurityGroup};

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
        if s.enable_managed_grafana && !s.enable_managed_prometheus {
            return Err(env.invalid(
                "monitoring.enable_managed_grafana",
                "Grafana's Prometheus data source needs the Prometheus workspace; set enable_managed_prometheus = true",
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
    account_id: &str,
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
    if s.enable_managed_grafana {
        let name = format!("{}-grafana", env.naming_id);
        let region = env.region.clone();
        let account = account_id.to_string();
        let prometheus = Address::new("aws_prometheus_workspace.this");
        let from = prometheus.clone();
        out.push(Arc::new(
            Role::builder()
                .client(aws_sdk_iam::Client::new(sdk))
                .key("grafana")
                .name(name.clone())
                .description("data-and-ai layer: Managed Grafana reads Prometheus and CloudWatch")
                .trust(grafana::trust(&region, &account))
                .policies(Arc::new(move |inputs| {
                    let arn = inputs.str(&from, WORKSPACE_ARN)?;
                    Ok(grafana::policies(&region, &account, &arn)
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect())
                }))
                .depends_on(vec![prometheus])
                .build(),
        ));
        out.push(Arc::new(
            SecurityGroup::builder()
                .client(aws_sdk_ec2::Client::new(sdk))
                .key("grafana")
                .name(name.clone())
                .description("Managed Grafana: HTTPS to the VPC only")
                .vpc_id(infra.vpc_id.clone())
                .ingress(Vec::new())
                .egress(vec![Rule::tcp(443, &infra.vpc_cidr)])
                .build(),
        ));
        out.push(Arc::new(
            GrafanaWorkspace::builder()
                .client(aws_sdk_grafana::Client::new(sdk))
                .name(name)
                .region(env.region.clone())
                .account_id(account_id)
                .owner_tags(env.resource_tags())
                .subnet_ids(infra.private_subnet_ids.clone())
                .role_address(Address::new("aws_iam_role.grafana"))
                .security_group_address(Address::new("aws_security_group.grafana"))
                .build(),
        ));
    }
    Ok(out)
}
