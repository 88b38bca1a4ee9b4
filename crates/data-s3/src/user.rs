//! The chat service's S3 access IAM user and its inline policy. Its access keys are made by the
//! seed step; teardown deletes them before the user, as IAM requires.

use async_trait::async_trait;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::Client;
use layer_core::access::{global_arn, Access, Need};
use layer_core::diff::Changes as _;
use layer_core::policy::{Effect, PolicyDocument, Statement};
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use shared_resources::iam_tags;
use typed_builder::TypedBuilder;

/// The inline policy's name.
pub const POLICY_NAME: &str = "s3-access";

/// The user's managed fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessUserSpec {
    /// The inline policy.
    pub policy: Option<PolicyDocument>,
    /// Tags.
    pub tags: Tags,
}

layer_core::spec_fields!(AccessUserSpec {
    TAGS: tags,
    POLICY: policy
});

/// The S3 access user.
#[derive(Debug, Clone, TypedBuilder)]
pub struct AccessUser {
    client: Client,
    name: String,
    kms_key_arn: String,
}

/// The user's policy: object access and listing on both buckets, and the general key for SSE-KMS.
pub fn user_policy(bucket_arns: &[String], kms_key_arn: &str) -> PolicyDocument {
    PolicyDocument::new([
        Statement::new(Effect::Allow)
            .sid("Objects")
            .actions(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])
            .resources(bucket_arns.iter().map(|a| format!("{a}/*"))),
        Statement::new(Effect::Allow)
            .sid("List")
            .actions(["s3:ListBucket"])
            .resources(bucket_arns.iter().cloned()),
        Statement::new(Effect::Allow)
            .sid("Kms")
            .actions(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"])
            .resources([kms_key_arn]),
    ])
}

fn not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("NoSuchEntity")
}

fn bucket_address(key: &str) -> Address {
    Address::new(format!("aws_s3_bucket.{key}"))
}

impl AccessUser {
    /// Put the user's policy. IAM can take a moment to know a user made just before, even in
    /// its own calls: `NoSuchEntity` is retried for a bounded time.
    async fn put_policy(&self, policy: &PolicyDocument) -> Result<()> {
        let what = format!("IAM user {}", self.name);
        layer_core::wait::while_unseen(
            &what,
            &["NoSuchEntity"],
            layer_core::wait::UNSEEN_LIMIT,
            || async {
                self.client
                    .put_user_policy()
                    .user_name(&self.name)
                    .policy_name(POLICY_NAME)
                    .policy_document(policy.to_json_string())
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("iam", "PutUserPolicy", &self.name, &e))?;
                Ok(())
            },
        )
        .await
    }

    async fn delete_dependents(&self) -> Result<()> {
        let n = &self.name;
        let keys = self
            .client
            .list_access_keys()
            .user_name(n)
            .send()
            .await
            .map_err(|e| Error::aws_on("iam", "ListAccessKeys", n, &e))?;
        for k in keys.access_key_metadata() {
            if let Some(id) = k.access_key_id() {
                self.client
                    .delete_access_key()
                    .user_name(n)
                    .access_key_id(id)
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("iam", "DeleteAccessKey", n, &e))?;
            }
        }
        let inline = self
            .client
            .list_user_policies()
            .user_name(n)
            .send()
            .await
            .map_err(|e| Error::aws_on("iam", "ListUserPolicies", n, &e))?;
        for p in inline.policy_names() {
            self.client
                .delete_user_policy()
                .user_name(n)
                .policy_name(p)
                .send()
                .await
                .map_err(|e| Error::aws_on("iam", "DeleteUserPolicy", n, &e))?;
        }
        let attached = self
            .client
            .list_attached_user_policies()
            .user_name(n)
            .send()
            .await
            .map_err(|e| Error::aws_on("iam", "ListAttachedUserPolicies", n, &e))?;
        for p in attached.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                self.client
                    .detach_user_policy()
                    .user_name(n)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("iam", "DetachUserPolicy", n, &e))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for AccessUser {
    type Spec = AccessUserSpec;

    fn address(&self) -> Address {
        Address::new("aws_iam_user.s3_access")
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        let user = || [global_arn("iam", &format!("user/{}", self.name))];
        vec![
            Access::new(
                Need::Observe,
                "S3AccessUser",
                &[
                    "iam:GetUser",
                    "iam:GetUserPolicy",
                    "iam:ListUserTags",
                    "iam:ListAccessKeys",
                ],
                user(),
            ),
            Access::new(
                Need::Change,
                "S3AccessUser",
                &[
                    "iam:CreateUser",
                    "iam:TagUser",
                    "iam:UntagUser",
                    "iam:PutUserPolicy",
                    "iam:DeleteUserPolicy",
                ],
                user(),
            ),
            Access::new(
                Need::Delete,
                "S3AccessUser",
                &[
                    "iam:ListAccessKeys",
                    "iam:DeleteAccessKey",
                    "iam:ListUserPolicies",
                    "iam:DeleteUserPolicy",
                    "iam:ListAttachedUserPolicies",
                    "iam:DetachUserPolicy",
                    "iam:DeleteUser",
                ],
                user(),
            ),
        ]
    }

    fn depends_on(&self) -> Vec<Address> {
        crate::BUCKETS.iter().map(|k| bucket_address(k)).collect()
    }

    fn desired(&self, cx: &Context, inputs: &Inputs) -> Result<AccessUserSpec> {
        let arns = crate::BUCKETS
            .iter()
            .map(|k| inputs.str(&bucket_address(k), &format!("s3_bucket_{k}_arn")))
            .collect::<Result<Vec<_>>>()?;
        Ok(AccessUserSpec {
            policy: Some(user_policy(&arns, &self.kms_key_arn)),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(
        &self,
        _cx: &Context,
        _inputs: &Inputs,
    ) -> Result<Observation<AccessUserSpec>> {
        let n = &self.name;
        let user = match self.client.get_user().user_name(n).send().await {
            Ok(out) => out.user,
            Err(e) if not_found(&e) => return Ok(Observation::Absent),
            Err(e) => return Err(Error::aws_on("iam", "GetUser", n, &e)),
        };
        let Some(user) = user else {
            return Ok(Observation::Absent);
        };
        let tags_req = self.client.list_user_tags().user_name(n).send();
        let policy_req = self
            .client
            .get_user_policy()
            .user_name(n)
            .policy_name(POLICY_NAME)
            .send();
        let (tags, policy) = futures::join!(tags_req, policy_req);
        let tags: Tags = tags
            .map_err(|e| Error::aws_on("iam", "ListUserTags", n, &e))?
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let policy = match policy {
            Ok(out) => Some(
                PolicyDocument::parse(out.policy_document())
                    .map_err(|e| Error::Other(format!("inline policy of {n}: {e}")))?,
            ),
            Err(e) if not_found(&e) => None,
            Err(e) => return Err(Error::aws_on("iam", "GetUserPolicy", n, &e)),
        };
        let mut outputs = Outputs::new();
        outputs.insert("s3_access_iam_user_name".into(), user.user_name().into());
        outputs.insert("s3_access_iam_user_arn".into(), user.arn().into());
        Ok(Observed::builder()
            .spec(AccessUserSpec {
                policy,
                tags: tags.clone(),
            })
            .tags(tags)
            .outputs(outputs)
            .build()
            .present())
    }

    async fn create(
        &self,
        _cx: &Context,
        desired: &AccessUserSpec,
        _inputs: &Inputs,
    ) -> Result<()> {
        match self
            .client
            .create_user()
            .user_name(&self.name)
            .set_tags(Some(iam_tags(&desired.tags)?))
            .send()
            .await
        {
            Ok(_) => {}
            // Ours (a lost answer, an interrupted run) is converged by the engine; anyone
            // else's is refused, never taken over.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                return Err(Error::AlreadyExists(format!("IAM user `{}`", self.name)))
            }
            Err(e) => return Err(Error::aws_on("iam", "CreateUser", &self.name, &e)),
        }
        if let Some(p) = &desired.policy {
            self.put_policy(p).await?;
        }
        Ok(())
    }

    async fn update(
        &self,
        _cx: &Context,
        desired: &AccessUserSpec,
        observed: &Observed<AccessUserSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let n = &self.name;
        if changes.touches(AccessUserSpec::TAGS) {
            let stale = layer_core::tags::stale_keys(&observed.tags, &desired.tags);
            if !stale.is_empty() {
                self.client
                    .untag_user()
                    .user_name(n)
                    .set_tag_keys(Some(stale))
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("iam", "UntagUser", n, &e))?;
            }
            self.client
                .tag_user()
                .user_name(n)
                .set_tags(Some(iam_tags(&desired.tags)?))
                .send()
                .await
                .map_err(|e| Error::aws_on("iam", "TagUser", n, &e))?;
        }
        if changes.touches(AccessUserSpec::POLICY) {
            match &desired.policy {
                Some(p) => self.put_policy(p).await?,
                None => {
                    self.client
                        .delete_user_policy()
                        .user_name(n)
                        .policy_name(POLICY_NAME)
                        .send()
                        .await
                        .map_err(|e| Error::aws_on("iam", "DeleteUserPolicy", n, &e))?;
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, _cx: &Context, _observed: &Observed<AccessUserSpec>) -> Result<()> {
        self.delete_dependents().await?;
        match self.client.delete_user().user_name(&self.name).send().await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(Error::aws_on("iam", "DeleteUser", &self.name, &e)),
        }
    }
}
