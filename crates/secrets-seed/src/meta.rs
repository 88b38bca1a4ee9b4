//! What Secrets Manager says about our secrets, without their values: versions and stages,
//! tags, key, deletion. Always read directly (`DescribeSecret`), never from `ListSecrets`, which
//! may lag minutes behind writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::Tag;
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
/// On a fact written by someone else: `<fact token>@<version id>`, the version found to hold it.
pub const TAG_FACT_CHECKED: &str = "seed:fact-checked";
/// On the S3 key secrets: the user's other keys when the pair was adopted (space-separated),
/// which serve someone else and are never deleted.
pub const TAG_KEPT_KEYS: &str = "seed:kept-keys";

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
        Err(e) => Err(Error::aws_on("secretsmanager", "DescribeSecret", id, &e)),
    }
}

/// Reading the environment's secrets and the AWS-managed master secret (whose name,
/// `rds!cluster-<uuid>`, is AWS's): their metadata and values.
pub fn read_access(
    need: layer_core::access::Need,
    names: &crate::SecretNames,
) -> layer_core::access::Access {
    layer_core::access::Access::new(
        need,
        "SecretsRead",
        &[
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
        ],
        names.arns().into_iter().chain([layer_core::access::arn(
            "secretsmanager",
            "secret:rds!cluster-*",
        )]),
    )
}

/// Every secret of `names`, read directly (`DescribeSecret`, `concurrency` at a time). AWS's API
/// reference says `ListSecrets` may not reflect the last five minutes' creations, changes and
/// deletions, so no decision rests on it: a container deployed a minute ago, a value just set, a
/// secret just deleted are all seen as they are.
pub async fn describe_all(
    client: &Client,
    names: impl IntoIterator<Item = String>,
    concurrency: usize,
) -> Result<BTreeMap<String, SecretMeta>> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    stream::iter(names)
        .map(|name| async move {
            let found = describe(client, &name).await?;
            Ok::<_, Error>(found.map(|m| (name, m)))
        })
        .buffered(concurrency.max(1))
        .try_filter_map(|found| async move { Ok(found) })
        .try_collect()
        .await
}

/// One command's view of the environment's secrets: each read directly once (see
/// [`describe_all`] for why not from a list), and again after this command wrote it.
#[derive(Debug)]
pub struct Index {
    read: Mutex<HashMap<String, Option<SecretMeta>>>,
    written: Mutex<HashSet<String>>,
}

impl Index {
    /// The index of `prefix` for this command (shared through the context's run cache).
    pub async fn of(cx: &Context, _client: &Client, prefix: &str) -> Result<Arc<Index>> {
        cx.cache
            .get_or_load(&format!("secretsmanager:{prefix}"), || async {
                Ok(Index {
                    read: Mutex::default(),
                    written: Mutex::default(),
                })
            })
            .await
    }

    /// A secret's metadata, read directly: once per command, and again after a write.
    pub async fn get(&self, client: &Client, name: &str) -> Result<Option<SecretMeta>> {
        if !self.was_written(name) {
            if let Some(m) = self.read.lock().expect("not poisoned").get(name) {
                return Ok(m.clone());
            }
        }
        let m = describe(client, name).await?;
        self.read
            .lock()
            .expect("not poisoned")
            .insert(name.to_string(), m.clone());
        Ok(m)
    }

    /// This command made the secret `m` describes, as `CreateSecret`'s answer says: as direct as a
    /// read, so the read-back after the create needs no call.
    pub fn made(&self, m: SecretMeta) {
        self.written.lock().expect("not poisoned").remove(&m.name);
        self.read
            .lock()
            .expect("not poisoned")
            .insert(m.name.clone(), Some(m));
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
