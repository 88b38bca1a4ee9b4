//! Model invocation logging: one configuration per account and region, which takes no tags. It
//! is ours when it points at our role and log group; one that points elsewhere (another team's
//! audit logging) is a conflict, shown in the plan and changed only with `--adopt`, and never
//! deleted by destroy.

use async_trait::async_trait;
use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_bedrock::types::{CloudWatchConfig, LoggingConfig};
use aws_sdk_bedrock::Client;
use layer_core::access::{Access, Need};
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Resource, Result, Tags};
use serde::Serialize;
use shared_resources::{while_role_propagates, LOG_GROUP_ARN, PROPAGATION, ROLE_ARN};
use typed_builder::TypedBuilder;

/// The configuration's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggingSpec {
    /// The CloudWatch Logs group.
    pub log_group: String,
    /// The role Bedrock writes with.
    pub role_arn: String,
    /// Text payloads delivered.
    pub text_data_delivery: bool,
    /// Image payloads delivered.
    pub image_data_delivery: bool,
    /// Embedding payloads delivered.
    pub embedding_data_delivery: bool,
}

/// The invocation logging configuration.
#[derive(Clone, TypedBuilder)]
pub struct InvocationLogging {
    client: Client,
    #[builder(setter(into))]
    log_group: String,
    log_group_address: Address,
    role_address: Address,
    /// Our role's ARN, known from its name: the configuration is ours when it points at it, even
    /// after the role itself is gone.
    #[builder(setter(into))]
    role_arn: String,
}

/// Bedrock's answer while it cannot use a role that was just created.
fn propagating<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ValidationException")
        && e.message()
            .is_some_and(|m| m.contains("Failed to validate permissions"))
}

#[async_trait]
impl Resource for InvocationLogging {
    type Spec = LoggingSpec;

    fn address(&self) -> Address {
        Address::new("aws_bedrock_model_invocation_logging_configuration.this")
    }

    fn name(&self) -> String {
        "model invocation logging".into()
    }

    fn access(&self) -> Vec<Access> {
        vec![
            Access::unscoped(
                Need::Observe,
                "BedrockLogging",
                &["bedrock:GetModelInvocationLoggingConfiguration"],
                "model invocation logging is a setting of the account and region, not a resource",
            ),
            Access::unscoped(
                Need::Change,
                "BedrockLogging",
                &["bedrock:PutModelInvocationLoggingConfiguration"],
                "model invocation logging is a setting of the account and region, not a resource",
            ),
            Access::unscoped(
                Need::Delete,
                "BedrockLogging",
                &["bedrock:DeleteModelInvocationLoggingConfiguration"],
                "model invocation logging is a setting of the account and region, not a resource",
            ),
            // Bedrock writes to the log group as the role the configuration names.
            Access::new(
                Need::Change,
                "PassRoles",
                &["iam:PassRole"],
                [self.role_arn.clone()],
            ),
        ]
    }

    fn depends_on(&self) -> Vec<Address> {
        vec![self.log_group_address.clone(), self.role_address.clone()]
    }

    fn desired(&self, _cx: &Context, inputs: &Inputs) -> Result<LoggingSpec> {
        // The group must exist before Bedrock validates it.
        inputs.str(&self.log_group_address, LOG_GROUP_ARN)?;
        Ok(LoggingSpec {
            log_group: self.log_group.clone(),
            role_arn: inputs.str(&self.role_address, ROLE_ARN)?,
            text_data_delivery: true,
            image_data_delivery: false,
            embedding_data_delivery: false,
        })
    }

    async fn observe(&self, cx: &Context, _inputs: &Inputs) -> Result<Observation<LoggingSpec>> {
        let out = self
            .client
            .get_model_invocation_logging_configuration()
            .send()
            .await
            .map_err(|e| {
                Error::aws_on("bedrock", "GetModelInvocationLoggingConfiguration", "", &e)
            })?;
        let Some(c) = out.logging_config() else {
            return Ok(Observation::Absent);
        };
        // One to S3 only is somebody's too: a conflict, never overwritten without --adopt.
        let cw = c.cloud_watch_config();
        if cw.is_none() && c.s3_config().is_none() {
            return Ok(Observation::Absent);
        }
        let spec = LoggingSpec {
            log_group: cw
                .map(|c| c.log_group_name().to_string())
                .unwrap_or_default(),
            role_arn: cw.map(|c| c.role_arn().to_string()).unwrap_or_default(),
            text_data_delivery: c.text_data_delivery_enabled().unwrap_or(false),
            image_data_delivery: c.image_data_delivery_enabled().unwrap_or(false),
            embedding_data_delivery: c.embedding_data_delivery_enabled().unwrap_or(false),
        };
        // No tags: it is ours when it points at our group and role (and nowhere else).
        let ours = spec.log_group == self.log_group
            && spec.role_arn == self.role_arn
            && c.s3_config().is_none();
        let tags = if ours { cx.tags.clone() } else { Tags::new() };
        Ok(Observed::builder().spec(spec).tags(tags).build().present())
    }

    async fn create(&self, cx: &Context, desired: &LoggingSpec, _inputs: &Inputs) -> Result<()> {
        let config = LoggingConfig::builder()
            .cloud_watch_config(
                CloudWatchConfig::builder()
                    .log_group_name(&desired.log_group)
                    .role_arn(&desired.role_arn)
                    .build()
                    .map_err(|e| {
                        Error::Other(format!("building the logging configuration: {e}"))
                    })?,
            )
            .text_data_delivery_enabled(desired.text_data_delivery)
            .image_data_delivery_enabled(desired.image_data_delivery)
            .embedding_data_delivery_enabled(desired.embedding_data_delivery)
            .build();
        while_role_propagates(cx, PROPAGATION, propagating, || {
            self.client
                .put_model_invocation_logging_configuration()
                .logging_config(config.clone())
                .send()
        })
        .await
        .map_err(|e| Error::aws_on("bedrock", "PutModelInvocationLoggingConfiguration", "", &e))?;
        Ok(())
    }

    async fn update(
        &self,
        cx: &Context,
        desired: &LoggingSpec,
        _observed: &Observed<LoggingSpec>,
        _changes: &[FieldChange],
        inputs: &Inputs,
    ) -> Result<()> {
        self.create(cx, desired, inputs).await
    }

    async fn delete(&self, _cx: &Context, _observed: &Observed<LoggingSpec>) -> Result<()> {
        self.client
            .delete_model_invocation_logging_configuration()
            .send()
            .await
            .map_err(|e| {
                Error::aws_on(
                    "bedrock",
                    "DeleteModelInvocationLoggingConfiguration",
                    "",
                    &e,
                )
            })?;
        Ok(())
    }
}
