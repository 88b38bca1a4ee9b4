//! The Managed Prometheus workspace, logging to the infrastructure layer's log group. Aliases
//! are not unique on AWS: the workspace is found by our tags, and created with a client token,
//! so that a create retried after a lost answer makes no second workspace.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_amp::error::ProvideErrorMetadata;
use aws_sdk_amp::types::WorkspaceStatusCode;
use aws_sdk_amp::Client;
use layer_core::access::{arn, log_deliveries, Access, Need};
use layer_core::diff::Changes as _;
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

/// The output keys.
pub const WORKSPACE_ID: &str = "prometheus_workspace_id";
/// The workspace ARN.
pub const WORKSPACE_ARN: &str = "prometheus_workspace_arn";
/// The remote-write and query endpoint.
pub const WORKSPACE_ENDPOINT: &str = "prometheus_workspace_endpoint";

/// The workspace's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceSpec {
    /// The alias.
    pub alias: String,
    /// Where the workspace logs (a log group ARN ending in `:*`).
    pub log_group_arn: Option<String>,
    /// Tags.
    pub tags: Tags,
}

layer_core::spec_fields!(WorkspaceSpec {
    ALIAS: alias,
    LOG_GROUP_ARN: log_group_arn,
    TAGS: tags
});

/// The Prometheus workspace.
#[derive(Debug, Clone, TypedBuilder)]
pub struct Workspace {
    client: Client,
    #[builder(setter(into))]
    alias: String,
    #[builder(setter(into))]
    log_group_arn: String,
    /// The workspace to manage, named by its id (`[monitoring.names] prometheus_workspace_id`):
    /// one a layer before ours made, taken over instead of found by our tags.
    #[builder(default)]
    workspace_id: Option<String>,
}

fn not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ResourceNotFoundException")
}

/// AMP takes a log group ARN with its `:*` suffix.
fn with_star(arn: &str) -> String {
    if arn.ends_with(":*") {
        arn.to_string()
    } else {
        format!("{arn}:*")
    }
}

impl Workspace {
    /// Our workspace: the one that carries our tags, whatever its alias (AWS chooses the id,
    /// and an alias changed by hand is drift to repair, not a reason to make a second one).
    async fn find(&self, cx: &Context) -> Result<Option<(String, Tags)>> {
        if let Some(id) = &self.workspace_id {
            return self.named(id).await;
        }
        let mut token = None;
        let mut found = None;
        loop {
            let page = self
                .client
                .list_workspaces()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| Error::aws_on("aps", "ListWorkspaces", &self.alias, &e))?;
            for w in page.workspaces() {
                if w.status().map(|s| s.status_code()) == Some(&WorkspaceStatusCode::Deleting) {
                    continue;
                }
                let tags: Tags = w
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                if layer_core::tags::is_owned(&tags, &cx.tags) {
                    if found.is_some() {
                        return Err(Error::Other(format!(
                            "two Prometheus workspaces carry our tags (the layer's is {}); delete the one that is not in use",
                            self.alias
                        )));
                    }
                    found = Some((w.workspace_id().to_string(), tags));
                }
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        // A workspace without our tags is someone else's, whatever its alias: left alone.
        Ok(found)
    }

    /// The workspace the environment names by id, read directly; `None` when it does not
    /// exist (destroyed, or a wrong id: `create` refuses to make another in its place).
    async fn named(&self, id: &str) -> Result<Option<(String, Tags)>> {
        let out = match self
            .client
            .describe_workspace()
            .workspace_id(id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(Error::aws_on("aps", "DescribeWorkspace", id, &e)),
        };
        let Some(w) = out.workspace() else {
            return Ok(None);
        };
        if w.status().map(|s| s.status_code()) == Some(&WorkspaceStatusCode::Deleting) {
            return Ok(None);
        }
        let tags = w
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(Some((id.to_string(), tags)))
    }

    async fn wait_active(&self, cx: &Context, id: &str) -> Result<()> {
        layer_core::wait::until(
            cx,
            &format!("Prometheus workspace {}", self.alias),
            || async {
                let out = self
                    .client
                    .describe_workspace()
                    .workspace_id(id)
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("aps", "DescribeWorkspace", &self.alias, &e))?;
                let status = out
                    .workspace()
                    .and_then(|w| w.status())
                    .map(|s| s.status_code().as_str().to_string())
                    .unwrap_or_default();
                Ok((status != "ACTIVE").then_some(status))
            },
        )
        .await
    }

    /// Create, update or delete the workspace's logging configuration; a created or updated one
    /// is waited for until AWS says it is `ACTIVE`.
    async fn set_logging(
        &self,
        cx: &Context,
        id: &str,
        had: bool,
        arn: Option<&str>,
    ) -> Result<()> {
        match (had, arn) {
            (false, Some(arn)) => {
                self.client
                    .create_logging_configuration()
                    .workspace_id(id)
                    .log_group_arn(arn)
                    .send()
                    .await
                    .map_err(|e| {
                        Error::aws_on("aps", "CreateLoggingConfiguration", &self.alias, &e)
                    })?;
            }
            (true, Some(arn)) => {
                self.client
                    .update_logging_configuration()
                    .workspace_id(id)
                    .log_group_arn(arn)
                    .send()
                    .await
                    .map_err(|e| {
                        Error::aws_on("aps", "UpdateLoggingConfiguration", &self.alias, &e)
                    })?;
            }
            (true, None) => match self
                .client
                .delete_logging_configuration()
                .workspace_id(id)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => {
                    return Err(Error::aws_on(
                        "aps",
                        "DeleteLoggingConfiguration",
                        &self.alias,
                        &e,
                    ))
                }
            },
            (false, None) => {}
        }
        if arn.is_some() {
            self.wait_logging(cx, id).await?;
        }
        Ok(())
    }

    /// The workspace's logging configuration, `None` when it has none (or none seen yet).
    async fn logging(
        &self,
        id: &str,
    ) -> Result<Option<aws_sdk_amp::types::LoggingConfigurationMetadata>> {
        match self
            .client
            .describe_logging_configuration()
            .workspace_id(id)
            .send()
            .await
        {
            Ok(out) => Ok(out.logging_configuration().cloned()),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(Error::aws_on(
                "aps",
                "DescribeLoggingConfiguration",
                &self.alias,
                &e,
            )),
        }
    }

    /// AWS creates and updates a logging configuration in the background (`CREATING`,
    /// `UPDATING`), refuses another change of it meanwhile (`ConflictException`), and says only
    /// there that it failed (`CREATION_FAILED`, `UPDATE_FAILED`, with the reason).
    async fn wait_logging(&self, cx: &Context, id: &str) -> Result<()> {
        let what = format!("the logging of Prometheus workspace {}", self.alias);
        layer_core::wait::until(cx, &what, || async {
            // Made a moment ago, and not seen yet by the read (AWS is eventually consistent).
            let Some(logging) = self.logging(id).await? else {
                return Ok(Some("not seen yet".to_string()));
            };
            let status = logging.status();
            let code = status.map(|s| s.status_code().as_str()).unwrap_or_default();
            if code.ends_with("_FAILED") {
                let why = status.and_then(|s| s.status_reason()).unwrap_or("no reason given");
                return Err(Error::Other(format!(
                    "{what} is `{code}`: {why}; fix the cause (the log group, its resource policy), then deploy again"
                )));
            }
            Ok((code != "ACTIVE").then(|| code.to_string()))
        })
        .await
    }
}

#[async_trait]
impl Resource for Workspace {
    type Spec = WorkspaceSpec;

    fn address(&self) -> Address {
        Address::new("aws_prometheus_workspace.this")
    }

    fn name(&self) -> String {
        self.alias.clone()
    }

    fn access(&self) -> Vec<Access> {
        // AWS chooses a workspace's id; ours is found by its tags.
        let workspaces = || [arn("aps", "workspace/*")];
        vec![
            Access::unscoped(
                Need::Observe,
                "PrometheusList",
                &["aps:ListWorkspaces"],
                "aps:ListWorkspaces supports no resource-level permissions",
            ),
            Access::new(
                Need::Observe,
                "PrometheusWorkspace",
                &[
                    "aps:DescribeWorkspace",
                    "aps:DescribeLoggingConfiguration",
                    "aps:ListTagsForResource",
                ],
                workspaces(),
            ),
            Access::new(
                Need::Change,
                "PrometheusWorkspace",
                &[
                    "aps:CreateWorkspace",
                    "aps:TagResource",
                    "aps:UntagResource",
                    "aps:UpdateWorkspaceAlias",
                    "aps:CreateLoggingConfiguration",
                    "aps:UpdateLoggingConfiguration",
                    "aps:DeleteLoggingConfiguration",
                ],
                workspaces(),
            ),
            // The workspace's logs are a vended log delivery to the infrastructure's group.
            log_deliveries(Need::Change),
            Access::new(
                Need::Delete,
                "PrometheusWorkspace",
                &["aps:DeleteWorkspace", "aps:DeleteLoggingConfiguration"],
                workspaces(),
            ),
            // Deleting the logging configuration ends its log delivery.
            log_deliveries(Need::Delete),
        ]
    }

    fn desired(&self, cx: &Context, _inputs: &Inputs) -> Result<WorkspaceSpec> {
        Ok(WorkspaceSpec {
            alias: self.alias.clone(),
            log_group_arn: Some(with_star(&self.log_group_arn)),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(&self, cx: &Context, _inputs: &Inputs) -> Result<Observation<WorkspaceSpec>> {
        let Some((id, tags)) = self.find(cx).await? else {
            return Ok(Observation::Absent);
        };
        // The list may still show a workspace deleted minutes ago: the direct read decides.
        let w = match self
            .client
            .describe_workspace()
            .workspace_id(&id)
            .send()
            .await
        {
            Ok(w) => w,
            Err(e) if not_found(&e) => return Ok(Observation::Absent),
            Err(e) => return Err(Error::aws_on("aps", "DescribeWorkspace", &self.alias, &e)),
        };
        let w = w
            .workspace()
            .ok_or_else(|| Error::Other(format!("workspace {id}: no description")))?;
        if w.status().map(|s| s.status_code()) == Some(&WorkspaceStatusCode::Deleting) {
            return Ok(Observation::Absent);
        }
        let log_group_arn = self
            .logging(&id)
            .await?
            .map(|l| l.log_group_arn().to_string())
            .filter(|a| !a.is_empty());
        let mut outputs = Outputs::new();
        outputs.insert(WORKSPACE_ID.into(), id.clone().into());
        outputs.insert(WORKSPACE_ARN.into(), w.arn().into());
        outputs.insert(
            WORKSPACE_ENDPOINT.into(),
            w.prometheus_endpoint().unwrap_or_default().into(),
        );
        Ok(Observed::builder()
            .spec(WorkspaceSpec {
                alias: w.alias().unwrap_or_default().to_string(),
                log_group_arn,
                tags: tags.clone(),
            })
            .tags(tags)
            .outputs(outputs)
            .holds_data(true)
            .build()
            .present())
    }

    async fn create(&self, cx: &Context, desired: &WorkspaceSpec, _inputs: &Inputs) -> Result<()> {
        if let Some(id) = &self.workspace_id {
            return Err(Error::Config(format!(
                "monitoring.names.prometheus_workspace_id: no Prometheus workspace `{id}` in this account and region; correct the id, or remove it to let deploy make one"
            )));
        }
        let tags: HashMap<String, String> = desired
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // One token for this create and the SDK's retries of it: a lost answer is answered with
        // the same workspace, never a second one.
        let token = format!(
            "{}-{}",
            self.alias,
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let out = self
            .client
            .create_workspace()
            .alias(&desired.alias)
            .client_token(token)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| Error::aws_on("aps", "CreateWorkspace", &self.alias, &e))?;
        let id = out.workspace_id().to_string();
        self.wait_active(cx, &id).await?;
        self.set_logging(cx, &id, false, desired.log_group_arn.as_deref())
            .await?;
        // Found by listing only (AWS chooses its id): listed before the run ends, or the next
        // plan would not find it and propose a second one.
        let what = format!("Prometheus workspace {}", self.alias);
        layer_core::wait::until_listed(cx, &what, || async {
            Ok(self.find(cx).await?.is_some_and(|(found, _)| found == id))
        })
        .await
    }

    async fn update(
        &self,
        cx: &Context,
        desired: &WorkspaceSpec,
        observed: &Observed<WorkspaceSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let id = observed
            .outputs
            .get(WORKSPACE_ID)
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::Other(format!("workspace {}: no id observed", self.alias)))?
            .to_string();
        let arn = observed
            .outputs
            .get(WORKSPACE_ARN)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        if changes.touches(WorkspaceSpec::ALIAS) {
            self.client
                .update_workspace_alias()
                .workspace_id(&id)
                .alias(&desired.alias)
                .send()
                .await
                .map_err(|e| Error::aws_on("aps", "UpdateWorkspaceAlias", &self.alias, &e))?;
        }
        if changes.touches(WorkspaceSpec::LOG_GROUP_ARN) {
            self.set_logging(
                cx,
                &id,
                observed.spec.log_group_arn.is_some(),
                desired.log_group_arn.as_deref(),
            )
            .await?;
        }
        if changes.touches(WorkspaceSpec::TAGS) {
            let stale = layer_core::tags::stale_keys(&observed.tags, &desired.tags);
            if !stale.is_empty() {
                self.client
                    .untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(stale))
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("aps", "UntagResource", &self.alias, &e))?;
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
                .map_err(|e| Error::aws_on("aps", "TagResource", &self.alias, &e))?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Context, observed: &Observed<WorkspaceSpec>) -> Result<()> {
        let Some(id) = observed.outputs.get(WORKSPACE_ID).and_then(|v| v.as_str()) else {
            return Ok(());
        };
        self.set_logging(cx, id, observed.spec.log_group_arn.is_some(), None)
            .await?;
        match self.client.delete_workspace().workspace_id(id).send().await {
            Ok(_) => {}
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(Error::aws_on("aps", "DeleteWorkspace", &self.alias, &e)),
        }
        layer_core::wait::until(
            cx,
            &format!("Prometheus workspace {} to be deleted", self.alias),
            || async {
                match self
                    .client
                    .describe_workspace()
                    .workspace_id(id)
                    .send()
                    .await
                {
                    Ok(out) => Ok(Some(
                        out.workspace()
                            .and_then(|w| w.status())
                            .map(|s| s.status_code().as_str().to_string())
                            .unwrap_or_else(|| "DELETING".into()),
                    )),
                    Err(e) if not_found(&e) => Ok(None),
                    Err(e) => Err(Error::aws_on("aps", "DescribeWorkspace", &self.alias, &e)),
                }
            },
        )
        .await
    }
}
