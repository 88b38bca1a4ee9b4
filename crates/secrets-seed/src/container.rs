//! The secret containers, part of `deploy`: every secret of the catalog, named `{nid}/{secret}`
//! (or as `[secrets]` names them, see `crate::names`), encrypted with the infrastructure layer's Secrets Manager key, tagged. The containers of
//! infrastructure facts also hold their value, written by deploy and rewritten when it drifts.
//!
//! A fact's version id is a digest of its value (the `ClientRequestToken`), so whether the value
//! is current is seen from metadata alone: the version labelled `AWSCURRENT` is that digest, or
//! a version someone else wrote that apply found holding the value (see `adopted_fact`).

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

use crate::catalog::SecretDef;
use crate::meta::{self, Index, SecretMeta, SEED_TAG_PREFIX};
use layer_core::access::{Access, Need};

/// Where a fact's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactValue {
    /// An output of another resource of the layer.
    Output {
        /// The resource.
        from: Address,
        /// Its output.
        key: String,
    },
    /// A value known from configuration.
    Known(String),
    /// A value that could not be read (a missing CA bundle file): planning a write of it fails
    /// with this message, while destroy, which never needs it, goes on.
    Unavailable(String),
}

/// A container's managed fields. Never a secret value: a fact is tracked by its version id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerSpec {
    /// The KMS key that encrypts it.
    pub kms_key_id: String,
    /// Its description.
    pub description: String,
    /// Tags (seed's own `seed:` tags excluded).
    pub tags: Tags,
    /// Whether it is scheduled for deletion.
    pub scheduled_for_deletion: bool,
    /// For a fact: the version that holds the fact's value (a digest of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fact_version: Option<String>,
}

layer_core::spec_fields!(ContainerSpec {
    SCHEDULED_FOR_DELETION: scheduled_for_deletion,
    FACT_VERSION: fact_version
});

/// One secret container.
#[derive(Debug, Clone, TypedBuilder)]
pub struct SecretContainer {
    client: Client,
    def: SecretDef,
    /// How the environment names its secrets.
    names: crate::SecretNames,
    kms_key_arn: String,
    recovery_window_days: u32,
    #[builder(default)]
    fact: Option<FactValue>,
}

/// The address of a secret's container.
pub fn address(secret: &str) -> Address {
    Address::new(format!("aws_secretsmanager_secret.{secret}"))
}

/// The output key under which a container gives its ARN.
pub fn arn_output(secret: &str) -> String {
    format!("_secret_arn/{secret}")
}

/// Whether a version id is one deploy wrote (`fact-<digest>`).
fn is_ours(version: &str) -> bool {
    version.starts_with("fact-")
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

impl SecretContainer {
    fn full_name(&self) -> String {
        self.names.full(&self.def.name)
    }

    fn fact_value(&self, inputs: &Inputs) -> Result<Option<String>> {
        Ok(match &self.fact {
            None => None,
            Some(FactValue::Known(v)) => Some(v.clone()),
            Some(FactValue::Unavailable(why)) => return Err(Error::Config(why.clone())),
            Some(FactValue::Output { from, key }) => {
                let v = inputs.str(from, key)?;
                if v.is_empty() {
                    return Err(Error::Unknown(format!("{from}.{key}")));
                }
                Some(v)
            }
        })
    }

    fn fact_token(&self, value: &str) -> String {
        format!(
            "fact-{}",
            crate::values::digest_of(&[&self.def.name, value])
        )
    }

    fn spec_of(&self, m: &SecretMeta) -> ContainerSpec {
        ContainerSpec {
            kms_key_id: m.kms_key_id.clone().unwrap_or_default(),
            description: m.description.clone().unwrap_or_default(),
            tags: m
                .tags
                .iter()
                .filter(|(k, _)| !k.starts_with(SEED_TAG_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            scheduled_for_deletion: m.scheduled_for_deletion,
            // A fact's version is `fact-<digest>`, or that and a suffix (see `write_fact`).
            fact_version: if self.fact.is_some() {
                m.current_version.as_ref().map(|v| {
                    let digest_len = "fact-".len() + 32;
                    match v.get(..digest_len) {
                        Some(head) if v.starts_with("fact-") => head.to_string(),
                        _ => crate::adopted_fact::recorded(m).unwrap_or_else(|| v.clone()),
                    }
                })
            } else {
                None
            },
        }
    }

    async fn index(&self, cx: &Context) -> Result<std::sync::Arc<Index>> {
        Index::of(cx, &self.client, self.names.prefix()).await
    }

    /// Write the fact's value as the version named by its digest. When that version already
    /// exists without being current (the value went back to an earlier one), PutSecretValue
    /// leaves it as it is: write it again under the digest and a suffix, which reads the same.
    async fn write_fact(&self, value: &str) -> Result<()> {
        let name = self.full_name();
        let token = self.fact_token(value);
        self.put_fact(&name, value, &token).await?;
        let current = meta::describe(&self.client, &name)
            .await?
            .and_then(|m| m.current_version);
        if current.as_deref() != Some(token.as_str()) {
            let suffix: u32 = rand::random();
            self.put_fact(&name, value, &format!("{token}-{suffix:08x}"))
                .await?;
        }
        Ok(())
    }

    async fn put_fact(&self, name: &str, value: &str, token: &str) -> Result<()> {
        layer_core::log_guard::carrying(
            self.client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .client_request_token(token)
                .send(),
        )
        .await
        .map_err(|e| Error::aws_on("secretsmanager", "PutSecretValue", name, &e))?;
        Ok(())
    }

    /// Bring an existing secret to `desired`, field by field.
    async fn converge(
        &self,
        desired: &ContainerSpec,
        observed: &SecretMeta,
        inputs: &Inputs,
    ) -> Result<()> {
        let name = self.full_name();
        let have = self.spec_of(observed);
        if have.scheduled_for_deletion && !desired.scheduled_for_deletion {
            self.client
                .restore_secret()
                .secret_id(&name)
                .send()
                .await
                .map_err(|e| Error::aws_on("secretsmanager", "RestoreSecret", &name, &e))?;
            // What seed built before the deletion may no longer follow its source: forget the
            // source it recorded, so the derived secret counts as stale until seed rewrites it.
            let seed_tags: Vec<String> = observed
                .tags
                .keys()
                .filter(|k| k.starts_with(SEED_TAG_PREFIX))
                .cloned()
                .collect();
            if !seed_tags.is_empty() {
                self.client
                    .untag_resource()
                    .secret_id(&name)
                    .set_tag_keys(Some(seed_tags))
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("secretsmanager", "UntagResource", &name, &e))?;
            }
        }
        if have.kms_key_id != desired.kms_key_id || have.description != desired.description {
            self.client
                .update_secret()
                .secret_id(&name)
                .kms_key_id(&desired.kms_key_id)
                .description(&desired.description)
                .send()
                .await
                .map_err(|e| Error::aws_on("secretsmanager", "UpdateSecret", &name, &e))?;
        }
        if have.tags != desired.tags {
            let stale = layer_core::tags::stale_keys(&have.tags, &desired.tags);
            if !stale.is_empty() {
                self.client
                    .untag_resource()
                    .secret_id(&name)
                    .set_tag_keys(Some(stale))
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("secretsmanager", "UntagResource", &name, &e))?;
            }
            self.client
                .tag_resource()
                .secret_id(&name)
                .set_tags(Some(sdk_tags(&desired.tags)))
                .send()
                .await
                .map_err(|e| Error::aws_on("secretsmanager", "TagResource", &name, &e))?;
        }
        if have.fact_version != desired.fact_version {
            if let Some(value) = self.fact_value(inputs)? {
                // Someone else's version that already holds the value is kept: a new version
                // would wake every consumer that watches the secret for nothing.
                let theirs = !have.fact_version.as_deref().is_some_and(is_ours);
                if theirs && crate::adopted_fact::holds(&self.client, observed, &value).await? {
                    crate::adopted_fact::record(&self.client, observed, &self.fact_token(&value))
                        .await?;
                } else {
                    self.write_fact(&value).await?;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for SecretContainer {
    type Spec = ContainerSpec;

    fn address(&self) -> Address {
        address(&self.def.name)
    }

    fn name(&self) -> String {
        self.full_name()
    }

    fn access(&self) -> Vec<Access> {
        let mut out = vec![
            Access::new(
                Need::Observe,
                "SecretsContainers",
                &["secretsmanager:DescribeSecret"],
                self.names.arns(),
            ),
            Access::new(
                Need::Change,
                "SecretsContainers",
                &[
                    "secretsmanager:CreateSecret",
                    "secretsmanager:UpdateSecret",
                    "secretsmanager:RestoreSecret",
                    "secretsmanager:TagResource",
                    "secretsmanager:UntagResource",
                ],
                self.names.arns(),
            ),
            Access::new(
                Need::Delete,
                "SecretsContainers",
                &["secretsmanager:DeleteSecret"],
                self.names.arns(),
            ),
            // A container is encrypted with the secrets key from its creation.
            Access::new(
                Need::Change,
                "SecretsKey",
                &["kms:GenerateDataKey", "kms:Decrypt"],
                [self.kms_key_arn.clone()],
            ),
        ];
        if self.fact.is_some() {
            out.push(crate::adopted_fact::access(&self.full_name()));
            // Deploy writes the infrastructure facts (hosts, ports, bucket names) itself.
            out.push(Access::new(
                Need::Change,
                "SecretsContainers",
                &["secretsmanager:PutSecretValue"],
                self.names.arns(),
            ));
        }
        out
    }

    fn depends_on(&self) -> Vec<Address> {
        match &self.fact {
            Some(FactValue::Output { from, .. }) => vec![from.clone()],
            _ => Vec::new(),
        }
    }

    fn desired(&self, cx: &Context, inputs: &Inputs) -> Result<ContainerSpec> {
        Ok(ContainerSpec {
            kms_key_id: self.kms_key_arn.clone(),
            description: self.def.description(),
            tags: cx.tags.clone(),
            scheduled_for_deletion: false,
            fact_version: self.fact_value(inputs)?.map(|v| self.fact_token(&v)),
        })
    }

    async fn observe(&self, cx: &Context, _inputs: &Inputs) -> Result<Observation<ContainerSpec>> {
        let index = self.index(cx).await?;
        let Some(m) = index.get(&self.client, &self.full_name()).await? else {
            return Ok(Observation::Absent);
        };
        let spec = self.spec_of(&m);
        let mut outputs = Outputs::new();
        outputs.insert(arn_output(&self.def.name), m.arn.clone().into());
        Ok(Observed::builder()
            .spec(spec)
            .tags(m.tags.clone())
            .outputs(outputs)
            .holds_data(m.has_value())
            .build()
            .present())
    }

    fn update_note(&self, changes: &[FieldChange]) -> Option<String> {
        if changes
            .iter()
            .any(|c| c.is(ContainerSpec::SCHEDULED_FOR_DELETION))
        {
            return Some(format!(
                "`{}` is scheduled for deletion: apply restores it{}",
                self.full_name(),
                if self.def.is_derived() {
                    ", and seed rewrites it from its source"
                } else {
                    ""
                }
            ));
        }
        changes
            .iter()
            .any(|c| c.is(ContainerSpec::FACT_VERSION))
            .then(|| {
                format!(
                    "the value of `{}` was not written by deploy, or no longer matches the infrastructure: apply reads it once and rewrites it only if it differs",
                    self.full_name()
                )
            })
    }

    fn pending_deletion(&self, observed: &Observed<ContainerSpec>) -> bool {
        observed.spec.scheduled_for_deletion
    }

    async fn create(&self, cx: &Context, desired: &ContainerSpec, inputs: &Inputs) -> Result<()> {
        let name = self.full_name();
        let index = self.index(cx).await?;
        index.mark_written(&name);
        let value = self.fact_value(inputs)?;
        let mut req = self
            .client
            .create_secret()
            .name(&name)
            .kms_key_id(&desired.kms_key_id)
            .description(&desired.description)
            .set_tags(Some(sdk_tags(&desired.tags)));
        if let Some(v) = &value {
            req = req
                .secret_string(v)
                .client_request_token(self.fact_token(v));
        }
        // AWS frees the name of a secret deleted without recovery in the background, and says
        // to retry a create of that name meanwhile.
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(100);
        loop {
            let e = match req.clone().send().await {
                Ok(out) => {
                    // AWS made it as asked, atomically: the answer says the rest.
                    if let Some(arn) = out.arn() {
                        index.made(SecretMeta {
                            name: name.clone(),
                            arn: arn.to_string(),
                            kms_key_id: Some(desired.kms_key_id.clone()),
                            description: Some(desired.description.clone()),
                            tags: desired.tags.clone(),
                            scheduled_for_deletion: false,
                            current_version: out.version_id().map(str::to_string),
                            last_changed: None,
                        });
                    }
                    return Ok(());
                }
                Err(e) => e,
            };
            let taken = e.code() == Some("InvalidRequestException");
            if !taken && e.code() != Some("ResourceExistsException") {
                return Err(Error::aws_on("secretsmanager", "CreateSecret", &name, &e));
            }
            // Made by an earlier, interrupted run (or a lost response), or scheduled for
            // deletion: converge what is there, if it is ours.
            let Some(m) = meta::describe(&self.client, &name).await? else {
                if taken && started.elapsed() < layer_core::wait::UNSEEN_LIMIT {
                    tracing::debug!(secret = %name, "the name is still being freed; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                    continue;
                }
                return Err(Error::aws_on("secretsmanager", "CreateSecret", &name, &e));
            };
            if !layer_core::tags::is_owned(&m.tags, &cx.tags) {
                return Err(Error::Other(format!(
                    "secret `{name}` exists without our tags; run plan, then deploy with --adopt to take it over"
                )));
            }
            return self.converge(desired, &m, inputs).await;
        }
    }

    async fn update(
        &self,
        cx: &Context,
        desired: &ContainerSpec,
        _observed: &Observed<ContainerSpec>,
        _changes: &[FieldChange],
        inputs: &Inputs,
    ) -> Result<()> {
        let name = self.full_name();
        let index = self.index(cx).await?;
        // Converge from a fresh read: the plan's view came from a list call.
        let Some(m) = meta::describe(&self.client, &name).await? else {
            return Err(Error::Other(format!(
                "secret `{name}` disappeared since plan; run deploy again"
            )));
        };
        index.mark_written(&name);
        self.converge(desired, &m, inputs).await
    }

    async fn delete(&self, _cx: &Context, observed: &Observed<ContainerSpec>) -> Result<()> {
        if observed.spec.scheduled_for_deletion {
            return Ok(());
        }
        let name = self.full_name();
        let mut req = self.client.delete_secret().secret_id(&name);
        req = if self.recovery_window_days == 0 {
            req.force_delete_without_recovery(true)
        } else {
            req.recovery_window_in_days(i64::from(self.recovery_window_days))
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(Error::aws_on("secretsmanager", "DeleteSecret", &name, &e)),
        }
    }
}
