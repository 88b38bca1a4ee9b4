//! A fact someone else wrote (the Terraform layer, the old seed script) whose value is already
//! right keeps its version: its value is read once, compared, and the check is recorded in a tag
//! against the version id, so later plans see it from metadata alone. Facts are hosts, ports and
//! names, never credentials; only apply reads one, and only the fact's own secret.

use aws_sdk_secretsmanager::Client;
use layer_core::access::{arn, Access, Need};
use layer_core::{Error, Result};

use crate::meta::{SecretMeta, TAG_FACT_CHECKED};

/// The fact token a tag recorded for the current version: `None` when there is no such tag, or
/// when the value changed since it was checked (another version is current).
pub(crate) fn recorded(m: &SecretMeta) -> Option<String> {
    let (token, version) = m.tag(TAG_FACT_CHECKED)?.split_once('@')?;
    (m.current_version.as_deref() == Some(version)).then(|| token.to_string())
}

/// Whether the current value of `m` is `value`: one read of the version labelled current.
pub(crate) async fn holds(client: &Client, m: &SecretMeta, value: &str) -> Result<bool> {
    let Some(version) = &m.current_version else {
        return Ok(false);
    };
    let out = layer_core::log_guard::carrying(
        client
            .get_secret_value()
            .secret_id(&m.name)
            .version_id(version)
            .send(),
    )
    .await
    .map_err(|e| Error::aws_on("secretsmanager", "GetSecretValue", &m.name, &e))?;
    Ok(out.secret_string() == Some(value))
}

/// Record that the current version of `m` holds the fact `token` names.
pub(crate) async fn record(client: &Client, m: &SecretMeta, token: &str) -> Result<()> {
    let Some(version) = &m.current_version else {
        return Ok(());
    };
    let tag = aws_sdk_secretsmanager::types::Tag::builder()
        .key(TAG_FACT_CHECKED)
        .value(format!("{token}@{version}"))
        .build();
    client
        .tag_resource()
        .secret_id(&m.name)
        .tags(tag)
        .send()
        .await
        .map_err(|e| Error::aws_on("secretsmanager", "TagResource", &m.name, &e))?;
    Ok(())
}

/// Reading this one fact's value, when apply finds a version deploy did not write. Plan reads
/// no value: it shows such a fact as a change, and apply keeps it if it already holds the value.
/// (The key that decrypts it is the containers' own, with their statements.)
pub(crate) fn access(full_name: &str) -> Access {
    Access::new(
        Need::Change,
        "AdoptedFacts",
        &["secretsmanager:GetSecretValue"],
        // Secrets Manager adds a dash and six characters of its own to each name.
        [arn("secretsmanager", &format!("secret:{full_name}-??????"))],
    )
}
