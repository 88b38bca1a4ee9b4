//! Secrets: the Secrets Manager containers and infrastructure facts (part of `deploy`), and the
//! seed step that fills the rest, with no secret value anywhere but Secrets Manager.
//!
//! - [`catalog`](mod@catalog): every secret of the spec's table, what fills it, and whether `--force` may
//!   overwrite it.
//! - [`container`]: the containers as resources of the core's contract; facts carry their value,
//!   tracked by a version id that is a digest of it, so drift is seen from metadata.
//! - [`seed`]: the idempotent seed step, with derived secrets that follow their sources.
//! - [`meta`]: what Secrets Manager says about a secret, never its value.
//! - [`lock`]: the run lock, a lease on a secret that holds no value.
//!
//! This crate owns the `[secrets]` section and `aws-sdk-secretsmanager`. It depends on no other
//! family: the values it writes from other resources arrive as their outputs.

mod access_key;
mod adopted_fact;
pub mod catalog;
pub mod container;
pub mod fetch;
pub mod generate;
pub mod lock;
pub mod meta;
pub mod names;
pub mod seed;
mod settings;
pub mod step;
mod store;
pub mod values;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_types::SdkConfig;
use layer_core::config::{Environment, Infrastructure};
use layer_core::engine::AnyResource;
use layer_core::{Outputs, Result};

pub use catalog::{catalog, Fact, SecretDef, Source};
pub use container::{ContainerSpec, FactValue, SecretContainer};
pub use names::SecretNames;
pub use settings::{CaSource, SecretsSettings, LITELLM_KEY_PLACEHOLDER, MAX_SECRET_BYTES};
pub use step::{SeedInputs, SeedOptions, SeedReport, State};

/// The section of the environment files this crate owns.
pub const SECTION: &str = "secrets";

/// Reads secrets' values for `verify` and `bootstrap-db`: each value stays in a [`SecretValue`](layer_core::SecretValue).
///
/// Its calls carry values: a tool that imports this crate adds
/// [`SecretGuard`](layer_core::log_guard::SecretGuard) to its `tracing` subscriber, which keeps
/// every other crate's events (the SDK's request and response dumps among them) out of its logs
/// while they run.
#[derive(Debug, Clone)]
pub struct Reader {
    sm: aws_sdk_secretsmanager::Client,
    iam: aws_sdk_iam::Client,
}

impl Reader {
    /// A reader on `sdk`'s account and region.
    pub fn new(sdk: &SdkConfig) -> Self {
        Reader {
            sm: aws_sdk_secretsmanager::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
        }
    }

    /// The permissions of a reader: the environment's secrets and the AWS-managed master
    /// secret, the secrets key that decrypts them, the S3 access user's keys.
    pub fn access(
        names: &SecretNames,
        s3_user: &str,
        secrets_kms_key_arn: &str,
    ) -> Vec<layer_core::access::Access> {
        use layer_core::access::{global_arn, Access, Need};
        vec![
            meta::read_access(Need::Verify, names),
            Access::new(
                Need::Verify,
                "SecretsKey",
                &["kms:Decrypt"],
                [secrets_kms_key_arn.to_string()],
            ),
            Access::new(
                Need::Verify,
                "S3AccessKeys",
                &["iam:ListAccessKeys", "iam:GetAccessKeyLastUsed"],
                [global_arn("iam", &format!("user/{s3_user}"))],
            ),
        ]
    }

    /// A secret's current value; `None` when the secret does not exist or holds none.
    pub async fn value(&self, id: &str) -> Result<Option<layer_core::SecretValue>> {
        use aws_sdk_secretsmanager::error::ProvideErrorMetadata as _;
        let read = self.sm.get_secret_value().secret_id(id).send();
        match layer_core::log_guard::carrying(read).await {
            // Taken out of the answer, not copied.
            Ok(mut out) => Ok(out.secret_string.take().map(layer_core::SecretValue::new)),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(layer_core::Error::aws(
                format!("secretsmanager:GetSecretValue on {id}"),
                &e,
            )),
        }
    }

    /// The AWS-managed master secret's password.
    pub async fn master_password(&self, arn: &str) -> Result<Option<layer_core::SecretValue>> {
        match self.value(arn).await? {
            Some(v) => values::master_password(v).map(Some),
            None => Ok(None),
        }
    }

    /// The status (`Active`, `Inactive`) of access key `key_id` of IAM user `user`; `None` when
    /// the user has no such key. A key IAM knows as the user's (`GetAccessKeyLastUsed`, a direct
    /// read) that `ListAccessKeys` does not show yet was made moments ago: [`NOT_LISTED_YET`].
    pub async fn access_key_status(&self, user: &str, key_id: &str) -> Result<Option<String>> {
        let keys = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| layer_core::Error::aws(format!("iam:ListAccessKeys on {user}"), &e))?;
        let listed = keys
            .access_key_metadata()
            .iter()
            .find(|k| k.access_key_id() == Some(key_id))
            .map(|k| {
                k.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default()
            });
        if listed.is_some() {
            return Ok(listed);
        }
        let held =
            access_key::confirmed_keys(&self.iam, user, Some(Vec::new()), &[key_id.to_string()])
                .await?
                .unwrap_or_default();
        Ok((!held.is_empty()).then(|| NOT_LISTED_YET.to_string()))
    }
}

/// The status [`Reader::access_key_status`] gives a key IAM knows that its list does not show yet.
pub const NOT_LISTED_YET: &str = "not listed yet";

/// The permissions of seed (see [`seed::access`]) with those of the S3 key pair.
pub fn seed_access(
    names: &SecretNames,
    s3_user: &str,
    secrets_kms_key_arn: &str,
) -> Vec<layer_core::access::Access> {
    let mut out = seed::access(names, secrets_kms_key_arn);
    out.extend(access_key::access(s3_user));
    out
}

/// How the environment names its secrets: `[secrets] prefix` (or `{nid}/`) and
/// `[secrets.names]`.
pub fn names(env: &Environment) -> SecretNames {
    SecretNames::of(env)
}

/// Read the CA bundle from its source (a file, or an https URL); it must be PEM and fit a secret.
pub async fn load_ca_bundle(env: &Environment, settings: &SecretsSettings) -> Result<String> {
    let key = "secrets.rds_ca_bundle";
    let (text, origin) = match settings.ca_source(env) {
        CaSource::Url(url) => {
            let text = fetch::https_text(&url, None).await.map_err(|why| {
                env.invalid(
                    key,
                    &format!(
                        "{why}; check the network to {url}, or download the bundle where it can be reached and give the file's path"
                    ),
                )
            })?;
            (text, url)
        }
        CaSource::File(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                env.invalid(
                    key,
                    &format!(
                        "cannot read the CA bundle `{}` ({e}); download AWS's regional bundle (https://truststore.pki.rds.amazonaws.com/{r}/{r}-bundle.pem) there, or give that URL{}",
                        path.display(),
                        if env.local { "; on the local environment `cargo xtask local up` makes it" } else { "" },
                        r = env.region
                    ),
                )
            })?;
            (text, path.display().to_string())
        }
    };
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(env.invalid(key, &format!("`{origin}` holds no PEM certificate")));
    }
    if text.len() > MAX_SECRET_BYTES {
        return Err(env.invalid(
            key,
            &format!(
                "`{origin}` is {} bytes, more than a secret holds ({MAX_SECRET_BYTES}); use the regional bundle, not the global one",
                text.len()
            ),
        ));
    }
    Ok(text)
}

/// Build the containers: one per secret of the catalog. `facts` says where each fact's value
/// comes from (the layer knows the other families' addresses; this crate does not).
pub fn resources(
    env: &Environment,
    infra: &Infrastructure,
    sdk: &SdkConfig,
    databases: &[String],
    facts: impl Fn(Fact) -> Result<FactValue>,
) -> Result<Vec<Arc<dyn AnyResource>>> {
    let settings = SecretsSettings::load(env)?;
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let defs = catalog(databases);
    if let Some(unknown) = settings
        .names
        .keys()
        .find(|k| k.as_str() != lock::LOCK_SECRET && !defs.iter().any(|d| d.name == k.as_str()))
    {
        return Err(env.invalid(
            &format!("secrets.names.{unknown}"),
            &format!(
                "the layer has no secret `{unknown}`; use a secret's name as `plan {}` lists it (such as `psql-host`), or `{}`",
                env.name,
                lock::LOCK_SECRET
            ),
        ));
    }
    let names = names(env);
    let mut taken = std::collections::BTreeMap::new();
    for secret in defs
        .iter()
        .map(|d| d.name.as_str())
        .chain([lock::LOCK_SECRET])
    {
        if let Some(other) = taken.insert(names.full(secret), secret) {
            return Err(env.invalid(
                "secrets.names",
                &format!(
                    "`{secret}` and `{other}` would both be named `{}`; give each its own name",
                    names.full(secret)
                ),
            ));
        }
    }
    defs.into_iter()
        .map(|def| {
            let fact = match def.source {
                Source::Fact(f) => Some(facts(f)?),
                _ => None,
            };
            Ok(Arc::new(
                SecretContainer::builder()
                    .client(client.clone())
                    .def(def)
                    .names(names.clone())
                    .kms_key_arn(infra.secrets_kms_key_arn.clone())
                    .recovery_window_days(settings.recovery_window_days)
                    .fact(fact)
                    .build(),
            ) as Arc<dyn AnyResource>)
        })
        .collect()
}

/// The layer's secret outputs from the containers' ARNs: `secret_arns` (every secret),
/// `psql_connection_string_secret_arns` (database → ARN) and `postgresql_databases`.
pub fn layer_outputs(outputs: &mut Outputs, databases: &[String]) {
    let mut arns = BTreeMap::new();
    for (k, v) in outputs.iter() {
        if let Some(secret) = k.strip_prefix("_secret_arn/") {
            arns.insert(secret.to_string(), v.clone());
        }
    }
    let conn: serde_json::Map<String, serde_json::Value> = databases
        .iter()
        .filter_map(|db| {
            arns.get(&catalog::connection_string_name(db))
                .map(|a| (db.clone(), a.clone()))
        })
        .collect();
    outputs.insert(
        "secret_arns".into(),
        serde_json::Value::Object(arns.into_iter().collect()),
    );
    outputs.insert(
        "psql_connection_string_secret_arns".into(),
        serde_json::Value::Object(conn),
    );
    outputs.insert("postgresql_databases".into(), databases.into());
}

/// Run seed against an environment; `inputs` comes from the layer's outputs.
///
/// Its calls carry values: a tool that imports this crate adds
/// [`SecretGuard`](layer_core::log_guard::SecretGuard) to its `tracing` subscriber (see
/// [`layer_core::log_guard`]).
pub async fn run_seed(
    sdk: &SdkConfig,
    inputs: &SeedInputs,
    opts: &SeedOptions,
) -> Result<SeedReport> {
    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    let iam = aws_sdk_iam::Client::new(sdk);
    seed::seed(&sm, &iam, inputs, opts).await
}

/// Every secret's state from metadata, for plan.
pub async fn secret_states(sdk: &SdkConfig, inputs: &SeedInputs) -> Result<Vec<(String, State)>> {
    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    let iam = aws_sdk_iam::Client::new(sdk);
    seed::states(&sm, &iam, inputs).await
}
