//! A CloudWatch Logs group, created before the service that writes to it so that it gets our
//! KMS key and retention rather than the service's defaults.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::Client;
use layer_core::access::{arn, Access, Need};
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

/// The group's managed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogGroupSpec {
    /// The KMS key that encrypts it.
    pub kms_key: Option<String>,
    /// Retention in days.
    pub retention_days: Option<i32>,
    /// Tags.
    pub tags: Tags,
}

/// A log group.
#[derive(Debug, Clone, TypedBuilder)]
pub struct LogGroup {
    client: Client,
    /// Its address key, e.g. `aurora_postgresql` for `aws_cloudwatch_log_group.aurora_postgresql`.
    #[builder(setter(into))]
    key: String,
    #[builder(setter(into))]
    name: String,
    kms_key_arn: String,
    retention_days: i32,
    /// For a group whose name every deployment in the account would share (Bedrock's
    /// invocation log): what to do when another deployment owns it. Such a group is ours only
    /// with our naming id tag; one without it is adopted (`--adopt` adds the tag once).
    #[builder(default, setter(strip_option, into))]
    shared: Option<String>,
}

impl LogGroup {
    fn arn(&self, observed: &str) -> String {
        observed.trim_end_matches(":*").to_string()
    }
}

#[async_trait]
impl Resource for LogGroup {
    type Spec = LogGroupSpec;

    fn address(&self) -> Address {
        Address::new(format!("aws_cloudwatch_log_group.{}", self.key))
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn shared_name_advice(&self) -> String {
        match &self.shared {
            Some(advice) => advice.clone(),
            None => format!(
                "give `{}` another name in this environment's file",
                self.name
            ),
        }
    }

    fn access(&self) -> Vec<Access> {
        let group = [
            arn("logs", &format!("log-group:{}", self.name)),
            arn("logs", &format!("log-group:{}:*", self.name)),
        ];
        vec![
            Access::new(
                Need::Observe,
                "LogGroups",
                &["logs:DescribeLogGroups"],
                [arn("logs", "log-group:*")],
            ),
            Access::new(
                Need::Observe,
                "LogGroups",
                &["logs:ListTagsForResource"],
                group.clone(),
            ),
            Access::new(
                Need::Change,
                "LogGroups",
                &[
                    "logs:CreateLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy",
                    "logs:AssociateKmsKey",
                    "logs:DisassociateKmsKey",
                    "logs:TagResource",
                    "logs:UntagResource",
                ],
                group.clone(),
            ),
            Access::new(Need::Delete, "LogGroups", &["logs:DeleteLogGroup"], group),
        ]
    }

    fn desired(&self, cx: &Context, _inputs: &Inputs) -> Result<LogGroupSpec> {
        Ok(LogGroupSpec {
            kms_key: Some(self.kms_key_arn.clone()),
            retention_days: Some(self.retention_days),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(&self, _cx: &Context, _inputs: &Inputs) -> Result<Observation<LogGroupSpec>> {
        // By name, a direct read: a listing by prefix may not show a group made seconds ago.
        let out = self
            .client
            .describe_log_groups()
            .log_group_identifiers(&self.name)
            .send()
            .await
            .map_err(|e| Error::aws_on("logs", "DescribeLogGroups", &self.name, &e))?;
        let Some(g) = out
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(self.name.as_str()))
        else {
            return Ok(Observation::Absent);
        };
        let arn = self.arn(g.arn().unwrap_or_default());
        let tags: Tags = self
            .client
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| Error::aws_on("logs", "ListTagsForResource", &self.name, &e))?
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let spec = LogGroupSpec {
            kms_key: g.kms_key_id().map(str::to_string),
            retention_days: g.retention_in_days(),
            tags: tags.clone(),
        };
        // A shared name proves nothing: without our naming id, the group is not (yet) ours.
        let mut tags = tags;
        if self.shared.is_some() && !tags.contains_key(layer_core::tags::NAMING_ID) {
            tags.remove(layer_core::tags::MANAGED_BY);
        }
        let mut outputs = Outputs::new();
        outputs.insert(crate::LOG_GROUP_ARN.into(), arn.into());
        Ok(Observed::builder()
            .spec(spec)
            .tags(tags)
            .outputs(outputs)
            .build()
            .present())
    }

    async fn create(&self, cx: &Context, desired: &LogGroupSpec, _inputs: &Inputs) -> Result<()> {
        let tags: HashMap<String, String> = cx
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match self
            .client
            .create_log_group()
            .log_group_name(&self.name)
            .set_kms_key_id(desired.kms_key.clone())
            .set_tags(Some(tags))
            .send()
            .await
        {
            Ok(_) => {}
            // Ours (a lost answer, an interrupted run) is converged by the engine; anyone
            // else's is refused, never taken over.
            Err(e) if e.code() == Some("ResourceAlreadyExistsException") => {
                return Err(Error::AlreadyExists(format!("log group `{}`", self.name)))
            }
            Err(e) => return Err(Error::aws_on("logs", "CreateLogGroup", &self.name, &e)),
        }
        if let Some(days) = desired.retention_days {
            self.client
                .put_retention_policy()
                .log_group_name(&self.name)
                .retention_in_days(days)
                .send()
                .await
                .map_err(|e| Error::aws_on("logs", "PutRetentionPolicy", &self.name, &e))?;
        }
        Ok(())
    }

    async fn update(
        &self,
        _cx: &Context,
        desired: &LogGroupSpec,
        observed: &Observed<LogGroupSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let c = &self.client;
        let n = &self.name;
        let changed = |f: &str| changes.iter().any(|c| c.field() == f);
        if changed("kms_key") {
            match &desired.kms_key {
                Some(k) => c
                    .associate_kms_key()
                    .log_group_name(n)
                    .kms_key_id(k)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws_on("logs", "AssociateKmsKey", n, &e))?,
                None => c
                    .disassociate_kms_key()
                    .log_group_name(n)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws_on("logs", "DisassociateKmsKey", n, &e))?,
            }
        }
        if changed("retention_days") {
            match desired.retention_days {
                Some(d) => c
                    .put_retention_policy()
                    .log_group_name(n)
                    .retention_in_days(d)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws_on("logs", "PutRetentionPolicy", n, &e))?,
                None => c
                    .delete_retention_policy()
                    .log_group_name(n)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::aws_on("logs", "DeleteRetentionPolicy", n, &e))?,
            }
        }
        if changed("tags") {
            let arn = observed
                .outputs
                .get(crate::LOG_GROUP_ARN)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            let stale = layer_core::tags::stale_keys(&observed.tags, &desired.tags);
            if !stale.is_empty() {
                c.untag_resource()
                    .resource_arn(&arn)
                    .set_tag_keys(Some(stale))
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("logs", "UntagResource", n, &e))?;
            }
            let tags: HashMap<String, String> = desired
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            c.tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| Error::aws_on("logs", "TagResource", n, &e))?;
        }
        Ok(())
    }

    async fn delete(&self, _cx: &Context, _observed: &Observed<LogGroupSpec>) -> Result<()> {
        match self
            .client
            .delete_log_group()
            .log_group_name(&self.name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(Error::aws_on("logs", "DeleteLogGroup", &self.name, &e)),
        }
    }
}
