//! Secret names: `<prefix><secret>` (the prefix `{naming_id}/` unless `[secrets] prefix` gives
//! another), or the exact name `[secrets.names]` gives one secret (a secret taken over from a
//! layer that named it otherwise). Every name, and every IAM resource of the secrets, comes from
//! here.

use std::collections::BTreeMap;

use layer_core::config::Environment;

use crate::settings::SecretsSettings;
use crate::SECTION;

/// The lock's name under the environment's prefix.
pub const LOCK_SECRET: &str = "run-lock";

/// How an environment names its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretNames {
    prefix: String,
    exact: BTreeMap<String, String>,
}

impl SecretNames {
    /// Names under `prefix`, but for the secrets `exact` names.
    pub fn new(prefix: impl Into<String>, exact: BTreeMap<String, String>) -> Self {
        SecretNames {
            prefix: prefix.into(),
            exact,
        }
    }

    /// The environment's: `[secrets] prefix` (or `{naming_id}/`) and `[secrets.names]`.
    pub fn of(env: &Environment) -> Self {
        let settings = env.section::<SecretsSettings>(SECTION).ok();
        let prefix = settings
            .as_ref()
            .and_then(|s| s.prefix.clone())
            .unwrap_or_else(|| format!("{}/", env.naming_id.as_str()));
        let exact = settings.map(|s| s.names).unwrap_or_default();
        SecretNames { prefix, exact }
    }

    /// What the names start with, but for the exact ones.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The secrets named exactly, by the catalog's name.
    pub fn exact(&self) -> &BTreeMap<String, String> {
        &self.exact
    }

    /// The name in Secrets Manager of the catalog's `secret`.
    pub fn full(&self, secret: &str) -> String {
        match self.exact.get(secret) {
            Some(name) => name.clone(),
            None => format!("{}{secret}", self.prefix),
        }
    }

    /// The IAM resources of every secret of the catalog: the prefix's, and each exactly named
    /// secret's (AWS adds a dash and six characters to a secret's name in its ARN). The run
    /// lock's own statement names it.
    pub fn arns(&self) -> Vec<String> {
        let arn = |pattern: String| layer_core::access::arn("secretsmanager", &pattern);
        std::iter::once(arn(format!("secret:{}*", self.prefix)))
            .chain(
                self.exact
                    .iter()
                    .filter(|(secret, _)| secret.as_str() != LOCK_SECRET)
                    .map(|(_, name)| name)
                    .filter(|n| !n.starts_with(&self.prefix))
                    .map(|n| arn(format!("secret:{n}-??????"))),
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_win_over_the_prefix_and_get_their_own_iam_resource() {
        let exact = BTreeMap::from([
            (
                "redis-password".to_string(),
                "legacy/cache-auth".to_string(),
            ),
            ("psql-host".to_string(), "platform/data/db-host".to_string()),
            ("run-lock".to_string(), "locks/data-and-ai".to_string()),
        ]);
        let names = SecretNames::new("platform/data/", exact);
        assert_eq!(names.full("psql-password"), "platform/data/psql-password");
        assert_eq!(names.full("redis-password"), "legacy/cache-auth");
        assert_eq!(names.full(LOCK_SECRET), "locks/data-and-ai");
        let arns = names.arns();
        assert_eq!(
            arns.len(),
            2,
            "one under the prefix is covered by it, the lock has its own: {arns:?}"
        );
        assert!(arns[0].ends_with(":secret:platform/data/*"), "{arns:?}");
        assert!(
            arns[1].ends_with(":secret:legacy/cache-auth-??????"),
            "{arns:?}"
        );
    }
}
