//! The value calls of Secrets Manager that seed makes: write a value, tag it, read one back. A value
//! travels only inside `SecretValue`, and the calls run under the log guard.

use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use layer_core::{Error, Result, SecretValue};

pub(crate) async fn put(sm: &Client, name: &str, value: &SecretValue) -> Result<String> {
    let out = layer_core::log_guard::carrying(
        sm.put_secret_value()
            .secret_id(name)
            .secret_string(value.expose_secret())
            .send(),
    )
    .await
    .map_err(|e| Error::aws_on("secretsmanager", "PutSecretValue", name, &e))?;
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
        .map_err(|e| Error::aws_on("secretsmanager", "TagResource", name, &e))?;
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
    .map_err(|e| Error::aws_on("secretsmanager", "GetSecretValue", id, &e))?;
    // Taken out of the answer, not copied: no second copy waits for the answer's drop.
    out.secret_string
        .take()
        .map(SecretValue::new)
        .ok_or_else(|| Error::Other(format!("{id} holds no text value")))
}
