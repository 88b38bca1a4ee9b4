//! Secrets: the Secrets Manager containers (deploy) and the seed step that fills them.
//!
//! **Status: settings only.** This crate owns and validates the `[secrets]` section; the
//! containers and the seed step are not built yet.

use layer_core::config::Environment;
use layer_core::Result;
use serde::Deserialize;

/// The section of the environment files this crate owns.
pub const SECTION: &str = "secrets";

/// `[secrets]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// `secrets_recovery_window_days`: 0 (delete at once) or 7 to 30.
    pub recovery_window_days: u32,
}

impl SecretsSettings {
    /// Read and validate the section.
    pub fn load(env: &Environment) -> Result<Self> {
        let s: Self = env.section(SECTION)?;
        if s.recovery_window_days != 0 && !(7..=30).contains(&s.recovery_window_days) {
            return Err(env.invalid(
                "secrets.recovery_window_days",
                "Secrets Manager accepts 0 (immediate) or 7 to 30 days",
            ));
        }
        Ok(s)
    }
}
