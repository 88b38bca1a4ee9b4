//! What Secrets Manager says about our secrets, without their values: versions and stages,
//! tags, key, deletion. Read in one batch (`ListSecrets`, paged) for planning, and directly
//! (`DescribeSecret`) for whatever this run wrote or is about to overwrite, since list calls lag
//! behind writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use aws_sdk_secretsmanager::Client;
use layer_core::resource::Context;
use layer_core::{Error, Result, Tags};

/// Tag keys seed writes on a secret; they belong to seed, not to the container's tags.
pub const SEED_TAG_PREFIX: &str = "seed:";
/// The version id (or ids) of the source a derived secret was built from.
pub const TAG_SOURCE_VERSION: &str = "seed:source-version";
/// A digest of the non-secret inputs a derived secret was built from (host, port, template).
pub const TAG_INPUTS: &str = "seed:inputs";
/// The access key id the S3 credential secrets hold.
pub const TAG_ACCESS_KEY: &str = "seed:access-key-id";

/// The stage of the version a secret's readers get.
pub const AWSCURRENT: &str = "AWSCURRENT";

/// One secret's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    /// Its full name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Its KMS key as reported.
    pub kms_key_id: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Its tags.
    pub tags: Tags,
    /// Whether it is scheduled for deletion.
    pub scheduled_for_deletion: bool,
    /// The version labelled `AWSCURRENT`: `None` while it holds no value.
    pub current_version: Option<String>,
    /// When it last changed (a value, a rotation), as AWS says.
    pub last_changed: Option<std::time::SystemTime>,
}

impl SecretMeta {
    /// Whether it holds a value.
    pub fn has_value(&self) -> bool {
        self.current_version.is_some()
    }

    /// A seed tag's value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn current_of(stages: Option<&HashMap<String, Vec<String>>>) -> Option<String> {
    stages?
        .iter()
        .find(|(_, s)| s.iter().any(|s| s == AWSCURRENT))
        .map(|(v, _)| v.clone())
}

/// The error of a Secrets Manager call on one secret.
pub(crate) fn sm_err<E: ProvideErrorMetadata + std::error::Error>(
    op: &str,
    name: &str,
    e: &E,
) -> Error {
    Error::aws(format!("secretsmanager:{op} on {name}"), e)
}

/// Read one secret's metadata directly. `None` when there is no such secret.
pub async fn describe(client: &Client, id: &str) -> Result<Option<SecretMeta>> {
    match client.describe_secret().secret_id(id).send().await {
        Ok(d) => Ok(Some(SecretMeta {
            name: d.name().unwrap_or(id).to_string(),
            arn: d.arn().unwrap_or_default().to_string(),
            kms_key_id: d.kms_key_id().map(str::to_string),
            description: d.description().map(str::to_string),
            tags: tags_of(d.tags()),
            scheduled_for_deletion: d.deleted_date().is_some(),
            current_version: current_of(d.version_ids_to_stages()),
            last_changed: d
                .last_changed_date()
                .and_then(|t| std::time::SystemTime::try_from(*t).ok()),
        })),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(sm_err("DescribeSecret", id, &e)),
    }
}

/// The ARN pattern of every secret under `prefix` (`{nid}/`): Secrets Manager adds six
/// characters of its own to each name.
pub fn secrets_arn(prefix: &str) -> String {
    layer_core::access::arn("secretsmanager", &format!("secret:{prefix}*"))
}

/// Reading the environment's secrets and the AWS-managed master secret (whose name,
/// `rds!cluster-<uuid>`, is AWS's): their metadata and values.
pub fn read_access(need: layer_core::access::Need, prefix: &str) -> layer_core::access::Access {
    layer_core::access::Access::new(
        need,
        "SecretsRead",
        &[
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
        ],
        [
            secrets_arn(prefix),
            layer_core::access::arn("secretsmanager", "secret:rds!cluster-*"),
        ],
    )
}

/// The permission [`list`] needs.
pub fn list_access(need: layer_core::access::Need) -> layer_core::access::Access {
    layer_core::access::Access::unscoped(
        need,
        "SecretsList",
        &["secretsmanager:ListSecrets"],
        "secretsmanager:ListSecrets supports no resource-level permissions",
    )
}

/// Every secret whose name starts with `prefix`, scheduled deletions included, in one paged list.
pub async fn list(client: &Client, prefix: &str) -> Result<BTreeMap<String, SecretMeta>> {
    let mut out = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_secrets()
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(prefix)
                    .build(),
            )
            .include_planned_deletion(true)
            .max_results(100)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| sm_err("ListSecrets", &format!("{prefix}*"), &e))?;
        for s in page.secret_list() {
            let Some(name) = s.name() else { continue };
            // The name filter matches prefixes case-insensitively: keep exact matches only.
            if !name.starts_with(prefix) {
                continue;
            }
            out.insert(
                name.to_string(),
                SecretMeta {
                    name: name.to_string(),
                    arn: s.arn().unwrap_or_default().to_string(),
                    kms_key_id: s.kms_key_id().map(str::to_string),
                    description: s.description().map(str::to_string),
                    tags: tags_of(s.tags()),
                    scheduled_for_deletion: s.deleted_date().is_some(),
                    current_version: current_of(s.secret_versions_to_stages()),
                    last_changed: s
                        .last_changed_date()
                        .and_then(|t| std::time::SystemTime::try_from(*t).ok()),
                },
            );
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

/// The batch view of one environment's secrets for one command, and the names this command
/// wrote (which are observed directly from then on).
#[derive(Debug)]
pub struct Index {
    listed: BTreeMap<String, SecretMeta>,
    written: Mutex<HashSet<String>>,
}

impl Index {
    /// The index of `prefix`, listed once per command (shared through the context's run cache).
    pub async fn of(cx: &Context, client: &Client, prefix: &str) -> Result<Arc<Index>> {
        cx.cache
            .get_or_load(&format!("secretsmanager:{prefix}"), || async {
                Ok(Index {
                    listed: list(client, prefix).await?,
                    written: Mutex::default(),
                })
            })
            .await
    }

    /// A secret's metadata: from the batch, or directly if this command wrote it or the batch
    /// lacks it (`ListSecrets` may not show what was created in the last minutes).
    pub async fn get(&self, client: &Client, name: &str) -> Result<Option<SecretMeta>> {
        match self.listed.get(name) {
            Some(m) if !self.was_written(name) => Ok(Some(m.clone())),
            _ => describe(client, name).await,
        }
    }

    /// The batch's view of a secret, without a call; `None` when the batch lacks it.
    pub fn listed(&self, name: &str) -> Option<&SecretMeta> {
        self.listed.get(name)
    }

    /// Remember that this command wrote `name`.
    pub fn mark_written(&self, name: &str) {
        self.written
            .lock()
            .expect("not poisoned")
            .insert(name.to_string());
    }

    fn was_written(&self, name: &str) -> bool {
        self.written.lock().expect("not poisoned").contains(name)
    }
}
