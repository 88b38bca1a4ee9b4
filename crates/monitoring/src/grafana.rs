//! The optional Managed Grafana workspace: SAML authentication (configured afterwards by a
//! person), the current account's data, customer-managed permissions through the role
//! `{nid}-grafana`, the Prometheus and CloudWatch data sources, and VPC access on the private
//! subnets through its own security group. Found by name and our tags; created with a client
//! token; retried while its new role propagates.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use aws_sdk_grafana::error::ProvideErrorMetadata;
use aws_sdk_grafana::types::{
    AccountAccessType, AuthenticationProviderTypes, DataSourceType, PermissionType,
    VpcConfiguration, WorkspaceStatus,
};
use aws_sdk_grafana::Client;
use layer_core::access::{arn, global_arn, service_linked_role, Access, Need};
use layer_core::diff::Changes as _;
use layer_core::policy::{Effect, PolicyDocument, Statement};
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use shared_resources::{while_role_propagates, PROPAGATION, ROLE_ARN, SECURITY_GROUP_ID};
use typed_builder::TypedBuilder;

/// The workspace id.
pub const GRAFANA_ID: &str = "grafana_workspace_id";
/// The workspace's URL host.
pub const GRAFANA_ENDPOINT: &str = "grafana_workspace_endpoint";
/// The role the workspace uses.
pub const GRAFANA_ROLE_ARN: &str = "grafana_iam_role_arn";

/// The workspace's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrafanaSpec {
    /// `CURRENT_ACCOUNT`.
    pub account_access: String,
    /// `SAML`.
    pub authentication: BTreeSet<String>,
    /// `CUSTOMER_MANAGED`.
    pub permission_type: String,
    /// `PROMETHEUS`, `CLOUDWATCH`.
    pub data_sources: BTreeSet<String>,
    /// The workspace role.
    pub role_arn: Option<String>,
    /// Its security groups.
    pub security_group_ids: BTreeSet<String>,
    /// The private subnets.
    pub subnet_ids: BTreeSet<String>,
    /// Tags.
    pub tags: Tags,
}

layer_core::spec_fields!(GrafanaSpec {
    AUTHENTICATION: authentication
});

/// The Grafana workspace.
#[derive(Debug, Clone, TypedBuilder)]
pub struct GrafanaWorkspace {
    client: Client,
    #[builder(setter(into))]
    name: String,
    #[builder(setter(into))]
    region: String,
    #[builder(setter(into))]
    account_id: String,
    /// The ownership tags that mark ours (this deployment's).
    owner_tags: Tags,
    subnet_ids: Vec<String>,
    role_address: Address,
    security_group_address: Address,
}

fn not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ResourceNotFoundException")
}

/// Grafana's answer while it cannot assume a role that was just created.
fn propagating<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ValidationException") && e.message().is_some_and(|m| m.contains("assume"))
}

/// The role's trust: Grafana, for this account's workspaces only.
pub fn trust(region: &str, account_id: &str) -> PolicyDocument {
    PolicyDocument::new([Statement::new(Effect::Allow)
        .service_principal("grafana.amazonaws.com")
        .actions(["sts:AssumeRole"])
        .condition("StringEquals", "aws:SourceAccount", [account_id])
        .condition(
            "ArnLike",
            "aws:SourceArn",
            [format!(
                "arn:aws:grafana:{region}:{account_id}:/workspaces/*"
            )],
        )])
}

/// The role's three policies: ENI management in this region (for VPC access), Prometheus read
/// on the workspace, CloudWatch read in the account and region.
pub fn policies(
    region: &str,
    account_id: &str,
    prometheus_arn: &str,
) -> Vec<(&'static str, PolicyDocument)> {
    vec![
        (
            "vpc-eni",
            PolicyDocument::new([Statement::new(Effect::Allow)
                .sid("VpcEni")
                .actions([
                    "ec2:CreateNetworkInterface",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeVpcs",
                ])
                .resources(["*"])
                .condition("StringEquals", "aws:RequestedRegion", [region])]),
        ),
        (
            "prometheus-read",
            PolicyDocument::new([Statement::new(Effect::Allow)
                .sid("PrometheusRead")
                .actions([
                    "aps:DescribeWorkspace",
                    "aps:GetLabels",
                    "aps:GetMetricMetadata",
                    "aps:GetSeries",
                    "aps:QueryMetrics",
                ])
                .resources([prometheus_arn])]),
        ),
        (
            "cloudwatch-read",
            PolicyDocument::new([
                // CloudWatch's metric and query reads name no resource: `*`, held to the region.
                Statement::new(Effect::Allow)
                    .sid("CloudWatchRead")
                    .actions([
                        "cloudwatch:DescribeAlarmHistory",
                        "cloudwatch:DescribeAlarms",
                        "cloudwatch:DescribeAlarmsForMetric",
                        "cloudwatch:GetInsightRuleReport",
                        "cloudwatch:GetMetricData",
                        "cloudwatch:GetMetricStatistics",
                        "cloudwatch:ListMetrics",
                        "logs:DescribeLogGroups",
                        "logs:GetQueryResults",
                        "logs:StopQuery",
                    ])
                    .resources(["*"])
                    .condition("StringEquals", "aws:RequestedRegion", [region]),
                // Log reads name their groups: this account's, in this region.
                Statement::new(Effect::Allow)
                    .sid("LogsRead")
                    .actions([
                        "logs:GetLogEvents",
                        "logs:GetLogGroupFields",
                        "logs:StartQuery",
                    ])
                    .resources([format!("arn:aws:logs:{region}:{account_id}:log-group:*")]),
            ]),
        ),
    ]
}

impl GrafanaWorkspace {
    /// Our workspace: the one with our name that carries our tags; the id and tags.
    async fn find(&self) -> Result<Option<(String, Tags)>> {
        let mut token = None;
        let mut foreign = None;
        loop {
            let page = self
                .client
                .list_workspaces()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| Error::aws_on("grafana", "ListWorkspaces", &self.name, &e))?;
            for w in page.workspaces() {
                if w.name() != Some(self.name.as_str()) || w.status() == &WorkspaceStatus::Deleting
                {
                    continue;
                }
                let tags: Tags = w
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                // Names need not be unique: ours (by tags) wins; else the first under our name is
                // one to adopt.
                if layer_core::tags::is_owned(&tags, &self.owner_tags) {
                    return Ok(Some((w.id().to_string(), tags)));
                }
                foreign.get_or_insert((w.id().to_string(), tags));
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        Ok(foreign)
    }

    async fn wait_active(&self, cx: &Context, id: &str) -> Result<()> {
        layer_core::wait::until(cx, &format!("Grafana workspace {}", self.name), || async {
            let out = self
                .client
                .describe_workspace()
                .workspace_id(id)
                .send()
                .await
                .map_err(|e| Error::aws_on("grafana", "DescribeWorkspace", &self.name, &e))?;
            let status = out
                .workspace()
                .map(|w| w.status().as_str().to_string())
                .unwrap_or_default();
            Ok((status != "ACTIVE").then_some(status))
        })
        .await
    }

    fn id_of(observed: &Observed<GrafanaSpec>) -> Result<String> {
        observed
            .outputs
            .get(GRAFANA_ID)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::Other("Grafana workspace: no id observed".into()))
    }
}

fn vpc(desired: &GrafanaSpec) -> Result<VpcConfiguration> {
    VpcConfiguration::builder()
        .set_security_group_ids(Some(desired.security_group_ids.iter().cloned().collect()))
        .set_subnet_ids(Some(desired.subnet_ids.iter().cloned().collect()))
        .build()
        .map_err(|e| Error::Other(format!("building the Grafana VPC configuration: {e}")))
}

#[async_trait]
impl Resource for GrafanaWorkspace {
    type Spec = GrafanaSpec;

    fn address(&self) -> Address {
        Address::new("aws_grafana_workspace.this")
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        let workspaces = || [arn("grafana", "/workspaces/*")];
        vec![
            Access::unscoped(
                Need::Observe,
                "GrafanaList",
                &["grafana:ListWorkspaces"],
                "grafana:ListWorkspaces supports no resource-level permissions",
            ),
            Access::new(
                Need::Observe,
                "GrafanaWorkspace",
                &["grafana:DescribeWorkspace", "grafana:ListTagsForResource"],
                workspaces(),
            ),
            Access::unscoped(
                Need::Change,
                "GrafanaCreate",
                &["grafana:CreateWorkspace", "ec2:GetManagedPrefixListEntries"],
                "grafana:CreateWorkspace supports no resource-level permissions (AWS chooses the id); it reads the VPC's prefix lists as the caller",
            ),
            // The first workspace of an account makes Grafana's service-linked role.
            service_linked_role("grafana.amazonaws.com", "AWSServiceRoleForAmazonGrafana"),
            Access::new(
                Need::Change,
                "GrafanaWorkspace",
                &[
                    "grafana:UpdateWorkspace",
                    "grafana:UpdateWorkspaceAuthentication",
                    "grafana:TagResource",
                    "grafana:UntagResource",
                ],
                workspaces(),
            ),
            // The workspace reads Prometheus as its role.
            Access::new(
                Need::Change,
                "PassRoles",
                &["iam:PassRole"],
                [global_arn("iam", &format!("role/{}", self.name))],
            ),
            Access::new(
                Need::Delete,
                "GrafanaWorkspace",
                &["grafana:DeleteWorkspace"],
                workspaces(),
            ),
        ]
    }

    fn depends_on(&self) -> Vec<Address> {
        vec![
            self.role_address.clone(),
            self.security_group_address.clone(),
        ]
    }

    fn desired(&self, cx: &Context, inputs: &Inputs) -> Result<GrafanaSpec> {
        Ok(GrafanaSpec {
            account_access: "CURRENT_ACCOUNT".into(),
            authentication: ["SAML".to_string()].into(),
            permission_type: "CUSTOMER_MANAGED".into(),
            data_sources: ["CLOUDWATCH".to_string(), "PROMETHEUS".to_string()].into(),
            role_arn: Some(inputs.str(&self.role_address, ROLE_ARN)?),
            security_group_ids: [inputs.str(&self.security_group_address, SECURITY_GROUP_ID)?]
                .into(),
            subnet_ids: self.subnet_ids.iter().cloned().collect(),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(&self, _cx: &Context, _inputs: &Inputs) -> Result<Observation<GrafanaSpec>> {
        let Some((id, tags)) = self.find().await? else {
            return Ok(Observation::Absent);
        };
        let out = self
            .client
            .describe_workspace()
            .workspace_id(&id)
            .send()
            .await
            .map_err(|e| Error::aws_on("grafana", "DescribeWorkspace", &self.name, &e))?;
        let w = out
            .workspace()
            .ok_or_else(|| Error::Other(format!("Grafana workspace {id}: no description")))?;
        let auth = w.authentication();
        if auth
            .and_then(|a| a.saml_configuration_status())
            .map(|s| s.as_str())
            == Some("NOT_CONFIGURED")
        {
            tracing::warn!(workspace = %self.name, "SAML is not configured yet: waiting for a person (post-deployment step: configure Grafana SAML authentication)");
        }
        let spec = GrafanaSpec {
            account_access: w
                .account_access_type()
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
            authentication: auth
                .map(|a| {
                    a.providers()
                        .iter()
                        .map(|p| p.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            permission_type: w
                .permission_type()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            data_sources: w
                .data_sources()
                .iter()
                .map(|d| d.as_str().to_string())
                .collect(),
            role_arn: w.workspace_role_arn().map(str::to_string),
            security_group_ids: w
                .vpc_configuration()
                .map(|v| v.security_group_ids().iter().cloned().collect())
                .unwrap_or_default(),
            subnet_ids: w
                .vpc_configuration()
                .map(|v| v.subnet_ids().iter().cloned().collect())
                .unwrap_or_default(),
            tags: tags.clone(),
        };
        let mut outputs = Outputs::new();
        outputs.insert(GRAFANA_ID.into(), id.into());
        outputs.insert(GRAFANA_ENDPOINT.into(), w.endpoint().into());
        if let Some(r) = w.workspace_role_arn() {
            outputs.insert(GRAFANA_ROLE_ARN.into(), r.into());
        }
        Ok(Observed::builder()
            .spec(spec)
            .tags(tags)
            .outputs(outputs)
            .holds_data(true)
            .build()
            .present())
    }

    async fn create(&self, cx: &Context, desired: &GrafanaSpec, _inputs: &Inputs) -> Result<()> {
        let tags: HashMap<String, String> = desired
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let token = format!(
            "{}{}",
            self.name.chars().take(32).collect::<String>(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() % 1_000_000)
                .unwrap_or_default()
        );
        let vpc = vpc(desired)?;
        let out = while_role_propagates(cx, PROPAGATION, propagating, || {
            self.client
                .create_workspace()
                .workspace_name(&self.name)
                .workspace_description("data-and-ai layer")
                .account_access_type(AccountAccessType::CurrentAccount)
                .authentication_providers(AuthenticationProviderTypes::Saml)
                .permission_type(PermissionType::CustomerManaged)
                .workspace_data_sources(DataSourceType::Prometheus)
                .workspace_data_sources(DataSourceType::Cloudwatch)
                .set_workspace_role_arn(desired.role_arn.clone())
                .vpc_configuration(vpc.clone())
                .client_token(token.clone())
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await
        .map_err(|e| {
            Error::on_create(
                "grafana:CreateWorkspace",
                &self.name,
                &e,
                &["ConflictException"],
            )
        })?;
        let id = out
            .workspace()
            .map(|w| w.id().to_string())
            .ok_or_else(|| Error::Other("CreateWorkspace returned no workspace".into()))?;
        self.wait_active(cx, &id).await
    }

    async fn update(
        &self,
        cx: &Context,
        desired: &GrafanaSpec,
        observed: &Observed<GrafanaSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let id = Self::id_of(observed)?;
        // The providers change through their own call; UpdateWorkspace cannot change them.
        if changes.touches(GrafanaSpec::AUTHENTICATION) {
            self.client
                .update_workspace_authentication()
                .workspace_id(&id)
                .authentication_providers(AuthenticationProviderTypes::Saml)
                .send()
                .await
                .map_err(|e| {
                    Error::aws_on("grafana", "UpdateWorkspaceAuthentication", &self.name, &e)
                })?;
        }
        if changes
            .iter()
            .any(|c| c.field() != "tags" && c.field() != "authentication")
        {
            let vpc = vpc(desired)?;
            while_role_propagates(cx, PROPAGATION, propagating, || {
                self.client
                    .update_workspace()
                    .workspace_id(&id)
                    .account_access_type(AccountAccessType::CurrentAccount)
                    .permission_type(PermissionType::CustomerManaged)
                    .workspace_data_sources(DataSourceType::Prometheus)
                    .workspace_data_sources(DataSourceType::Cloudwatch)
                    .set_workspace_role_arn(desired.role_arn.clone())
                    .vpc_configuration(vpc.clone())
                    .send()
            })
            .await
            .map_err(|e| Error::aws_on("grafana", "UpdateWorkspace", &self.name, &e))?;
            self.wait_active(cx, &id).await?;
        }
        if observed.tags != desired.tags {
            let arn = format!(
                "arn:aws:grafana:{}:{}:/workspaces/{id}",
                self.region, self.account_id
            );
            let stale = layer_core::tags::stale_keys(&observed.tags, &desired.tags);
            if !stale.is_empty() {
                self.client
                    .untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(stale))
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("grafana", "UntagResource", &self.name, &e))?;
            }
            self.client
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(
                    desired
                        .tags
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ))
                .send()
                .await
                .map_err(|e| Error::aws_on("grafana", "TagResource", &self.name, &e))?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Context, observed: &Observed<GrafanaSpec>) -> Result<()> {
        let id = Self::id_of(observed)?;
        match self
            .client
            .delete_workspace()
            .workspace_id(&id)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(Error::aws_on("grafana", "DeleteWorkspace", &self.name, &e)),
        }
        layer_core::wait::until(
            cx,
            &format!("Grafana workspace {} to be deleted", self.name),
            || async {
                match self
                    .client
                    .describe_workspace()
                    .workspace_id(&id)
                    .send()
                    .await
                {
                    Ok(out) => Ok(Some(
                        out.workspace()
                            .map(|w| w.status().as_str().to_string())
                            .unwrap_or_else(|| "DELETING".into()),
                    )),
                    Err(e) if not_found(&e) => Ok(None),
                    Err(e) => Err(Error::aws_on(
                        "grafana",
                        "DescribeWorkspace",
                        &self.name,
                        &e,
                    )),
                }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn value(doc: &PolicyDocument) -> Value {
        serde_json::from_str(&doc.to_json_string()).unwrap()
    }

    #[test]
    fn the_role_trusts_grafana_for_this_account_s_workspaces_only() {
        assert_eq!(
            value(&trust("eu-central-1", "123456789012")),
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": ["grafana.amazonaws.com"]},
                    "Action": ["sts:AssumeRole"],
                    "Condition": {
                        "ArnLike": {"aws:SourceArn": ["arn:aws:grafana:eu-central-1:123456789012:/workspaces/*"]},
                        "StringEquals": {"aws:SourceAccount": ["123456789012"]}
                    }
                }]
            })
        );
    }

    #[test]
    fn three_policies_each_scoped_as_narrowly_as_aws_allows() {
        let ws = "arn:aws:aps:eu-central-1:123456789012:workspace/ws-1";
        let p: std::collections::BTreeMap<_, _> = policies("eu-central-1", "123456789012", ws)
            .into_iter()
            .map(|(k, v)| (k, value(&v)))
            .collect();
        assert_eq!(p.len(), 3);
        let eni = &p["vpc-eni"]["Statement"][0];
        assert_eq!(eni["Resource"], json!(["*"]));
        assert_eq!(
            eni["Condition"],
            json!({"StringEquals": {"aws:RequestedRegion": ["eu-central-1"]}})
        );
        assert!(eni["Action"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a.as_str().unwrap().starts_with("ec2:")));
        let prom = &p["prometheus-read"]["Statement"][0];
        assert_eq!(prom["Resource"], json!([ws]));
        assert!(prom["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("aps:QueryMetrics")));
        let cw = &p["cloudwatch-read"]["Statement"][0];
        assert_eq!(cw["Resource"], json!(["*"]));
        assert_eq!(
            cw["Condition"],
            json!({"StringEquals": {"aws:RequestedRegion": ["eu-central-1"]}})
        );
        let logs = &p["cloudwatch-read"]["Statement"][1];
        assert_eq!(
            logs["Resource"],
            json!(["arn:aws:logs:eu-central-1:123456789012:log-group:*"])
        );
        for statement in [eni, prom, cw, logs] {
            assert_eq!(statement["Effect"], "Allow");
            let actions = statement["Action"].as_array().unwrap();
            assert!(
                actions.iter().all(|a| {
                    let a = a.as_str().unwrap();
                    !a.ends_with('*') && !a.contains(":Put") && !a.contains(":Delete")
                        || a == "ec2:DeleteNetworkInterface"
                }),
                "read-only but for the ENIs: {actions:?}"
            );
        }
    }
}
