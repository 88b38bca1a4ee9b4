//! The `[s3]` section of the environment files.

use layer_core::config::Environment;
use layer_core::naming::{resolve, NameRule};
use layer_core::Result;
use serde::Deserialize;

use crate::bucket::LifecycleRule;

/// Name overrides (`[s3.names]`), for adopting a layer whose names differ from ours.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NameOverrides {
    application_data: Option<String>,
    ai_data: Option<String>,
    s3_access_user: Option<String>,
}

/// The family's settings.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Days before application data moves to Standard-IA.
    pub application_data_ia_days: i32,
    /// Days before application data moves to Glacier.
    pub application_data_glacier_days: i32,
    /// Name overrides.
    #[serde(default)]
    pub names: NameOverrides,
}

/// The resolved names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Names {
    /// The `application-data` bucket.
    pub application_data: String,
    /// The `ai-data` bucket.
    pub ai_data: String,
    /// The S3 access IAM user.
    pub s3_access_user: String,
}

impl S3Names {
    /// A bucket's name by its key.
    pub fn bucket(&self, key: &str) -> &str {
        match key {
            "application_data" => &self.application_data,
            _ => &self.ai_data,
        }
    }
}

impl S3Settings {
    /// Resolve and check every name, and the settings' values.
    pub fn names(&self, env: &Environment) -> Result<S3Names> {
        let nid = &env.naming_id;
        let err = |e: String| env.invalid("s3.names", &e);
        if self.application_data_ia_days < 30 {
            return Err(env.invalid(
                "s3.application_data_ia_days",
                "S3 moves objects to Standard-IA after 30 days at the earliest; use 30 or more",
            ));
        }
        if self.application_data_glacier_days < self.application_data_ia_days + 30 {
            return Err(env.invalid(
                "s3.application_data_glacier_days",
                "S3 moves objects to Glacier at least 30 days after Standard-IA; use application_data_ia_days + 30 or more",
            ));
        }
        Ok(S3Names {
            application_data: resolve(
                "application_data",
                format!("{nid}-application-data"),
                self.names.application_data.as_ref(),
                NameRule::S3Bucket,
            )
            .map_err(err)?,
            ai_data: resolve(
                "ai_data",
                format!("{nid}-ai-data"),
                self.names.ai_data.as_ref(),
                NameRule::S3Bucket,
            )
            .map_err(err)?,
            s3_access_user: resolve(
                "s3_access_user",
                format!("{nid}-s3-access"),
                self.names.s3_access_user.as_ref(),
                NameRule::IamName,
            )
            .map_err(err)?,
        })
    }

    /// The application-data lifecycle.
    pub fn lifecycle_rules(&self) -> Vec<LifecycleRule> {
        vec![LifecycleRule {
            id: "tiering".into(),
            transitions: vec![
                (self.application_data_ia_days, "STANDARD_IA".into()),
                (self.application_data_glacier_days, "GLACIER".into()),
            ],
        }]
    }
}
