//! A bucket with everything the spec asks of it: versioning, SSE-KMS with bucket keys, public
//! access block, lifecycle, a VPC-only data policy that also denies plain HTTP, and tags.

use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleRule as SdkRule,
    LifecycleRuleFilter, ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, Transition, TransitionStorageClass, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use layer_core::access::{Access, Need};
use layer_core::policy::{Effect, PolicyDocument, Statement};
use layer_core::resource::{Context, Observation, Observed, ResourceKind};
use layer_core::FieldChange;
use layer_core::{Address, Error, Flag, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use typed_builder::TypedBuilder;

/// The object actions the bucket policy denies outside the S3 gateway endpoint: every read and
/// write of an object or its versions. Listing (`s3:ListBucket`, `s3:ListBucketVersions`) and
/// management actions are not denied: on AWS, `HeadBucket` needs `s3:ListBucket` and observing
/// whether a bucket holds data needs `s3:ListBucketVersions`, so denying them would lock the tool
/// (and Terraform) out of its own buckets from outside the VPC after the first deploy.
pub const DATA_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectAttributes",
    "s3:GetObjectVersionAttributes",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:RestoreObject",
    "s3:ListMultipartUploadParts",
    "s3:AbortMultipartUpload",
];

/// Default encryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Encryption {
    /// `aws:kms`.
    pub algorithm: String,
    /// The key.
    pub kms_key: Option<String>,
    /// Bucket keys on.
    pub bucket_key: bool,
}

/// The public access block's four switches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicAccessBlock {
    /// BlockPublicAcls.
    pub block_public_acls: bool,
    /// IgnorePublicAcls.
    pub ignore_public_acls: bool,
    /// BlockPublicPolicy.
    pub block_public_policy: bool,
    /// RestrictPublicBuckets.
    pub restrict_public_buckets: bool,
}

/// One lifecycle rule over the whole bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LifecycleRule {
    /// The rule id.
    pub id: String,
    /// `(days, storage class)`, ordered by days.
    pub transitions: Vec<(i32, String)>,
}

/// The bucket's managed fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketSpec {
    /// `Enabled`, `Suspended` or `Disabled` (never enabled).
    pub versioning: String,
    /// Default encryption.
    pub encryption: Option<Encryption>,
    /// Public access block.
    pub public_access_block: Option<PublicAccessBlock>,
    /// Lifecycle rules (none for ai-data).
    pub lifecycle: Option<Vec<LifecycleRule>>,
    /// Bucket policy.
    pub policy: Option<PolicyDocument>,
    /// Tags.
    pub tags: Tags,
}

/// A bucket resource.
#[derive(Debug, Clone, TypedBuilder)]
pub struct Bucket {
    client: Client,
    /// `application_data` or `ai_data`.
    #[builder(setter(into))]
    key: String,
    /// The bucket's name.
    name: String,
    region: String,
    /// The account that must own the bucket (sent as the expected bucket owner).
    account_id: String,
    kms_key_arn: String,
    vpc_endpoint_id: String,
    lifecycle: Option<Vec<LifecycleRule>>,
}

/// The bucket policy: data operations only through the S3 gateway endpoint, and never without TLS.
pub fn bucket_policy(bucket: &str, vpc_endpoint_id: &str) -> PolicyDocument {
    let arn = format!("arn:aws:s3:::{bucket}");
    let objects = format!("{arn}/*");
    PolicyDocument::new([
        Statement::new(Effect::Deny)
            .sid("DenyDataOutsideVpcEndpoint")
            .any_principal()
            .actions(DATA_ACTIONS.iter().copied())
            .resources([arn.clone(), objects.clone()])
            .condition("StringNotEquals", "aws:SourceVpce", [vpc_endpoint_id]),
        Statement::new(Effect::Deny)
            .sid("DenyInsecureTransport")
            .any_principal()
            .actions(["s3:*"])
            .resources([arn, objects])
            .condition("Bool", "aws:SecureTransport", ["false"]),
    ])
}

fn is_code<E: ProvideErrorMetadata>(e: &E, codes: &[&str]) -> bool {
    e.code().is_some_and(|c| codes.contains(&c))
}

fn build_err(e: aws_sdk_s3::error::BuildError) -> Error {
    Error::Other(format!("building an S3 request: {e}"))
}

impl Bucket {
    fn arn(&self) -> String {
        format!("arn:aws:s3:::{}", self.name)
    }

    fn outputs(&self) -> Outputs {
        let mut o = Outputs::new();
        o.insert(
            format!("s3_bucket_{}_id", self.key),
            self.name.clone().into(),
        );
        o.insert(format!("s3_bucket_{}_arn", self.key), self.arn().into());
        o
    }

    async fn exists(&self) -> Result<bool> {
        match self.client.head_bucket().bucket(&self.name).expected_bucket_owner(&self.account_id).send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => Ok(false),
                // A 403 is either another account's bucket (the expected-owner check) or a
                // policy that denies s3:ListBucket to these credentials: HEAD carries no code.
                Some(403) => Err(Error::Aws {
                    operation: format!("s3:HeadBucket on {}", self.name),
                    message: format!(
                        "access denied (403): the bucket is owned by an account other than {}, or a policy denies s3:ListBucket to these credentials; bucket names are global, so if it is another account's, choose another name with `names.{}` in the [s3] section",
                        self.account_id, self.key
                    ),
                }),
                _ => Err(Error::aws_on("s3", "HeadBucket", &self.name, &e)),
            },
        }
    }

    async fn observe_spec(&self) -> Result<BucketSpec> {
        let c = &self.client;
        let (b, o) = (&self.name, &self.account_id);
        let versioning = async {
            let out = c
                .get_bucket_versioning()
                .bucket(b)
                .expected_bucket_owner(o)
                .send()
                .await
                .map_err(|e| Error::aws_on("s3", "GetBucketVersioning", b, &e))?;
            Ok::<_, Error>(
                out.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "Disabled".into()),
            )
        };
        let encryption = async {
            match c
                .get_bucket_encryption()
                .bucket(b)
                .expected_bucket_owner(o)
                .send()
                .await
            {
                Ok(out) => Ok(out
                    .server_side_encryption_configuration()
                    .and_then(|cfg| cfg.rules().first())
                    .and_then(|rule| {
                        rule.apply_server_side_encryption_by_default()
                            .map(|d| Encryption {
                                algorithm: d.sse_algorithm().as_str().to_string(),
                                kms_key: d.kms_master_key_id().map(str::to_string),
                                bucket_key: rule.bucket_key_enabled().unwrap_or(false),
                            })
                    })),
                Err(e) if is_code(&e, &["ServerSideEncryptionConfigurationNotFoundError"]) => {
                    Ok(None)
                }
                Err(e) => Err(Error::aws_on("s3", "GetBucketEncryption", b, &e)),
            }
        };
        let pab = async {
            match c
                .get_public_access_block()
                .bucket(b)
                .expected_bucket_owner(o)
                .send()
                .await
            {
                Ok(out) => Ok(out
                    .public_access_block_configuration()
                    .map(|p| PublicAccessBlock {
                        block_public_acls: p.block_public_acls().unwrap_or(false),
                        ignore_public_acls: p.ignore_public_acls().unwrap_or(false),
                        block_public_policy: p.block_public_policy().unwrap_or(false),
                        restrict_public_buckets: p.restrict_public_buckets().unwrap_or(false),
                    })),
                Err(e) if is_code(&e, &["NoSuchPublicAccessBlockConfiguration"]) => Ok(None),
                Err(e) => Err(Error::aws_on("s3", "GetPublicAccessBlock", b, &e)),
            }
        };
        let lifecycle = async {
            match c
                .get_bucket_lifecycle_configuration()
                .bucket(b)
                .expected_bucket_owner(o)
                .send()
                .await
            {
                Ok(out) => Ok(Some(out.rules().iter().map(lifecycle_rule).collect())),
                Err(e) if is_code(&e, &["NoSuchLifecycleConfiguration"]) => Ok(None),
                Err(e) => Err(Error::aws_on(
                    "s3",
                    "GetBucketLifecycleConfiguration",
                    b,
                    &e,
                )),
            }
        };
        let policy = async {
            match c
                .get_bucket_policy()
                .bucket(b)
                .expected_bucket_owner(o)
                .send()
                .await
            {
                Ok(out) => match out.policy() {
                    Some(text) => PolicyDocument::parse(text)
                        .map(Some)
                        .map_err(|e| Error::Other(format!("bucket policy of {b}: {e}"))),
                    None => Ok(None),
                },
                Err(e) if is_code(&e, &["NoSuchBucketPolicy"]) => Ok(None),
                Err(e) => Err(Error::aws_on("s3", "GetBucketPolicy", b, &e)),
            }
        };
        let tags = async {
            match c
                .get_bucket_tagging()
                .bucket(b)
                .expected_bucket_owner(o)
                .send()
                .await
            {
                Ok(out) => Ok(out
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()),
                Err(e) if is_code(&e, &["NoSuchTagSet", "NoSuchTagSetError"]) => Ok(Tags::new()),
                Err(e) => Err(Error::aws_on("s3", "GetBucketTagging", b, &e)),
            }
        };
        let (versioning, encryption, public_access_block, lifecycle, policy, tags) =
            futures::try_join!(versioning, encryption, pab, lifecycle, policy, tags)?;
        Ok(BucketSpec {
            versioning,
            encryption,
            public_access_block,
            lifecycle,
            policy,
            tags,
        })
    }

    async fn holds_data(&self) -> Result<bool> {
        let out = self
            .client
            .list_object_versions()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account_id)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| Error::aws_on("s3", "ListObjectVersions", &self.name, &e))?;
        Ok(!out.versions().is_empty() || !out.delete_markers().is_empty())
    }

    async fn put_field(&self, field: &str, desired: &BucketSpec) -> Result<()> {
        let c = &self.client;
        let (b, o) = (&self.name, &self.account_id);
        match field {
            "versioning" => {
                let status = BucketVersioningStatus::from(desired.versioning.as_str());
                c.put_bucket_versioning()
                    .bucket(b)
                    .expected_bucket_owner(o)
                    .versioning_configuration(
                        VersioningConfiguration::builder().status(status).build(),
                    )
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("s3", "PutBucketVersioning", b, &e))?;
            }
            "encryption" => {
                let Some(enc) = &desired.encryption else {
                    return Ok(());
                };
                let default = ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::from(enc.algorithm.as_str()))
                    .set_kms_master_key_id(enc.kms_key.clone())
                    .build()
                    .map_err(build_err)?;
                let rule = ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .bucket_key_enabled(enc.bucket_key)
                    .build();
                let cfg = ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(build_err)?;
                c.put_bucket_encryption()
                    .bucket(b)
                    .expected_bucket_owner(o)
                    .server_side_encryption_configuration(cfg)
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("s3", "PutBucketEncryption", b, &e))?;
            }
            "public_access_block" => {
                let Some(p) = &desired.public_access_block else {
                    return Ok(());
                };
                let cfg = PublicAccessBlockConfiguration::builder()
                    .block_public_acls(p.block_public_acls)
                    .ignore_public_acls(p.ignore_public_acls)
                    .block_public_policy(p.block_public_policy)
                    .restrict_public_buckets(p.restrict_public_buckets)
                    .build();
                c.put_public_access_block()
                    .bucket(b)
                    .expected_bucket_owner(o)
                    .public_access_block_configuration(cfg)
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("s3", "PutPublicAccessBlock", b, &e))?;
            }
            "lifecycle" => match &desired.lifecycle {
                None => {
                    c.delete_bucket_lifecycle()
                        .bucket(b)
                        .expected_bucket_owner(o)
                        .send()
                        .await
                        .map_err(|e| Error::aws_on("s3", "DeleteBucketLifecycle", b, &e))?;
                }
                Some(rules) => {
                    let mut sdk_rules = Vec::new();
                    for r in rules {
                        let mut rule = SdkRule::builder()
                            .id(&r.id)
                            .status(ExpirationStatus::Enabled)
                            .filter(LifecycleRuleFilter::builder().prefix("").build());
                        for (days, class) in &r.transitions {
                            rule = rule.transitions(
                                Transition::builder()
                                    .days(*days)
                                    .storage_class(TransitionStorageClass::from(class.as_str()))
                                    .build(),
                            );
                        }
                        sdk_rules.push(rule.build().map_err(build_err)?);
                    }
                    let cfg = BucketLifecycleConfiguration::builder()
                        .set_rules(Some(sdk_rules))
                        .build()
                        .map_err(build_err)?;
                    c.put_bucket_lifecycle_configuration()
                        .bucket(b)
                        .expected_bucket_owner(o)
                        .lifecycle_configuration(cfg)
                        .send()
                        .await
                        .map_err(|e| {
                            Error::aws_on("s3", "PutBucketLifecycleConfiguration", b, &e)
                        })?;
                }
            },
            "policy" => match &desired.policy {
                Some(p) => {
                    c.put_bucket_policy()
                        .bucket(b)
                        .expected_bucket_owner(o)
                        .policy(p.to_json_string())
                        .send()
                        .await
                        .map_err(|e| Error::aws_on("s3", "PutBucketPolicy", b, &e))?;
                }
                None => self.delete_policy().await?,
            },
            "tags" => {
                let set = desired
                    .tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(build_err))
                    .collect::<Result<Vec<_>>>()?;
                let tagging = Tagging::builder()
                    .set_tag_set(Some(set))
                    .build()
                    .map_err(build_err)?;
                c.put_bucket_tagging()
                    .bucket(b)
                    .expected_bucket_owner(o)
                    .tagging(tagging)
                    .send()
                    .await
                    .map_err(|e| Error::aws_on("s3", "PutBucketTagging", b, &e))?;
            }
            other => {
                return Err(Error::Other(format!(
                    "bucket {b}: no way to change `{other}`"
                )))
            }
        }
        Ok(())
    }

    async fn delete_policy(&self) -> Result<()> {
        self.client
            .delete_bucket_policy()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account_id)
            .send()
            .await
            .map_err(|e| Error::aws_on("s3", "DeleteBucketPolicy", &self.name, &e))?;
        Ok(())
    }

    /// Delete every object version and delete marker.
    async fn purge(&self) -> Result<usize> {
        let mut deleted = 0;
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.name)
                .expected_bucket_owner(&self.account_id)
                .max_keys(1000)
                .send()
                .await
                .map_err(|e| Error::aws_on("s3", "ListObjectVersions", &self.name, &e))?;
            let ids = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(
                    page.delete_markers()
                        .iter()
                        .map(|m| (m.key(), m.version_id())),
                )
                .map(|(k, v)| {
                    ObjectIdentifier::builder()
                        .set_key(k.map(str::to_string))
                        .set_version_id(v.map(str::to_string))
                        .build()
                        .map_err(build_err)
                })
                .collect::<Result<Vec<_>>>()?;
            if ids.is_empty() {
                return Ok(deleted);
            }
            deleted += ids.len();
            let out = self
                .client
                .delete_objects()
                .bucket(&self.name)
                .expected_bucket_owner(&self.account_id)
                .delete(
                    Delete::builder()
                        .set_objects(Some(ids))
                        .quiet(true)
                        .build()
                        .map_err(build_err)?,
                )
                .send()
                .await
                .map_err(|e| Error::aws_on("s3", "DeleteObjects", &self.name, &e))?;
            if let Some(first) = out.errors().first() {
                return Err(Error::Other(format!(
                    "s3:DeleteObjects on {}: {} objects could not be deleted, first `{}`: {}",
                    self.name,
                    out.errors().len(),
                    first.key().unwrap_or_default(),
                    first.message().unwrap_or_default()
                )));
            }
        }
    }
}

#[async_trait]
impl Resource for Bucket {
    type Spec = BucketSpec;

    fn address(&self) -> Address {
        Address::new(format!("aws_s3_bucket.{}", self.key))
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn access(&self) -> Vec<Access> {
        // S3's ARNs name neither region nor account.
        let bucket = || [format!("arn:aws:s3:::{}", self.name)];
        vec![
            Access::new(
                Need::Observe,
                "S3Buckets",
                &[
                    "s3:ListBucket",
                    "s3:ListBucketVersions",
                    "s3:GetBucketVersioning",
                    "s3:GetEncryptionConfiguration",
                    "s3:GetBucketPublicAccessBlock",
                    "s3:GetLifecycleConfiguration",
                    "s3:GetBucketPolicy",
                    "s3:GetBucketTagging",
                ],
                bucket(),
            ),
            Access::new(
                Need::Change,
                "S3Buckets",
                &[
                    "s3:CreateBucket",
                    "s3:TagResource",
                    "s3:PutBucketTagging",
                    "s3:PutBucketVersioning",
                    "s3:PutEncryptionConfiguration",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:PutLifecycleConfiguration",
                    "s3:PutBucketPolicy",
                    "s3:DeleteBucketPolicy",
                ],
                bucket(),
            ),
            Access::new(Need::Delete, "S3Buckets", &["s3:DeleteBucket"], bucket()),
            // Only with --purge-buckets: every object version and delete marker.
            Access::new(
                Need::Purge,
                "S3Objects",
                &["s3:DeleteObject", "s3:DeleteObjectVersion"],
                [format!("arn:aws:s3:::{}/*", self.name)],
            ),
        ]
    }

    fn kind(&self) -> ResourceKind {
        ResourceKind::Stateful
    }

    fn desired(&self, cx: &Context, _inputs: &Inputs) -> Result<BucketSpec> {
        Ok(BucketSpec {
            versioning: "Enabled".into(),
            encryption: Some(Encryption {
                algorithm: "aws:kms".into(),
                kms_key: Some(self.kms_key_arn.clone()),
                bucket_key: true,
            }),
            public_access_block: Some(PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: true,
                restrict_public_buckets: true,
            }),
            lifecycle: self.lifecycle.clone(),
            policy: Some(bucket_policy(&self.name, &self.vpc_endpoint_id)),
            tags: cx.tags.clone(),
        })
    }

    async fn observe(&self, _cx: &Context, _inputs: &Inputs) -> Result<Observation<BucketSpec>> {
        if !self.exists().await? {
            return Ok(Observation::Absent);
        }
        let (spec, holds_data) = futures::try_join!(self.observe_spec(), self.holds_data())?;
        Ok(Observed::builder()
            .tags(spec.tags.clone())
            .spec(spec)
            .outputs(self.outputs())
            .holds_data(holds_data)
            .build()
            .present())
    }

    fn delete_guard(&self, observed: &Observed<BucketSpec>) -> Option<(Flag, String)> {
        observed.holds_data.then(|| {
            (
                Flag::PurgeBuckets,
                format!(
                    "bucket `{}` holds objects; destroying it deletes every object and version",
                    self.name
                ),
            )
        })
    }

    async fn create(&self, _cx: &Context, desired: &BucketSpec, _inputs: &Inputs) -> Result<()> {
        // Tags at creation: a bucket whose create succeeded is recognised as ours, whatever
        // happens after.
        let tags = desired
            .tags
            .iter()
            .map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(build_err)?;
        let mut config = CreateBucketConfiguration::builder().set_tags(Some(tags));
        if self.region != "us-east-1" {
            config =
                config.location_constraint(BucketLocationConstraint::from(self.region.as_str()));
        }
        let req = self
            .client
            .create_bucket()
            .bucket(&self.name)
            .create_bucket_configuration(config.build());
        match req.send().await {
            Ok(_) => {}
            // Ours already (a retried create, an interrupted run): the engine converges it if
            // it carries our tags.
            Err(e) if is_code(&e, &["BucketAlreadyOwnedByYou"]) => {
                return Err(Error::AlreadyExists(format!("bucket `{}`", self.name)))
            }
            Err(e) if is_code(&e, &["BucketAlreadyExists"]) => {
                return Err(Error::Foreign(format!(
                    "bucket name `{}` is taken by another account; choose another with `names.{}` in the [s3] section",
                    self.name, self.key
                )))
            }
            Err(e) => return Err(Error::aws_on("s3", "CreateBucket", &self.name, &e)),
        }
        // The deny policy first, so the bucket is protected as soon as it can be; then the
        // rest. (The tags came with the create.)
        for field in [
            "policy",
            "public_access_block",
            "encryption",
            "versioning",
            "lifecycle",
        ] {
            if field == "lifecycle" && desired.lifecycle.is_none() {
                continue;
            }
            // A new bucket can be unknown to the calls that follow its creation for a while.
            let what = format!("bucket {}", self.name);
            layer_core::wait::while_unseen(
                &what,
                &["NoSuchBucket"],
                layer_core::wait::UNSEEN_LIMIT,
                || self.put_field(field, desired),
            )
            .await?;
        }
        Ok(())
    }

    async fn update(
        &self,
        _cx: &Context,
        desired: &BucketSpec,
        _observed: &Observed<BucketSpec>,
        changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let mut fields: Vec<&str> = changes.iter().map(FieldChange::field).collect();
        fields.dedup();
        for field in fields {
            self.put_field(field, desired).await?;
        }
        Ok(())
    }

    async fn delete(&self, cx: &Context, observed: &Observed<BucketSpec>) -> Result<()> {
        if observed.holds_data || self.holds_data().await? {
            if !cx.flags.purge_buckets {
                return Err(Error::Other(format!(
                    "bucket `{}` holds objects; pass --purge-buckets to delete them",
                    self.name
                )));
            }
            // The policy denies data operations outside the VPC, so it goes first.
            if observed.spec.policy.is_some() {
                self.delete_policy().await?;
            }
            let n = self.purge().await?;
            tracing::info!(bucket = %self.name, objects = n, "purged");
        }
        match self
            .client
            .delete_bucket()
            .bucket(&self.name)
            .expected_bucket_owner(&self.account_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, &["NoSuchBucket"]) => Ok(()),
            Err(e) => Err(Error::aws_on("s3", "DeleteBucket", &self.name, &e)),
        }
    }
}
/// A lifecycle rule as observed: its id (marked when disabled) and its transitions, sorted.
fn lifecycle_rule(r: &aws_sdk_s3::types::LifecycleRule) -> LifecycleRule {
    let mut transitions: Vec<(i32, String)> = r
        .transitions()
        .iter()
        .map(|t| {
            (
                t.days().unwrap_or(0),
                t.storage_class()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    transitions.sort();
    let enabled = r.status() == &ExpirationStatus::Enabled;
    LifecycleRule {
        id: if enabled {
            r.id().unwrap_or_default().to_string()
        } else {
            format!("{} (disabled)", r.id().unwrap_or_default())
        },
        transitions,
    }
}

#[cfg(test)]
mod diff_tests {
    use super::*;

    /// What the bucket's diff shows, as a snapshot (`UPDATE_EXPECT=1` rewrites it for review):
    /// the policy as AWS hands it back (one-element arrays as strings, statements reordered) is no
    /// change; the rest is, field by field.
    #[test]
    fn the_bucket_s_diff_names_each_field_and_ignores_aws_s_rewrites_of_its_policy() {
        let sdk = layer_core::aws::offline_config("eu-central-2");
        let key = "arn:aws:kms:eu-central-2:123456789012:key/general".to_string();
        let bucket = Bucket::builder()
            .client(Client::new(&sdk))
            .key("application_data")
            .name("dal-dev-application-data".into())
            .region("eu-central-2".into())
            .account_id("123456789012".into())
            .kms_key_arn(key.clone())
            .vpc_endpoint_id("vpce-1".into())
            .lifecycle(None)
            .build();
        let desired = BucketSpec {
            versioning: "Enabled".into(),
            encryption: Some(Encryption {
                algorithm: "aws:kms".into(),
                kms_key: Some(key),
                bucket_key: true,
            }),
            public_access_block: Some(PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: true,
                restrict_public_buckets: true,
            }),
            lifecycle: Some(vec![LifecycleRule {
                id: "tiering".into(),
                transitions: vec![(30, "STANDARD_IA".into()), (90, "GLACIER".into())],
            }]),
            policy: Some(bucket_policy("dal-dev-application-data", "vpce-1")),
            tags: [("Environment".to_string(), "dev".to_string())].into(),
        };
        let as_aws_returns = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::dal-dev-application-data/*","arn:aws:s3:::dal-dev-application-data"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}},
            {"Sid":"DenyDataOutsideVpcEndpoint","Effect":"Deny","Principal":{"AWS":"*"},"Action":["s3:GetObject","s3:GetObjectVersion","s3:GetObjectAttributes","s3:GetObjectVersionAttributes","s3:PutObject","s3:DeleteObject","s3:DeleteObjectVersion","s3:RestoreObject","s3:ListMultipartUploadParts","s3:AbortMultipartUpload"],"Resource":["arn:aws:s3:::dal-dev-application-data","arn:aws:s3:::dal-dev-application-data/*"],"Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}}]}"#;
        let mut observed = desired.clone();
        observed.policy = Some(PolicyDocument::parse(as_aws_returns).expect("a policy"));
        let rewritten = layer_core::diff::lines(&bucket.diff(&desired, &observed));
        assert!(
            rewritten.is_empty(),
            "AWS's rewrites are no change: {rewritten}"
        );
        observed.versioning = "Suspended".into();
        observed.public_access_block = None;
        observed.lifecycle = Some(vec![LifecycleRule {
            id: "tiering (disabled)".into(),
            transitions: vec![(30, "STANDARD_IA".into())],
        }]);
        observed.tags.insert("Team".into(), "data".into());
        let changes = bucket.diff(&desired, &observed);
        expect_test::expect![[r#"
            lifecycle: [{"id":"tiering (disabled)","transitions":[[30,"STANDARD_IA"]]}] -> [{"id":"tiering","transitions":[[30,"STANDARD_IA"],[90,"GLACIER"]]}]
            public_access_block: (none) -> {"block_public_acls":true,"block_public_policy":true,"ignore_public_acls":true,"restrict_public_buckets":true}
            tags.Team: "data" -> (none)
            versioning: "Suspended" -> "Enabled"
        "#]].assert_eq(&layer_core::diff::lines(&changes));
    }
}
