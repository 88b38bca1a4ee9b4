//! The S3 family: the `application-data` and `ai-data` buckets and the chat service's S3 access
//! IAM user, on the core's resource contract.
//!
//! This crate owns the `[s3]` section of the environment files and the `aws-sdk-s3` and
//! `aws-sdk-iam` dependencies. The user's access keys belong to the seed step, not here; this
//! crate only deletes them, before the user, on teardown.

mod bucket;
pub mod remote_state;
mod settings;
mod user;

use std::sync::Arc;

use aws_types::SdkConfig;
use layer_core::config::{Environment, Infrastructure};
use layer_core::engine::AnyResource;
use layer_core::Result;

pub use bucket::{
    bucket_policy, Bucket, BucketSpec, Encryption, LifecycleRule, PublicAccessBlock, DATA_ACTIONS,
};
pub use settings::{NameOverrides, S3Names, S3Settings};
pub use user::{user_policy, AccessUser, AccessUserSpec, POLICY_NAME};

/// The section of the environment files this crate owns.
pub const SECTION: &str = "s3";

/// The bucket keys, as they appear in addresses and outputs.
pub const BUCKETS: [&str; 2] = ["application_data", "ai_data"];

/// Build the family's resources for an environment.
/// The two buckets and the S3 access user, as a family of the layer.
#[derive(Debug, Clone, Copy)]
pub struct S3;

impl layer_core::family::Family for S3 {
    const SECTION: &'static str = SECTION;
    type Settings = S3Settings;

    fn settings(env: &Environment) -> Result<S3Settings> {
        let settings: S3Settings = env.section(SECTION)?;
        settings.names(env)?;
        Ok(settings)
    }

    fn resources(
        layer: layer_core::family::Layer<'_>,
        settings: &S3Settings,
    ) -> Result<Vec<Arc<dyn AnyResource>>> {
        resources(
            layer.env,
            layer.infra,
            layer.account_id,
            layer.sdk,
            settings,
        )
    }
}

fn resources(
    env: &Environment,
    infra: &Infrastructure,
    account_id: &str,
    sdk: &SdkConfig,
    settings: &S3Settings,
) -> Result<Vec<Arc<dyn AnyResource>>> {
    let names = settings.names(env)?;
    let s3_config = aws_sdk_s3::config::Builder::from(sdk)
        // A local endpoint serves buckets by path, not by virtual host.
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    let iam = aws_sdk_iam::Client::new(sdk);
    let mut out: Vec<Arc<dyn AnyResource>> = Vec::new();
    let region = env.region.clone();
    for key in BUCKETS {
        let name = names.bucket(key).to_string();
        let lifecycle = (key == "application_data").then(|| settings.lifecycle_rules());
        out.push(Arc::new(
            Bucket::builder()
                .client(s3.clone())
                .key(key)
                .name(name)
                .region(region.clone())
                .account_id(account_id.to_string())
                .kms_key_arn(infra.general_kms_key_arn.clone())
                .vpc_endpoint_id(infra.s3_gateway_endpoint_id.clone())
                .lifecycle(lifecycle)
                .build(),
        ));
    }
    out.push(Arc::new(
        AccessUser::builder()
            .client(iam)
            .name(names.s3_access_user.clone())
            .kms_key_arn(infra.general_kms_key_arn.clone())
            .build(),
    ));
    Ok(out)
}
