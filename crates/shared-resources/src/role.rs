//! An IAM role with a typed trust policy and typed inline policies (the counterpart of
//! Terraform's `aws_iam_policy_document`), compared semantically with what IAM returns, and the
//! bounded retry a service needs while a role it was just given propagates.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;
use layer_core::access::{global_arn, Access, Need};
use layer_core::policy::PolicyDocument;
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

/// The output key under which a role's ARN is handed to dependents.
pub const ROLE_ARN: &str = "_role_arn";

/// The role's managed fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleSpec {
    /// Who may assume it.
    pub trust: PolicyDocument,
    /// Inline policies by name.
    pub policies: BTreeMap<String, PolicyDocument>,
    /// Tags.
    pub tags: Tags,
}

/// The inline policies of a role, from its dependencies' outputs (a workspace ARN, …).
pub type Policies = Arc<dyn Fn(&Inputs) -> Result<BTreeMap<String, PolicyDocument>> + Send + Sync>;

/// An IAM role.
#[derive(Clone, TypedBuilder)]
pub struct Role {
    client: Client,
    /// Its address key: `bedrock_logging` for `aws_iam_role.bedrock_logging`.
    #[builder(setter(into))]
    key: String,
    #[builder(setter(into))]
    name: String,
    #[builder(setter(into))]
    description: String,
    trust: PolicyDocument,
    policies: Policies,
    /// Resources whose outputs the policies read.
    #[builder(default)]
    depends_on: Vec<Address>,
}

fn not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("NoSuchEntity")
}

/// Tags in the IAM SDK's shape (roles and users).
pub fn iam_tags(tags: &Tags) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::Other(format!("building IAM tags: {e}")))
        })
        .collect()
}

impl Role {
    fn parse(&self, what: &str, text: &str) -> Result<PolicyDocument> {
        PolicyDocument::parse(text)
            .map_err(|e| Error::Other(format!("{what} of role {}: {e}", self.name)))
    }

    async fn put_policy(&self, name: &str, doc: &PolicyDocument) -> Result<()> {
        self.client
            .put_role_policy()
            .role_name(&self.name)
            .policy_name(name)
            .policy_document(doc.to_json_string())
            .send()
            .await
            .map_err(|e| Error::aws_on("iam", "PutRolePolicy", &self.name, &e))?;
        Ok(())
    }

    async fn delete_policy(&self, name: &str) -> Result<()> {
        match self
            .client
            .delete_role_policy()
            .role_name(&self.name)
            .policy_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(Error::aws_on("iam", "DeleteRolePolicy", &self.name, &e)),
        }
    }

    async fn inline_policy_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .client
                .list_role_policies()
                .role_name(&self.name)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| Error::aws_on("iam", "ListRolePolicies", &self.name, &e))?;
            names.extend(page.policy_names().iter().cloned());
            match page.marker() {
                Some(m) if page.is_truncated() => marker = Some(m.to_string()),
                _ => return Ok(names),
            }
        }
    }
}

#[async_trait]
impl Resource for Role {
    type Spec = RoleSpec;

    fn address(&self) -> Address {
        Address::new(format!("aws_iam_role.{}", self.key))
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        let role = || [global_arn("iam", &format!("role/{}", self.name))];
        vec![
            Access::new(
                Need::Observe,
                "IamRoles",
                &[
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:ListRolePolicies",
                    "iam:ListRoleTags",
                ],
                role(),
            ),
            Access::new(
                Need::Change,
                "IamRoles",
                &[
                    "iam:CreateRole",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:UpdateAssumeRolePolicy",
                ],
                role(),
            ),
            Access::new(
                Need::Delete,
                "IamRoles",
                &[
                    "iam:ListRolePolicies",
                    "iam:DeleteRolePolicy",
                    "iam:ListAttachedRolePolicies",
                    "iam:DetachRolePolicy",
                    "iam:DeleteRole",
                ],
                role(),
            ),
        ]
    }

    fn depends_on(&self) -> Vec<Address> {
        self.depends_on.clone()
    }

    fn desired(&self, cx: &Context, inputs: &Inputs) -> Result<RoleSpec> {
        Ok(RoleSpec {
            trust: self.trust.clone(),
            policies: (self.policies)(inputs)?,
            tags: cx.tags.clone(),
        })
    }

    async fn observe(&self, _cx: &Context, _inputs: &Inputs) -> Result<Observation<RoleSpec>> {
        let n = &self.name;
        let role = match self.client.get_role().role_name(n).send().await {
            Ok(out) => out.role,
            Err(e) if not_found(&e) => return Ok(Observation::Absent),
            Err(e) => return Err(Error::aws_on("iam", "GetRole", n, &e)),
        };
        let Some(role) = role else {
            return Ok(Observation::Absent);
        };
        let trust = self.parse(
            "trust policy",
            role.assume_role_policy_document().unwrap_or("{}"),
        )?;
        let mut policies = BTreeMap::new();
        for p in self.inline_policy_names().await? {
            let out = self
                .client
                .get_role_policy()
                .role_name(n)
                .policy_name(&p)
                .send()
                .await
                .map_err(|e| Error::aws_on("iam", "GetRolePolicy", n, &e))?;
            let doc = self.parse(&format!("policy {p}"), out.policy_document())?;
            policies.insert(p, doc);
        }
        let tags: Tags = self
            .client
            .list_role_tags()
            .role_name(n)
            .send()
            .await
            .map_err(|e| Error::aws_on("iam", "ListRoleTags", n, &e))?
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let mut outputs = Outputs::new();
        outputs.insert(ROLE_ARN.into(), role.arn().into());
        Ok(Observed::builder()
            .spec(RoleSpec {
                trust,
                policies,
                tags: tags.clone(),
            })
            .tags(tags)
            .outputs(outputs)
            .build()
            .present())
    }

    async fn create(&self, _cx: &Context, desired: &RoleSpec, _inputs: &Inputs) -> Result<()> {
        self.client
            .create_role()
            .role_name(&self.name)
            .description(&self.description)
            .assume_role_policy_document(desired.trust.to_json_string())
            .set_tags(Some(iam_tags(&desired.tags)?))
            .send()
            .await
            .map_err(|e| {
                Error::on_create("iam:CreateRole", &self.name, &e, &["EntityAlreadyExists"])
            })?;
        for (name, doc) in &desired.policies {
            self.put_policy(name, doc).await?;
        }
        Ok(())
    }

    async fn update(
        &self,
        _cx: &Context,
        desired: &RoleSpec,
        observed: &Observed<RoleSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let n = &self.name;
        if changes.iter().any(|c| c.field().starts_with("trust")) {
            self.client
                .update_assume_role_policy()
                .role_name(n)
                .policy_document(desired.trust.to_json_string())
                .send()
                .await
                .map_err(|e| Error::aws_on("iam", "UpdateAssumeRolePolicy", n, &e))?;
        }
        for (name, doc) in &desired.policies {
            if observed.spec.policies.get(name) != Some(doc) {
                self.put_policy(name, doc).await?;
            }
        }
        for name in observed.spec.policies.keys() {
            if !desired.policies.contains_key(name) {
                self.delete_policy(name).await?;
            }
        }
        if observed.tags != desired.tags {
            let stale = layer_core::tags::stale_keys(&observed.tags, &desired.tags);
            if !stale.is_empty() {
                self.client
                    .untag_role()
                    .role_name(n)
                    .set_tag_keys(Some(stale))
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("iam", "UntagRole", n, &e))?;
            }
            self.client
                .tag_role()
                .role_name(n)
                .set_tags(Some(iam_tags(&desired.tags)?))
                .send()
                .await
                .map_err(|e| Error::aws_on("iam", "TagRole", n, &e))?;
        }
        Ok(())
    }

    async fn delete(&self, _cx: &Context, _observed: &Observed<RoleSpec>) -> Result<()> {
        let n = &self.name;
        for p in self.inline_policy_names().await? {
            self.delete_policy(&p).await?;
        }
        let attached = self
            .client
            .list_attached_role_policies()
            .role_name(n)
            .send()
            .await
            .map_err(|e| Error::aws_on("iam", "ListAttachedRolePolicies", n, &e))?;
        for p in attached.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                self.client
                    .detach_role_policy()
                    .role_name(n)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("iam", "DetachRolePolicy", n, &e))?;
            }
        }
        match self.client.delete_role().role_name(n).send().await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(Error::aws_on("iam", "DeleteRole", n, &e)),
        }
    }
}

/// How long a service may take to accept a role it was just given.
pub const PROPAGATION: Duration = Duration::from_secs(60);

/// Call `f` until it succeeds or fails with anything but the error `propagating` recognises (a
/// service that cannot assume a role yet answers with a specific validation error for a few
/// seconds after the role is created), for at most `limit`.
pub async fn while_role_propagates<T, E, F, Fut>(
    cx: &Context,
    limit: Duration,
    propagating: impl Fn(&E) -> bool,
    mut f: F,
) -> std::result::Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    let start = Instant::now();
    loop {
        match f().await {
            Err(e) if propagating(&e) && start.elapsed() < limit => {
                tracing::info!(
                    waited = ?start.elapsed(),
                    "the role is not usable yet (IAM propagation); retrying"
                );
                tokio::time::sleep(cx.wait.poll.min(Duration::from_secs(2))).await;
            }
            other => return other,
        }
    }
}
