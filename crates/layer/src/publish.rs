//! Publishing the layer's outputs as a Terraform state document (`[outputs] terraform_state`),
//! so the next layers' `data "terraform_remote_state"` with the S3 backend keeps reading them
//! unchanged after the switch from Terraform. Deploy publishes after it applies; `outputs
//! --publish` publishes without a deploy. Owns `[outputs]`.

use layer_core::access::{Access, Need};
use layer_core::config::Environment;
use layer_core::safety::{Refusal, RefusedChange};
use layer_core::tfstate::{dropped, publication, Publication};
use layer_core::{Error, Outputs, Result};
use serde::Deserialize;

pub use data_s3::remote_state::StateObject;

/// The section of the environment files this module owns.
pub const SECTION: &str = "outputs";

/// `[outputs]`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputsSettings {
    /// Where to publish the outputs as a Terraform state document: the S3 backend configuration
    /// the next layers' `terraform_remote_state` readers use.
    #[serde(default)]
    pub terraform_state: Option<TerraformStateSettings>,
}

/// `[outputs] terraform_state`: the readers' S3 backend configuration, as they give it.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TerraformStateSettings {
    /// The backend's `bucket`.
    pub bucket: String,
    /// The backend's `key` (with its `workspace_key_prefix`, for a workspace other than `default`).
    pub key: String,
    /// The backend's `region` (the layer's region when left out).
    #[serde(default)]
    pub region: Option<String>,
    /// The backend's `kms_key_id`: the object is encrypted with it (`aws:kms`); S3's own keys
    /// (`AES256`) when left out.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// The backend's `dynamodb_table`, if the readers name one: the `<bucket>/<key>-md5` digest
    /// item they check is kept equal to the published state's.
    #[serde(default)]
    pub dynamodb_table: Option<String>,
    /// The `terraform_version` the document names: readers older than it refuse the state.
    #[serde(default = "oldest_reader")]
    pub terraform_version: String,
}

fn oldest_reader() -> String {
    "1.0.0".into()
}

/// Where the environment publishes its outputs, if it does. Checked at load.
pub fn state_object(env: &Environment) -> Result<Option<(StateObject, String)>> {
    let s: OutputsSettings = env.section(SECTION)?;
    let Some(t) = s.terraform_state else {
        return Ok(None);
    };
    let bad =
        |key: &str, why: &str| Err(env.invalid(&format!("outputs.terraform_state.{key}"), why));
    if t.bucket.is_empty() || t.bucket.contains('/') {
        return bad(
            "bucket",
            "give the bucket's name, as the readers' backend does",
        );
    }
    if t.key.is_empty() || t.key.starts_with('/') {
        return bad(
            "key",
            "give the object key without a leading `/`, as the readers' backend does",
        );
    }
    let semver = t.terraform_version.split('.').count() == 3
        && t.terraform_version
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !semver {
        return bad(
            "terraform_version",
            "give a Terraform version such as 1.0.0",
        );
    }
    if t.dynamodb_table
        .as_deref()
        .is_some_and(|d| d.is_empty() || d.len() > 255)
    {
        return bad(
            "dynamodb_table",
            "give the lock table's name, as the readers' backend does",
        );
    }
    let object = StateObject {
        bucket: t.bucket,
        key: t.key,
        region: t.region.unwrap_or_else(|| env.region.clone()),
        kms_key_id: t.kms_key_id,
        dynamodb_table: t.dynamodb_table,
    };
    Ok(Some((object, t.terraform_version)))
}

/// The permissions publishing needs, for `need` (deploy's and `outputs --publish`'s).
pub fn access(env: &Environment, need: Need) -> Result<Vec<Access>> {
    Ok(state_object(env)?
        .map(|(object, _)| object.access(need))
        .unwrap_or_default())
}

/// What a publication did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// The object already held these outputs; it was not written.
    Unchanged(String),
    /// The object was written at this serial; the outputs the state held before and no longer
    /// does (the Terraform layer's, which this one does not publish).
    Written(String, u64, Vec<String>),
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Published::Unchanged(at) => write!(f, "Outputs at {at}: unchanged."),
            Published::Written(at, serial, dropped) => {
                write!(
                    f,
                    "Outputs published at {at} (Terraform state, serial {serial})."
                )?;
                if !dropped.is_empty() {
                    write!(
                        f,
                        "\nWarning: the state held outputs this layer does not publish: {}. A next layer that reads one of them fails until it stops reading it.",
                        dropped.join(", ")
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// Refuse before a deploy changes anything when its publication would be refused: the object
/// holds a state that is not ours to overwrite, or a Terraform run holds its lock.
pub async fn check(
    sdk: &aws_types::SdkConfig,
    object: &StateObject,
    terraform_version: &str,
) -> Result<()> {
    let (current, at) = read(sdk, object).await?;
    unlocked(sdk, object, &at).await?;
    match publication(current.as_ref(), &Outputs::new(), terraform_version) {
        Publication::Refused(why) => Err(refusal(&at, &why)),
        _ => Ok(()),
    }
}

/// Refuse while Terraform holds its own lock on the state: a run of the old layer (or a reader's
/// `terraform apply` on a misconfigured backend) may write it at any moment.
async fn unlocked(sdk: &aws_types::SdkConfig, object: &StateObject, at: &str) -> Result<()> {
    match data_s3::remote_state::terraform_lock(sdk, &object.client(sdk), object).await? {
        None => Ok(()),
        Some(holder) => Err(refusal(
            at,
            &format!("{holder}; wait for that run to end, or, if it died, release the lock with `terraform force-unlock <lock ID>` in its layer"),
        )),
    }
}

fn refusal(at: &str, why: &str) -> Error {
    let (reason, fix) = why.split_once("; ").unwrap_or((why, ""));
    Error::Refused(Refusal {
        changes: vec![RefusedChange {
            address: format!("terraform_state {at}"),
            reason: reason.to_string(),
            flag: fix.to_string(),
        }],
    })
}

/// The object's document, parsed, and its `s3://` address.
async fn read(
    sdk: &aws_types::SdkConfig,
    object: &StateObject,
) -> Result<(Option<serde_json::Value>, String)> {
    let at = format!("s3://{}/{}", object.bucket, object.key);
    let current = data_s3::remote_state::read(&object.client(sdk), object).await?;
    let parsed = match current {
        Some((bytes, _)) => Some(serde_json::from_slice(&bytes).map_err(|e| {
            Error::Other(format!(
                "{at} holds no JSON state ({e}); choose another key"
            ))
        })?),
        None => None,
    };
    Ok((parsed, at))
}

/// Publish `outputs` at `object`: read it, decide, write it on the condition that it is still
/// what was read. A state that still holds resources is refused (exit 3), with nothing written.
pub async fn publish(
    sdk: &aws_types::SdkConfig,
    object: &StateObject,
    terraform_version: &str,
    outputs: &Outputs,
) -> Result<Published> {
    let client = object.client(sdk);
    let at = format!("s3://{}/{}", object.bucket, object.key);
    unlocked(sdk, object, &at).await?;
    let current = data_s3::remote_state::read(&client, object).await?;
    let parsed = match &current {
        Some((bytes, _)) => Some(serde_json::from_slice::<serde_json::Value>(bytes).map_err(
            |e| {
                Error::Other(format!(
                    "{at} holds no JSON state ({e}); choose another key"
                ))
            },
        )?),
        None => None,
    };
    match publication(parsed.as_ref(), outputs, terraform_version) {
        Publication::Unchanged => {
            // The digest may still be the old layer's (its state emptied by hand): kept equal.
            let bytes = current
                .as_ref()
                .map(|(b, _)| b.as_slice())
                .unwrap_or_default();
            data_s3::remote_state::keep_digest(sdk, object, bytes).await?;
            Ok(Published::Unchanged(at))
        }
        Publication::Refused(why) => Err(refusal(&at, &why)),
        Publication::Write(document) => {
            let serial = document["serial"].as_u64().unwrap_or_default();
            let gone = parsed
                .as_ref()
                .map(|old| dropped(old, &document))
                .unwrap_or_default();
            let mut body = serde_json::to_vec_pretty(&document)
                .map_err(|e| Error::Other(format!("the state document: {e}")))?;
            body.push(b'\n');
            let etag = current.as_ref().map(|(_, etag)| etag.as_str());
            data_s3::remote_state::write(&client, object, body.clone(), etag).await?;
            data_s3::remote_state::keep_digest(sdk, object, &body).await?;
            Ok(Published::Written(at, serial, gone))
        }
    }
}
