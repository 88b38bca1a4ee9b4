//! The seed step's shared vocabulary, used by the seed of every secret and by the access key's:
//! what seed is given, a secret's state judged from its metadata alone (`assess`), and what each
//! row reports.

use std::fmt;

use serde::Serialize;

use crate::catalog::{SecretDef, Source};
use crate::meta::{SecretMeta, TAG_ACCESS_KEY, TAG_INPUTS, TAG_SOURCE_VERSION};
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

/// The digest of a derived secret's non-secret inputs.
pub(crate) fn inputs_digest(
    def: &SecretDef,
    endpoint: Option<&Endpoint>,
    template: &str,
) -> Option<String> {
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
