//! The S3 object that holds the layer's outputs as a Terraform state document, where the next
//! layers' `terraform_remote_state` readers (S3 backend) look for them: read with its ETag, and
//! written only on the condition that it is still what was read (`If-Match`), or still absent
//! (`If-None-Match: *`), so two writers never interleave. Written server-side encrypted, with the
//! backend's KMS key when it names one.

use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use layer_core::access::{Access, Need};
use layer_core::{Error, Result};

/// Where the state document lives: the S3 backend's `bucket`, `key`, `region`, `kms_key_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateObject {
    /// The bucket.
    pub bucket: String,
    /// The object key (the backend's `key`, with its `workspace_key_prefix` if any).
    pub key: String,
    /// The bucket's region.
    pub region: String,
    /// The KMS key that encrypts it (`aws:kms`); `None` for S3's own keys (`AES256`).
    pub kms_key_id: Option<String>,
    /// The backend's DynamoDB lock table, whose `<bucket>/<key>-md5` item holds the digest of
    /// the state that readers naming the table check.
    pub dynamodb_table: Option<String>,
}

impl StateObject {
    fn what(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The client for the bucket's region (the state bucket is often in another region than
    /// the layer).
    pub fn client(&self, sdk: &aws_types::SdkConfig) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .region(aws_types::region::Region::new(self.region.clone()))
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Reading and writing the object, and its KMS key.
    pub fn access(&self, need: Need) -> Vec<Access> {
        let object = format!("arn:aws:s3:::{}/{}", self.bucket, self.key);
        let mut out = vec![
            Access::new(
                need,
                "TerraformState",
                &["s3:GetObject", "s3:PutObject"],
                [object.clone()],
            ),
            // Terraform's own lock file (`use_lockfile`), read only.
            Access::new(
                need,
                "TerraformStateLockFile",
                &["s3:GetObject"],
                [format!("{object}.tflock")],
            ),
            // Without it, reading a key that does not exist yet is refused (403), not NoSuchKey.
            Access::new(
                need,
                "TerraformStateBucket",
                &["s3:ListBucket"],
                [format!("arn:aws:s3:::{}", self.bucket)],
            ),
        ];
        if let Some(table) = &self.dynamodb_table {
            out.push(Access::new(
                need,
                "TerraformStateDigest",
                &["dynamodb:GetItem", "dynamodb:PutItem"],
                // In the backend's region, which may not be the layer's.
                [format!(
                    "arn:aws:dynamodb:{}:{{account}}:table/{table}",
                    self.region
                )],
            ));
        }
        if let Some(key) = &self.kms_key_id {
            out.push(Access::new(
                need,
                "TerraformStateKey",
                &["kms:GenerateDataKey", "kms:Decrypt"],
                [key.clone()],
            ));
        }
        out
    }
}

/// The object as it is now: its bytes and ETag, or `None` when there is none.
pub async fn read(
    client: &aws_sdk_s3::Client,
    at: &StateObject,
) -> Result<Option<(Vec<u8>, String)>> {
    match client
        .get_object()
        .bucket(&at.bucket)
        .key(&at.key)
        .send()
        .await
    {
        Ok(out) => {
            let etag = out.e_tag().unwrap_or_default().to_string();
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| Error::Other(format!("s3:GetObject on {}: {e}", at.what())))?;
            Ok(Some((body.into_bytes().to_vec(), etag)))
        }
        Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
        Err(e) => Err(Error::aws(format!("s3:GetObject on {}", at.what()), &e)),
    }
}

/// Write `body` if the object is still as read: with the ETag read, or absent (`None`).
pub async fn write(
    client: &aws_sdk_s3::Client,
    at: &StateObject,
    body: Vec<u8>,
    read_etag: Option<&str>,
) -> Result<()> {
    let mut put = client
        .put_object()
        .bucket(&at.bucket)
        .key(&at.key)
        .content_type("application/json")
        .body(ByteStream::from(body));
    put = match read_etag {
        Some(etag) => put.if_match(etag),
        None => put.if_none_match("*"),
    };
    put = match &at.kms_key_id {
        Some(key) => put
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(key),
        None => put.server_side_encryption(ServerSideEncryption::Aes256),
    };
    match put.send().await {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.code(),
                Some("PreconditionFailed" | "ConditionalRequestConflict")
            ) =>
        {
            Err(Error::Other(format!(
                "{} changed while the outputs were being published (another writer); run again",
                at.what()
            )))
        }
        Err(e) => Err(Error::aws(format!("s3:PutObject on {}", at.what()), &e)),
    }
}

/// Who holds Terraform's own lock on the state, if anyone: the lock table's `<bucket>/<key>`
/// item (the backend's `dynamodb_table`) or the `<key>.tflock` object (`use_lockfile`,
/// Terraform 1.10 and later), each holding Terraform's lock info. A Terraform run that holds
/// it may write the state at any moment, so publishing waits for it.
pub async fn terraform_lock(
    sdk: &aws_types::SdkConfig,
    client: &aws_sdk_s3::Client,
    at: &StateObject,
) -> Result<Option<String>> {
    if let Some(table) = &at.dynamodb_table {
        let client = dynamodb(sdk, at);
        let id = format!("{}/{}", at.bucket, at.key);
        if let Some(info) = table_attribute(&client, table, &id, "Info").await? {
            return Ok(Some(lock_holder(
                info.as_bytes(),
                &format!("table {table}"),
            )));
        }
    }
    let key = format!("{}.tflock", at.key);
    match client
        .get_object()
        .bucket(&at.bucket)
        .key(&key)
        .send()
        .await
    {
        Ok(out) => {
            let body = out.body.collect().await.map(|b| b.into_bytes().to_vec());
            let body = body.unwrap_or_default();
            Ok(Some(lock_holder(
                &body,
                &format!("s3://{}/{key}", at.bucket),
            )))
        }
        Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
        Err(e) => Err(Error::aws(
            format!("s3:GetObject on s3://{}/{key}", at.bucket),
            &e,
        )),
    }
}

/// A lock's holder, from Terraform's lock info (`ID`, `Operation`, `Who`, `Created`), and where
/// the lock is.
fn lock_holder(info: &[u8], place: &str) -> String {
    let v: serde_json::Value = serde_json::from_slice(info).unwrap_or_default();
    let field = |k: &str| v[k].as_str().unwrap_or("?").to_string();
    format!(
        "Terraform's lock on the state ({place}) is held by {} for `{}` since {} (lock ID {})",
        field("Who"),
        field("Operation"),
        field("Created"),
        field("ID")
    )
}

/// The string attribute `attribute` of the lock table's item `id` (a strongly consistent read),
/// if the item has it.
async fn table_attribute(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &str,
    attribute: &str,
) -> Result<Option<String>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = client
        .get_item()
        .table_name(table)
        .key("LockID", AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::aws(format!("dynamodb:GetItem on `{id}` of table {table}"), &e))?;
    Ok(item
        .item()
        .and_then(|i| i.get(attribute))
        .and_then(|v| v.as_s().ok())
        .cloned())
}

fn dynamodb(sdk: &aws_types::SdkConfig, at: &StateObject) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .region(aws_types::region::Region::new(at.region.clone()))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// The digest item's key in the lock table, as Terraform's S3 backend names it.
fn digest_id(at: &StateObject) -> String {
    format!("{}/{}-md5", at.bucket, at.key)
}

/// The MD5 of the state's bytes, in hex, as Terraform's S3 backend records it.
pub fn digest(body: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Make the lock table's digest item name `body`, when the backend has a table: readers that
/// name the table refuse a state whose digest differs ("state data in S3 does not have the
/// expected content"). Written only when it differs.
pub async fn keep_digest(sdk: &aws_types::SdkConfig, at: &StateObject, body: &[u8]) -> Result<()> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let Some(table) = &at.dynamodb_table else {
        return Ok(());
    };
    let client = dynamodb(sdk, at);
    let (id, want) = (digest_id(at), digest(body));
    let what = format!("the digest item `{id}` of table {table}");
    if table_attribute(&client, table, &id, "Digest")
        .await?
        .as_ref()
        == Some(&want)
    {
        return Ok(());
    }
    client
        .put_item()
        .table_name(table)
        .item("LockID", AttributeValue::S(id))
        .item("Digest", AttributeValue::S(want))
        .send()
        .await
        .map_err(|e| Error::aws(format!("dynamodb:PutItem on {what}"), &e))?;
    Ok(())
}
