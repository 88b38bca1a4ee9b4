//! The Bedrock family: application inference profiles and model invocation logging.
//!
//! **Status: settings only.** This crate owns and validates the `[bedrock]` section; the
//! profiles, the logging role and log group are not built yet.

use std::collections::BTreeMap;

use layer_core::config::Environment;
use layer_core::naming::{resolve, NameRule};
use layer_core::Result;
use serde::Deserialize;

/// The section of the environment files this crate owns.
pub const SECTION: &str = "bedrock";

/// Where a profile's source model lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceType {
    /// A system-defined (`eu.*`, `global.*`) inference profile.
    InferenceProfile,
    /// A foundation model in the region.
    FoundationModel,
}

/// One application inference profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSettings {
    /// The source model or system-defined profile id.
    pub source: String,
    /// Its type.
    pub source_type: SourceType,
}

/// `[bedrock]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedrockSettings {
    /// `enable_bedrock_logging`.
    pub enable_logging: bool,
    /// The invocation log group.
    pub log_group_name: String,
    /// `bedrock_inference_profiles`, by profile key.
    pub inference_profiles: BTreeMap<String, ProfileSettings>,
}

impl BedrockSettings {
    /// Read and validate the section.
    pub fn load(env: &Environment) -> Result<Self> {
        let s: Self = env.section(SECTION)?;
        for (key, p) in &s.inference_profiles {
            let k = format!("bedrock.inference_profiles.{key}");
            resolve(
                key,
                format!("{}-{key}", env.naming_id),
                None,
                NameRule::InferenceProfileName,
            )
            .map_err(|e| env.invalid(&k, &e))?;
            let system = p.source.starts_with("eu.")
                || p.source.starts_with("global.")
                || p.source.starts_with("us.")
                || p.source.starts_with("apac.");
            match (p.source_type, system) {
                (SourceType::InferenceProfile, false) => {
                    return Err(env.invalid(&k, &format!("`{}` is a foundation model id; set source_type = \"foundation-model\"", p.source)))
                }
                (SourceType::FoundationModel, true) => {
                    return Err(env.invalid(&k, &format!("`{}` is a system-defined inference profile; set source_type = \"inference-profile\"", p.source)))
                }
                _ => {}
            }
        }
        Ok(s)
    }
}
