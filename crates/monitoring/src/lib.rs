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
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSettings {
    /// `enable_managed_prometheus`.
    pub enable_managed_prometheus: bool,
    /// `enable_managed_grafana`.
    pub enable_managed_grafana: bool,
    /// Names and ids (`[monitoring.names]`), for adopting workspaces a layer before ours made.
    #[serde(default)]
    pub names: MonitoringNames,
}

/// `[monitoring.names]`. A Prometheus workspace's alias is not unique on AWS and its id is
/// AWS's: ours is found by our tags, or, to take over one someone else made, by the id given here.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitoringNames {
    /// The Prometheus workspace's alias.
    pub prometheus: Option<String>,
    /// The id of the Prometheus workspace to manage (`ws-…`), instead of the one with our tags.
    pub prometheus_workspace_id: Option<String>,
    /// The Grafana workspace's name, and its role's and security group's.
    pub grafana: Option<String>,
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
        s.grafana_name(env)?;
        s.prometheus_workspace_id(env)?;
        Ok(s)
    }

    /// The Prometheus workspace's alias.
    pub fn prometheus_alias(&self, env: &Environment) -> Result<String> {
        resolve(
            "prometheus",
            format!("{}-prometheus", env.naming_id),
            self.names.prometheus.as_ref(),
            NameRule::TagValue,
        )
        .map_err(|e| env.invalid("monitoring.names", &e))
    }

    /// The Grafana workspace's name (its role and security group share it).
    pub fn grafana_name(&self, env: &Environment) -> Result<String> {
        resolve(
            "grafana",
            format!("{}-grafana", env.naming_id),
            self.names.grafana.as_ref(),
            NameRule::IamName,
        )
        .map_err(|e| env.invalid("monitoring.names", &e))
    }

    /// The Prometheus workspace id named in the environment, checked for AWS's form.
    pub fn prometheus_workspace_id(&self, env: &Environment) -> Result<Option<String>> {
        let Some(id) = &self.names.prometheus_workspace_id else {
            return Ok(None);
        };
        let ok = id.starts_with("ws-")
            && id.len() <= 64
            && id[3..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok || id.len() == 3 {
            return Err(env.invalid(
                "monitoring.names.prometheus_workspace_id",
                &format!("`{id}` is not a workspace id (`ws-` and letters, digits, dashes); copy it from the workspace's page or from Terraform's `aws_prometheus_workspace` id"),
            ));
        }
        Ok(Some(id.clone()))
    }
}

/// Build the family's resources for an environment.
/// Managed Prometheus and Grafana, as a family of the layer.
#[derive(Debug, Clone, Copy)]
pub struct Monitoring;

impl layer_core::family::Family for Monitoring {
    const SECTION: &'static str = SECTION;
    type Settings = MonitoringSettings;

    fn settings(env: &Environment) -> Result<MonitoringSettings> {
        MonitoringSettings::load(env)
    }

    fn resources(
        layer: layer_core::family::Layer<'_>,
        settings: &MonitoringSettings,
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
    s: &MonitoringSettings,
) -> Result<Vec<Arc<dyn AnyResource>>> {
    let mut out: Vec<Arc<dyn AnyResource>> = Vec::new();
    if s.enable_managed_prometheus {
        out.push(Arc::new(
            Workspace::builder()
                .client(aws_sdk_amp::Client::new(sdk))
                .alias(s.prometheus_alias(env)?)
                .workspace_id(s.prometheus_workspace_id(env)?)
                .log_group_arn(infra.prometheus_log_group_arn.clone())
                .build(),
        ));
    }
    if s.enable_managed_grafana {
        let name = s.grafana_name(env)?;
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
                .client(ec2_query::Client::new(sdk))
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
