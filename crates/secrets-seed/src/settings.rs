//! `[secrets]`: the recovery window, the CA bundle's source, the connection strings' query, and
//! the template of `azure-openai-endpoint-definitions`. Validated at load, before any call.

use std::path::{Path, PathBuf};

use layer_core::config::Environment;
use layer_core::Result;
use serde::Deserialize;

use crate::SECTION;

/// The placeholder the endpoint-definitions template holds where the LiteLLM master key goes.
pub const LITELLM_KEY_PLACEHOLDER: &str = "${litellm_master_key}";

/// Secrets Manager's limit on a secret value.
pub const MAX_SECRET_BYTES: usize = 65_536;

/// `[secrets]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// `secrets_recovery_window_days`: 0 (delete at once) or 7 to 30.
    pub recovery_window_days: u32,
    /// Where `rds-ca-bundle` comes from: a file (relative to the project root) or an https URL;
    /// `{region}` is replaced by the region.
    pub rds_ca_bundle: String,
    /// The query of every connection string, without `?` (e.g. `sslmode=verify-full`); empty for none.
    #[serde(default)]
    pub connection_string_query: String,
    /// The JSON of `azure-openai-endpoint-definitions`, with `"${litellm_master_key}"` where the key goes.
    pub endpoint_definitions_template: String,
    /// What every secret's name starts with (`{naming_id}/` when unset): another layer's prefix,
    /// to take over its secrets under their names. The run lock's secret follows it.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9/_+=.@-]{1,256}$"))]
    pub prefix: Option<String>,
    /// A secret's exact name, by its name in the catalog (`redis-password = "legacy/cache-auth"`):
    /// a secret taken over from a layer that named it beyond a common prefix.
    #[serde(default)]
    #[schemars(extend("additionalProperties" = {"type": "string", "pattern": "^[A-Za-z0-9/_+=.@-]{1,256}$"}))]
    pub names: std::collections::BTreeMap<String, String>,
}

/// Where the CA bundle comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaSource {
    /// A file.
    File(PathBuf),
    /// An https URL.
    Url(String),
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
        check_template(&s.endpoint_definitions_template)
            .map_err(|why| env.invalid("secrets.endpoint_definitions_template", &why))?;
        if s.connection_string_query.starts_with('?')
            || s.connection_string_query.contains(['#', ' '])
        {
            return Err(env.invalid(
                "secrets.connection_string_query",
                "give the query without `?`, `#` or spaces, e.g. `sslmode=verify-full`",
            ));
        }
        let name_chars = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
        if let Some(p) = &s.prefix {
            if p.is_empty() || p.len() > 256 || !p.chars().all(name_chars) {
                return Err(env.invalid(
                    "secrets.prefix",
                    "use 1 to 256 of the characters Secrets Manager allows in names (letters, digits, / _ + = . @ -), e.g. `platform/data/`",
                ));
            }
        }
        for (secret, name) in &s.names {
            if name.is_empty() || name.len() > 256 || !name.chars().all(name_chars) {
                return Err(env.invalid(
                    &format!("secrets.names.{secret}"),
                    "use 1 to 256 of the characters Secrets Manager allows in names (letters, digits, / _ + = . @ -)",
                ));
            }
        }
        if let CaSource::Url(u) = s.ca_source(env) {
            if !u.starts_with("https://") {
                return Err(env.invalid(
                    "secrets.rds_ca_bundle",
                    "a URL must use https (or give a file path)",
                ));
            }
        }
        Ok(s)
    }

    /// The CA bundle's source, `{region}` filled in; a relative file is relative to the
    /// project root (the parent of the environments directory).
    pub fn ca_source(&self, env: &Environment) -> CaSource {
        let s = self.rds_ca_bundle.replace("{region}", &env.region);
        if s.contains("://") {
            return CaSource::Url(s);
        }
        let path = Path::new(&s);
        if path.is_absolute() {
            CaSource::File(path.to_path_buf())
        } else {
            let root = env
                .file
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("."));
            CaSource::File(root.join(path))
        }
    }
}

/// The template must be JSON and hold the placeholder as whole string values only.
fn check_template(t: &str) -> std::result::Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(t).map_err(|e| {
        format!("not valid JSON ({e}); give a JSON document with \"{LITELLM_KEY_PLACEHOLDER}\" where the LiteLLM master key goes")
    })?;
    fn count(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(s) => usize::from(s == LITELLM_KEY_PLACEHOLDER),
            serde_json::Value::Array(a) => a.iter().map(count).sum(),
            serde_json::Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    let whole = count(&v);
    let quoted = format!("\"{LITELLM_KEY_PLACEHOLDER}\"");
    if whole == 0
        || t.matches(&quoted).count() != whole
        || t.matches(LITELLM_KEY_PLACEHOLDER).count() != whole
    {
        return Err(format!(
            "put the LiteLLM master key in as a whole JSON string, \"{LITELLM_KEY_PLACEHOLDER}\" (it appears {whole} time(s) as one)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_rules() {
        assert!(check_template(r#"[{"key": "${litellm_master_key}", "models": []}]"#).is_ok());
        assert!(check_template(r#"[{"key": "${litellm_master_key}""#)
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(check_template(r#"[{"key": "x"}]"#).is_err());
        assert!(check_template(r#"[{"key": "Bearer ${litellm_master_key}"}]"#).is_err());
        assert!(check_template(r#"{"${litellm_master_key}": "${litellm_master_key}"}"#).is_err());
    }
}
