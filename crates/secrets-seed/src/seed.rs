//! The seed step: fills the secrets that deploy leaves empty, without ever putting a value
//! anywhere but Secrets Manager.
//!
//! - A secret that has a value is skipped, decided from its version metadata. What looks unset
//!   or stale in the batch list is read again directly before anything is written, so a lagging
//!   list never causes an overwrite.
//! - `--force` rewrites generated values, except the keys that encrypt data at rest; those change
//!   only when named with `--rotate`.
//! - Derived secrets (the master password, the connection strings, the endpoint definitions)
//!   record the version of their source as a tag and follow it when it changes.
//! - The S3 user's access key is created once per need, never retried blindly, and replaced in
//!   two phases (create and store the new key, then delete the old).

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use futures::stream::{self, StreamExt};
use layer_core::{Error, Result, SecretValue};
use serde::Serialize;

use crate::catalog::{SecretDef, Source};
use crate::meta::{self, sm_err, SecretMeta, TAG_ACCESS_KEY, TAG_INPUTS, TAG_SOURCE_VERSION};
use crate::values::{self, Endpoint};

/// What seed needs to know about the layer, taken from deploy's outputs.
#[derive(Debug, Clone)]
pub struct SeedInputs {
    /// How the secrets are named.
    pub names: crate::SecretNames,
    /// Every secret.
    pub catalog: Vec<SecretDef>,
    /// The AWS-managed master secret (absent before the cluster exists).
    pub master_secret_arn: Option<String>,
    /// Where the connection strings point (absent before the cluster exists).
    pub endpoint: Option<Endpoint>,
    /// The S3 access user.
    pub s3_user: String,
    /// The endpoint-definitions template.
    pub template: String,
    /// Calls to run at once.
    pub concurrency: usize,
    /// Where each write's progress goes.
    pub progress: layer_core::progress::Progress,
}

/// The operator's choices.
#[derive(Debug, Clone, Default)]
pub struct SeedOptions {
    /// Rewrite generated values (never the keys that encrypt data at rest).
    pub force: bool,
    /// Rewrite exactly these, keys that encrypt data at rest included.
    pub rotate: Vec<String>,
}

/// A secret's state, from metadata only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum State {
    /// It holds a current value.
    Seeded,
    /// It holds no value yet.
    Unseeded,
    /// It was built from a source that has changed since.
    Stale(String),
    /// Only a person can set it.
    WaitingForAPerson,
    /// An infrastructure fact, written by deploy.
    Fact,
    /// Its container does not exist (or is scheduled for deletion): deploy first.
    NoContainer,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Seeded => f.write_str("seeded"),
            State::Unseeded => f.write_str("unseeded"),
            State::Stale(why) => write!(f, "stale: {why}"),
            State::WaitingForAPerson => f.write_str("waiting for a person"),
            State::Fact => f.write_str("written by deploy"),
            State::NoContainer => f.write_str("no container yet (deploy creates it)"),
        }
    }
}

/// The versions of the sources, as metadata.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The master secret's current version.
    pub master_version: Option<String>,
    /// When the master secret last changed (a rotation), as AWS says.
    pub master_changed: Option<std::time::SystemTime>,
    /// `litellm-proxy-master-key`'s current version.
    pub litellm_version: Option<String>,
    /// The S3 user's access keys (`None` when the user does not exist).
    pub access_keys: Option<Vec<String>>,
}

/// What seed did to one secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "reason")]
pub enum Outcome {
    /// It had no value and now has one.
    Set,
    /// It was left as it was.
    Unchanged,
    /// It was rewritten, for this reason.
    Rewritten(String),
    /// `--force` left it alone, for this reason.
    Kept(String),
    /// Only a person can set it.
    WaitingForAPerson,
    /// Written by deploy, not by seed.
    Fact,
    /// It could not be seeded.
    Failed(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Set => f.write_str("set"),
            Outcome::Unchanged => f.write_str("unchanged"),
            Outcome::Rewritten(why) => write!(f, "rewritten: {why}"),
            Outcome::Kept(why) => write!(f, "kept: {why}"),
            Outcome::WaitingForAPerson => f.write_str("waiting for a person"),
            Outcome::Fact => f.write_str("written by deploy"),
            Outcome::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// One line of the seed's table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The secret (spec name).
    pub secret: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What the operator must do next, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The seed's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedReport {
    /// Per secret, in catalog order.
    pub rows: Vec<Row>,
}

impl SeedReport {
    /// Whether any secret failed.
    pub fn failed(&self) -> bool {
        self.rows
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Failed(_)))
    }

    /// Whether anything was written.
    pub fn wrote(&self) -> bool {
        self.rows
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Set | Outcome::Rewritten(_)))
    }
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.rows.iter().map(|r| r.secret.len()).max().unwrap_or(6);
        writeln!(f, "{:width$}  result", "secret")?;
        for r in &self.rows {
            writeln!(f, "{:width$}  {}", r.secret, r.outcome)?;
            if let Some(n) = &r.note {
                writeln!(f, "{:width$}    note: {n}", "")?;
            }
        }
        let count = |p: fn(&Outcome) -> bool| self.rows.iter().filter(|r| p(&r.outcome)).count();
        write!(
            f,
            "Seed: {} set, {} rewritten, {} unchanged, {} waiting for a person, {} failed.",
            count(|o| matches!(o, Outcome::Set)),
            count(|o| matches!(o, Outcome::Rewritten(_))),
            count(|o| matches!(o, Outcome::Unchanged | Outcome::Kept(_))),
            count(|o| matches!(o, Outcome::WaitingForAPerson)),
            count(|o| matches!(o, Outcome::Failed(_))),
        )
    }
}

/// Check `--rotate` names before any call: each must be a secret that seed generates.
pub fn check_rotate(catalog: &[SecretDef], rotate: &[String]) -> Result<()> {
    for name in rotate {
        let Some(def) = catalog.iter().find(|d| &d.name == name) else {
            return Err(Error::Config(format!(
                "--rotate {name}: no such secret; choose one of {}",
                rotatable(catalog).join(", ")
            )));
        };
        if !matches!(
            def.source,
            Source::Generated { .. } | Source::AccessKeyId | Source::SecretAccessKey
        ) {
            return Err(Error::Config(format!(
                "--rotate {name}: this secret is not generated by seed ({}); choose one of {}",
                def.description(),
                rotatable(catalog).join(", ")
            )));
        }
    }
    Ok(())
}

fn rotatable(catalog: &[SecretDef]) -> Vec<&str> {
    catalog
        .iter()
        .filter(|d| {
            matches!(
                d.source,
                Source::Generated { .. } | Source::AccessKeyId | Source::SecretAccessKey
            )
        })
        .map(|d| d.name.as_str())
        .collect()
}

/// What rotating each named key that encrypts data at rest makes unreadable: one warning each.
pub fn rotation_warnings(catalog: &[SecretDef], rotate: &[String]) -> Vec<String> {
    catalog
        .iter()
        .filter(|d| d.at_rest() && rotate.contains(&d.name))
        .map(|d| {
            format!(
                "rotating `{}`: everything its consumer encrypted with the current key becomes unreadable, unless it is re-encrypted first",
                d.name
            )
        })
        .collect()
}

/// The digest of a derived secret's non-secret inputs.
fn inputs_digest(def: &SecretDef, endpoint: Option<&Endpoint>, template: &str) -> Option<String> {
    match &def.source {
        Source::MasterPassword => Some(values::digest_of(&[])),
        Source::ConnectionString { database } => endpoint.map(|e| {
            values::digest_of(&[
                &e.username,
                &e.host,
                &e.port.to_string(),
                database,
                &e.query,
            ])
        }),
        Source::EndpointDefinitions => Some(values::digest_of(&[template])),
        _ => None,
    }
}

/// Why a derived secret no longer follows its source; for the master password's copies, how long
/// ago it was rotated (consumers have read a password that no longer works since).
fn stale_source(def: &SecretDef, sources: &Sources) -> String {
    let changed = sources
        .master_changed
        .filter(|_| def.source != Source::EndpointDefinitions)
        .and_then(|t| std::time::SystemTime::now().duration_since(t).ok());
    match changed {
        Some(age) => format!(
            "the master password was rotated {} ago; this copy is stale until seed runs",
            humantime::format_duration(std::time::Duration::from_secs(age.as_secs()))
        ),
        None => "source changed".into(),
    }
}

/// A secret's state from its metadata and its sources' versions. Never reads a value.
pub fn assess(
    def: &SecretDef,
    meta: Option<&SecretMeta>,
    sources: &Sources,
    endpoint: Option<&Endpoint>,
    template: &str,
) -> State {
    let Some(m) = meta.filter(|m| !m.scheduled_for_deletion) else {
        return State::NoContainer;
    };
    match &def.source {
        Source::Fact(_) => State::Fact,
        Source::Manual if m.has_value() => State::Seeded,
        Source::Manual => State::WaitingForAPerson,
        Source::Generated { .. } if m.has_value() => State::Seeded,
        Source::Generated { .. } => State::Unseeded,
        Source::MasterPassword | Source::ConnectionString { .. } | Source::EndpointDefinitions => {
            if !m.has_value() {
                return State::Unseeded;
            }
            let source = if def.source == Source::EndpointDefinitions {
                &sources.litellm_version
            } else {
                &sources.master_version
            };
            if m.tag(TAG_SOURCE_VERSION) != source.as_deref() {
                return State::Stale(stale_source(def, sources));
            }
            if m.tag(TAG_INPUTS) != inputs_digest(def, endpoint, template).as_deref() {
                return State::Stale("endpoint or template changed".into());
            }
            State::Seeded
        }
        Source::AccessKeyId | Source::SecretAccessKey => {
            if !m.has_value() {
                return State::Unseeded;
            }
            match (m.tag(TAG_ACCESS_KEY), &sources.access_keys) {
                (None, _) => State::Stale("its access key is not recorded".into()),
                (Some(id), Some(keys)) if !keys.iter().any(|k| k == id) => {
                    State::Stale("its access key no longer exists".into())
                }
                _ => State::Seeded,
            }
        }
    }
}

/// Every secret's state, for plan: each secret's metadata read directly, the master secret's,
/// the user's keys.
pub async fn states(
    sm: &Client,
    iam: &aws_sdk_iam::Client,
    inputs: &SeedInputs,
) -> Result<Vec<(String, State)>> {
    let read = meta::describe_all(sm, catalog_names(inputs), inputs.concurrency).await?;
    let sources = read_sources(sm, iam, inputs).await?;
    let endpoint = inputs.endpoint.as_ref();
    let template = inputs.template.as_str();
    Ok(inputs
        .catalog
        .iter()
        .map(|d| {
            let m = read.get(&inputs.names.full(&d.name));
            let s = assess(d, m, &sources, endpoint, template);
            (d.name.clone(), s)
        })
        .collect())
}

async fn read_sources(
    sm: &Client,
    iam: &aws_sdk_iam::Client,
    inputs: &SeedInputs,
) -> Result<Sources> {
    let master = async {
        match &inputs.master_secret_arn {
            Some(arn) => Ok::<_, Error>(
                meta::describe(sm, arn)
                    .await?
                    .map(|m| (m.current_version, m.last_changed)),
            ),
            None => Ok(None),
        }
    };
    // The LiteLLM key's current version, read directly: a list may still show the version
    // before a rotation, and the endpoint definitions must follow the new one.
    let litellm = async {
        let name = inputs.names.full("litellm-proxy-master-key");
        Ok::<_, Error>(
            meta::describe(sm, &name)
                .await?
                .and_then(|m| m.current_version),
        )
    };
    let keys = async {
        let listed = crate::access_key::list_keys(iam, &inputs.s3_user).await?;
        let held = crate::access_key::held_ids(sm, inputs).await?;
        crate::access_key::confirmed_keys(iam, &inputs.s3_user, listed, &held).await
    };
    let (master_version, litellm_version, access_keys) = futures::join!(master, litellm, keys);
    let (master_version, master_changed) = master_version?.unwrap_or_default();
    Ok(Sources {
        master_version,
        master_changed,
        litellm_version: litellm_version?,
        access_keys: access_keys?,
    })
}

/// The full names of every secret of the catalog.
fn catalog_names(inputs: &SeedInputs) -> Vec<String> {
    inputs
        .catalog
        .iter()
        .map(|d| inputs.names.full(&d.name))
        .collect()
}

/// What to do with one secret.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Skip(Outcome),
    Write { first: bool, why: String },
}

fn decide(def: &SecretDef, state: &State, opts: &SeedOptions) -> Decision {
    let rotate = opts.rotate.contains(&def.name);
    match state {
        State::NoContainer => Decision::Skip(Outcome::Failed(
            "its container does not exist or is scheduled for deletion; run deploy first".into(),
        )),
        State::Fact => Decision::Skip(Outcome::Fact),
        State::WaitingForAPerson => Decision::Skip(Outcome::WaitingForAPerson),
        State::Unseeded => Decision::Write {
            first: true,
            why: String::new(),
        },
        State::Stale(why) => Decision::Write {
            first: false,
            why: why.clone(),
        },
        State::Seeded => match &def.source {
            Source::Manual => Decision::Skip(Outcome::Unchanged),
            _ if rotate => Decision::Write {
                first: false,
                why: "--rotate".into(),
            },
            Source::Generated { at_rest: true, .. } if opts.force => Decision::Skip(Outcome::Kept(
                "encrypts data at rest; name it with --rotate to change it".into(),
            )),
            _ if opts.force => Decision::Write {
                first: false,
                why: "--force".into(),
            },
            _ => Decision::Skip(Outcome::Unchanged),
        },
    }
}

fn outcome_of(first: bool, why: &str) -> Outcome {
    if first {
        Outcome::Set
    } else {
        Outcome::Rewritten(why.to_string())
    }
}

fn server_note(def: &SecretDef, first: bool) -> Option<String> {
    match def.source {
        Source::Generated {
            server: Some(server),
            ..
        } if !first => Some(format!(
            "change the password of {server} on the server too, or it stops matching"
        )),
        _ => None,
    }
}

/// Write a value as the new current version; returns the version id.
/// Run one secret's write, telling the progress sink when it starts and ends.
async fn reported<T>(
    inputs: &SeedInputs,
    d: &SecretDef,
    write: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    use layer_core::progress::{Event, Verb};
    let address = layer_core::Address::new(format!("secret.{}", d.name));
    let name = inputs.names.full(&d.name);
    let started = std::time::Instant::now();
    inputs.progress.send(Event::Started {
        address: address.clone(),
        name: name.clone(),
        verb: Verb::Seed,
    });
    let result = write.await;
    inputs.progress.send(Event::Finished {
        address,
        name,
        verb: Verb::Seed,
        elapsed: started.elapsed(),
        error: result.as_ref().err().map(ToString::to_string),
    });
    result
}

/// The permissions of [`seed`] and [`states`]: read the environment's secrets' metadata, write
/// their values and tags, read the sources of derived values (the AWS-managed master secret, whose
/// name `rds!cluster-<uuid>` is AWS's), and the secrets key that encrypts them all. The S3 key
/// pair's own are with [`crate::seed_access`].
pub fn access(
    names: &crate::SecretNames,
    secrets_kms_key_arn: &str,
) -> Vec<layer_core::access::Access> {
    use layer_core::access::{Access, Need};
    vec![
        Access::new(
            Need::Seed,
            "SecretsWrite",
            &[
                "secretsmanager:PutSecretValue",
                "secretsmanager:TagResource",
            ],
            names.arns(),
        ),
        // Sources of derived values: the master secret, and our own (the LiteLLM key).
        meta::read_access(Need::Seed, names),
        Access::new(
            Need::Seed,
            "SecretsKey",
            &["kms:GenerateDataKey", "kms:Decrypt"],
            [secrets_kms_key_arn.to_string()],
        ),
    ]
}

/// The permissions of [`states`] (which plan shows and verify checks): the secrets' metadata,
/// and the AWS-managed master secret's, whose version a derived secret follows.
pub fn states_access(names: &crate::SecretNames, s3_user: &str) -> Vec<layer_core::access::Access> {
    use layer_core::access::{arn, global_arn, Access, Need};
    vec![
        // A key the user's list does not show yet is confirmed directly.
        Access::new(
            Need::Observe,
            "S3AccessKeys",
            &["iam:GetAccessKeyLastUsed"],
            [global_arn("iam", &format!("user/{s3_user}"))],
        ),
        Access::new(
            Need::Observe,
            "SecretsMetadata",
            &["secretsmanager:DescribeSecret"],
            names
                .arns()
                .into_iter()
                .chain([arn("secretsmanager", "secret:rds!cluster-*")]),
        ),
    ]
}

pub(crate) async fn put(sm: &Client, name: &str, value: &SecretValue) -> Result<String> {
    let out = layer_core::log_guard::carrying(
        sm.put_secret_value()
            .secret_id(name)
            .secret_string(value.expose_secret())
            .send(),
    )
    .await
    .map_err(|e| sm_err("PutSecretValue", name, &e))?;
    out.version_id()
        .map(str::to_string)
        .ok_or_else(|| Error::Other(format!("PutSecretValue on {name}: no version id returned")))
}

pub(crate) async fn tag(sm: &Client, name: &str, tags: &[(&str, &str)]) -> Result<()> {
    sm.tag_resource()
        .secret_id(name)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| sm_err("TagResource", name, &e))?;
    Ok(())
}

pub(crate) async fn read_value(
    sm: &Client,
    id: &str,
    version: Option<&str>,
) -> Result<SecretValue> {
    let mut out = layer_core::log_guard::carrying(
        sm.get_secret_value()
            .secret_id(id)
            .set_version_id(version.map(str::to_string))
            .send(),
    )
    .await
    .map_err(|e| sm_err("GetSecretValue", id, &e))?;
    // Taken out of the answer, not copied: no second copy waits for the answer's drop.
    out.secret_string
        .take()
        .map(SecretValue::new)
        .ok_or_else(|| Error::Other(format!("{id} holds no text value")))
}

/// What to do with each of `defs`, from what was read directly.
fn decide_all<'a>(
    inputs: &SeedInputs,
    read: &BTreeMap<String, SecretMeta>,
    defs: Vec<&'a SecretDef>,
    sources: &Sources,
    opts: &SeedOptions,
) -> Vec<(&'a SecretDef, Decision)> {
    let endpoint = inputs.endpoint.as_ref();
    let template = inputs.template.as_str();
    defs.into_iter()
        .map(|d| {
            let m = read.get(&inputs.names.full(&d.name));
            (
                d,
                decide(d, &assess(d, m, sources, endpoint, template), opts),
            )
        })
        .collect()
}

/// What writing one secret gave: its outcome and the version written, if any.
type Written = Result<(Outcome, Option<String>)>;

/// Run the seed step.
pub async fn seed(
    sm: &Client,
    iam: &aws_sdk_iam::Client,
    inputs: &SeedInputs,
    opts: &SeedOptions,
) -> Result<SeedReport> {
    check_rotate(&inputs.catalog, &opts.rotate)?;
    let full = |d: &SecretDef| inputs.names.full(&d.name);
    let read = meta::describe_all(sm, catalog_names(inputs), inputs.concurrency).await?;
    let mut sources = read_sources(sm, iam, inputs).await?;
    let endpoint = inputs.endpoint.as_ref();
    let template = inputs.template.as_str();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut written: BTreeMap<String, String> = BTreeMap::new();
    let row = |secret: &str, outcome: Outcome, note: Option<String>| Row {
        secret: secret.to_string(),
        outcome,
        note,
    };

    // Phase 1: generated and manual secrets (and facts, reported only).
    let phase1: Vec<&SecretDef> = inputs
        .catalog
        .iter()
        .filter(|d| {
            matches!(
                d.source,
                Source::Fact(_) | Source::Generated { .. } | Source::Manual
            )
        })
        .collect();
    let mut litellm_value: Option<SecretValue> = None;
    let results: Vec<(&SecretDef, Written, Option<SecretValue>)> =
        stream::iter(decide_all(inputs, &read, phase1, &sources, opts))
            .map(|(d, dec)| async move {
                match dec {
                    Decision::Skip(o) => (d, Ok((o, None)), None),
                    Decision::Write { first, why } => {
                        let Source::Generated { format, .. } = d.source else {
                            return (d, Ok((Outcome::Unchanged, None)), None);
                        };
                        let value = crate::generate::generate(format);
                        match reported(inputs, d, put(sm, &full(d), &value)).await {
                            Ok(v) => {
                                tracing::info!(secret = %d.name, "generated");
                                (d, Ok((outcome_of(first, &why), Some(v))), Some(value))
                            }
                            Err(e) => (d, Err(e), None),
                        }
                    }
                }
            })
            .buffer_unordered(inputs.concurrency)
            .collect()
            .await;
    for (d, res, value) in results {
        match res {
            Ok((outcome, version)) => {
                let first = outcome == Outcome::Set;
                if let Some(v) = version {
                    if d.name == "litellm-proxy-master-key" {
                        sources.litellm_version = Some(v.clone());
                        litellm_value = value;
                    }
                    written.insert(d.name.clone(), v);
                }
                let note = matches!(outcome, Outcome::Rewritten(_))
                    .then(|| server_note(d, first))
                    .flatten();
                rows.insert(d.name.clone(), row(&d.name, outcome, note));
            }
            Err(e) => {
                rows.insert(
                    d.name.clone(),
                    row(&d.name, Outcome::Failed(e.to_string()), None),
                );
            }
        }
    }

    // Phase 2: derived secrets, after their sources.
    let phase2: Vec<&SecretDef> = inputs.catalog.iter().filter(|d| d.is_derived()).collect();
    let decisions = decide_all(inputs, &read, phase2, &sources, opts);
    let needs_master = decisions.iter().any(|(d, dec)| {
        d.source != Source::EndpointDefinitions && matches!(dec, Decision::Write { .. })
    });
    let master_password = match (&inputs.master_secret_arn, needs_master) {
        (Some(arn), true) => Some(values::master_password(
            read_value(sm, arn, sources.master_version.as_deref()).await?,
        )?),
        _ => None,
    };
    let needs_litellm = decisions.iter().any(|(d, dec)| {
        d.source == Source::EndpointDefinitions && matches!(dec, Decision::Write { .. })
    });
    if needs_litellm && litellm_value.is_none() {
        if let Some(v) = &sources.litellm_version {
            let id = inputs.names.full("litellm-proxy-master-key");
            litellm_value = Some(read_value(sm, &id, Some(v)).await?);
        }
    }
    let build = |d: &SecretDef| -> Result<(SecretValue, String)> {
        match &d.source {
            Source::MasterPassword | Source::ConnectionString { .. } => {
                let (Some(pw), Some(v)) = (&master_password, &sources.master_version) else {
                    return Err(Error::Other(
                        "the Aurora cluster or its AWS-managed master secret does not exist yet; run deploy first".into(),
                    ));
                };
                let value = match &d.source {
                    Source::ConnectionString { database } => {
                        let ep = endpoint.ok_or_else(|| {
                            Error::Other(
                                "the Aurora cluster's endpoint is not known yet; run deploy first"
                                    .into(),
                            )
                        })?;
                        values::connection_string(ep, database, pw)?
                    }
                    _ => pw.clone(),
                };
                Ok((value, v.clone()))
            }
            Source::EndpointDefinitions => {
                let (Some(key), Some(v)) = (&litellm_value, &sources.litellm_version) else {
                    return Err(Error::Other(
                        "litellm-proxy-master-key has no value yet".into(),
                    ));
                };
                Ok((values::endpoint_definitions(template, key)?, v.clone()))
            }
            _ => Err(Error::Other(format!("{} is not derived", d.name))),
        }
    };
    let results: Vec<(&SecretDef, Written)> = stream::iter(decisions)
        .map(|(d, dec)| {
            let build = &build;
            async move {
                let (first, why) = match dec {
                    Decision::Skip(o) => return (d, Ok((o, None))),
                    Decision::Write { first, why } => (first, why),
                };
                let res = reported(inputs, d, async {
                    let (value, source_version) = build(d)?;
                    let name = full(d);
                    // A stored value equal to the one built (a run killed between writing it and
                    // recording its source, a source that moved back) is only re-tagged: a new
                    // version would wake every consumer that watches the secret for nothing.
                    // `--force` asks for a rewrite, and gets one.
                    let same = !first
                        && !opts.force
                        && read_value(sm, &name, None)
                            .await
                            .is_ok_and(|current| current.same_as(&value));
                    let version = if same {
                        None
                    } else {
                        Some(put(sm, &name, &value).await?)
                    };
                    drop(value);
                    let digest = inputs_digest(d, endpoint, template).unwrap_or_default();
                    tag(
                        sm,
                        &name,
                        &[(TAG_SOURCE_VERSION, &source_version), (TAG_INPUTS, &digest)],
                    )
                    .await?;
                    if version.is_none() {
                        tracing::info!(secret = %d.name, "already holds what its source gives: re-tagged");
                        return Ok((Outcome::Unchanged, None));
                    }
                    tracing::info!(secret = %d.name, "built from its source");
                    Ok((outcome_of(first, &why), version))
                })
                .await;
                (d, res)
            }
        })
        .buffer_unordered(inputs.concurrency)
        .collect()
        .await;
    for (d, res) in results {
        let r = match res {
            Ok((o, v)) => {
                if let Some(v) = v {
                    written.insert(d.name.clone(), v);
                }
                row(&d.name, o, None)
            }
            Err(e) => row(&d.name, Outcome::Failed(e.to_string()), None),
        };
        rows.insert(d.name.clone(), r);
    }

    // Phase 3: the S3 user's access key.
    for r in crate::access_key::seed(sm, iam, inputs, opts, &sources, &mut written).await {
        rows.insert(r.secret.clone(), r);
    }

    // Confirm what this run wrote by direct reads.
    let checks: Vec<(String, Result<Option<SecretMeta>>)> = stream::iter(written.clone())
        .map(|(secret, _)| async move {
            let m = meta::describe(sm, &inputs.names.full(&secret)).await;
            (secret, m)
        })
        .buffer_unordered(inputs.concurrency)
        .collect()
        .await;
    for (secret, m) in checks {
        let expected = written.get(&secret);
        let current = m.map(|m| m.and_then(|m| m.current_version));
        if !matches!(&current, Ok(c) if c.as_ref() == expected) {
            rows.insert(
                secret.clone(),
                row(
                    &secret,
                    Outcome::Failed(
                        "the value written is not the current version; run seed again".into(),
                    ),
                    None,
                ),
            );
        }
    }

    let order: BTreeMap<&str, usize> = inputs
        .catalog
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.as_str(), i))
        .collect();
    let mut rows: Vec<Row> = rows.into_values().collect();
    rows.sort_by_key(|r| order.get(r.secret.as_str()).copied().unwrap_or(usize::MAX));
    Ok(SeedReport { rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::catalog;

    fn meta(version: Option<&str>, tags: &[(&str, &str)]) -> SecretMeta {
        SecretMeta {
            name: "n".into(),
            arn: "a".into(),
            kms_key_id: None,
            description: None,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            scheduled_for_deletion: false,
            current_version: version.map(str::to_string),
            last_changed: None,
        }
    }

    fn def(name: &str) -> SecretDef {
        catalog(&["chat".to_string()])
            .into_iter()
            .find(|d| d.name == name)
            .unwrap()
    }

    #[test]
    fn force_keeps_keys_that_encrypt_data_at_rest_and_rotate_names_them() {
        let force = SeedOptions {
            force: true,
            rotate: vec![],
        };
        let k = def("encryption-key-ingestion");
        assert!(matches!(
            decide(&k, &State::Seeded, &force),
            Decision::Skip(Outcome::Kept(_))
        ));
        let p = def("rabbitmq-password-chat");
        assert!(matches!(
            decide(&p, &State::Seeded, &force),
            Decision::Write { first: false, .. }
        ));
        let rotate = SeedOptions {
            force: false,
            rotate: vec!["encryption-key-ingestion".into()],
        };
        assert!(matches!(
            decide(&k, &State::Seeded, &rotate),
            Decision::Write { .. }
        ));
        assert_eq!(
            decide(&p, &State::Seeded, &rotate),
            Decision::Skip(Outcome::Unchanged)
        );
        assert_eq!(
            decide(
                &def("manual-zitadel-scope-mgmt-pat"),
                &State::Seeded,
                &force
            ),
            Decision::Skip(Outcome::Unchanged)
        );
    }

    #[test]
    fn derived_secrets_are_stale_when_their_source_moves() {
        let ep = Endpoint {
            username: "dbadmin".into(),
            host: "h".into(),
            port: 5432,
            query: String::new(),
        };
        let d = def("psql-connection-string-chat");
        let digest = inputs_digest(&d, Some(&ep), "t").unwrap();
        let src = Sources {
            master_version: Some("v1".into()),
            ..Default::default()
        };
        let m = meta(
            Some("x"),
            &[(TAG_SOURCE_VERSION, "v1"), (TAG_INPUTS, &digest)],
        );
        assert_eq!(assess(&d, Some(&m), &src, Some(&ep), "t"), State::Seeded);
        let moved = Sources {
            master_version: Some("v2".into()),
            ..Default::default()
        };
        assert!(matches!(
            assess(&d, Some(&m), &moved, Some(&ep), "t"),
            State::Stale(_)
        ));
        // A rotation's age is said.
        let rotated = Sources {
            master_version: Some("v2".into()),
            master_changed: Some(
                std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86_400 + 5),
            ),
            ..Default::default()
        };
        assert_eq!(
            assess(&d, Some(&m), &rotated, Some(&ep), "t"),
            State::Stale(
                "the master password was rotated 3days 5s ago; this copy is stale until seed runs"
                    .into()
            )
        );
        let other_host = Endpoint {
            host: "h2".into(),
            ..ep.clone()
        };
        assert!(matches!(
            assess(&d, Some(&m), &src, Some(&other_host), "t"),
            State::Stale(_)
        ));
        assert_eq!(
            assess(&d, Some(&meta(None, &[])), &src, Some(&ep), "t"),
            State::Unseeded
        );
        assert_eq!(assess(&d, None, &src, Some(&ep), "t"), State::NoContainer);
    }

    #[test]
    fn rotate_accepts_generated_secrets_only() {
        let c = catalog(&[]);
        assert!(check_rotate(&c, &["litellm-salt-key".into()]).is_ok());
        assert!(check_rotate(&c, &["s3-secret-access-key".into()]).is_ok());
        let e = check_rotate(&c, &["psql-password".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not generated by seed"), "{e}");
        let e = check_rotate(&c, &["nope".into()]).unwrap_err().to_string();
        assert!(
            e.contains("no such secret") && e.contains("litellm-salt-key"),
            "{e}"
        );
    }
}
