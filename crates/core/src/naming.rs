//! Naming: the environment's naming id and the limits each service puts on the names we derive.
//!
//! Every derived name is checked when config loads, so a name AWS would reject or rewrite (RDS
//! and ElastiCache lowercase ids, which would show as an endless diff) never reaches a call.

use std::fmt;

/// An environment's naming id: lowercase letters, digits and single hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct NamingId(String);

impl NamingId {
    /// Validate a naming id.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('-')
            && !s.contains("--")
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(NamingId(s.to_string()))
        } else {
            Err(format!(
                "naming id `{s}` is not valid: use 1 to 32 lowercase letters, digits and single hyphens, starting with a letter"
            ))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NamingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name rules of one kind of AWS name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// S3 bucket: 3..=63, lowercase letters, digits, hyphens and dots, starts and ends alphanumeric.
    S3Bucket,
    /// IAM user or role: 1..=64 of `[A-Za-z0-9+=,.@_-]`; we also refuse uppercase.
    IamName,
    /// RDS identifiers: 1..=63, letter first, letters digits hyphens, no `--`, no trailing hyphen.
    RdsIdentifier,
    /// ElastiCache replication group id: 1..=40, same alphabet as RDS.
    ElastiCacheId,
    /// Bedrock inference profile name: `([0-9a-zA-Z][ _-]?)+`, 1..=64.
    InferenceProfileName,
    /// CloudWatch Logs group: 1..=512 of `[\.\-_/#A-Za-z0-9]`.
    LogGroup,
    /// Secrets Manager name: 1..=512 of `[A-Za-z0-9/_+=.@-]`.
    SecretName,
    /// A tag-only name such as a VPC endpoint's `Name` tag: 1..=255.
    TagValue,
    /// An RDS or ElastiCache subnet group: 1..=255 lowercase letters, digits, `_ . -` and spaces
    /// (both services lowercase what they are given), not `default`.
    SubnetGroup,
    /// An EC2 security group name: 1..=255 printable ASCII, not starting with `sg-`.
    SecurityGroup,
}

impl NameRule {
    /// Check `name` against this rule, returning what is wrong with it.
    pub fn check(self, name: &str) -> Result<(), String> {
        let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let (max, problem) = match self {
            NameRule::S3Bucket => (
                63,
                (name.len() < 3
                    || !name.starts_with(lower_alnum)
                    || !name.ends_with(lower_alnum)
                    || !name.chars().all(|c| lower_alnum(c) || c == '-' || c == '.'))
                .then_some("lowercase letters, digits, hyphens and dots, starting and ending with a letter or digit, at least 3"),
            ),
            NameRule::IamName => (
                64,
                (!name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+=,.@_-".contains(c)))
                    .then_some("lowercase letters, digits and +=,.@_-"),
            ),
            NameRule::RdsIdentifier | NameRule::ElastiCacheId => (
                if self == NameRule::RdsIdentifier { 63 } else { 40 },
                (!name.starts_with(|c: char| c.is_ascii_lowercase())
                    || name.ends_with('-')
                    || name.contains("--")
                    || !name.chars().all(|c| lower_alnum(c) || c == '-'))
                .then_some("lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen"),
            ),
            NameRule::InferenceProfileName => (
                64,
                (!name.starts_with(|c: char| c.is_ascii_alphanumeric())
                    || name.contains("--")
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ' '))
                .then_some("letters and digits separated by single spaces, hyphens or underscores"),
            ),
            NameRule::LogGroup => (
                512,
                (!name.chars().all(|c| c.is_ascii_alphanumeric() || "._-/#".contains(c)))
                    .then_some("letters, digits and ._-/#"),
            ),
            NameRule::SecretName => (
                512,
                (!name.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)))
                    .then_some("letters, digits and /_+=.@-"),
            ),
            NameRule::TagValue => (255, None),
            NameRule::SubnetGroup => (
                255,
                (name.eq_ignore_ascii_case("default")
                    || !name.chars().all(|c| lower_alnum(c) || "_.- ".contains(c)))
                .then_some("lowercase letters, digits, spaces and _.- (and not `default`)"),
            ),
            NameRule::SecurityGroup => (
                255,
                (name.starts_with("sg-") || !name.chars().all(|c| c.is_ascii_graphic() || c == ' '))
                    .then_some("printable ASCII, not starting with `sg-`"),
            ),
        };
        if name.is_empty() || name.len() > max {
            return Err(format!(
                "`{name}` is {} characters; the limit is {max}",
                name.len()
            ));
        }
        match problem {
            Some(p) => Err(format!("`{name}` is not a valid name here: use {p}")),
            None => Ok(()),
        }
    }
}

/// A resource name: the default derived from the naming id, or the environment's override.
///
/// `key` is the override's key in the family's `names` table, so an error can say where to fix it.
pub fn resolve(
    key: &str,
    default: String,
    override_: Option<&String>,
    rule: NameRule,
) -> Result<String, String> {
    let fix = match override_ {
        Some(_) => format!("correct `names.{key}`"),
        None => format!("choose a shorter naming id or set `names.{key}` in the environment file"),
    };
    let name = override_.cloned().unwrap_or(default);
    rule.check(&name)
        .map_err(|e| format!("name `{key}`: {e}; {fix}"))?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_id_rules() {
        assert!(NamingId::parse("dal-dev").is_ok());
        for bad in ["", "Dal", "dal--dev", "dal-", "1dal", "dal_dev"] {
            assert!(NamingId::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn service_limits() {
        let long = "a".repeat(41);
        assert!(NameRule::ElastiCacheId.check(&long).is_err());
        assert!(NameRule::RdsIdentifier.check(&long).is_ok());
        assert!(NameRule::S3Bucket.check(&"a".repeat(64)).is_err());
        assert!(NameRule::S3Bucket.check("Upper-case").is_err());
        assert!(NameRule::IamName.check("Dal-s3-access").is_err());
        assert!(NameRule::SubnetGroup.check("dal_dev aurora.1").is_ok());
        assert!(NameRule::SubnetGroup.check("Dal-dev").is_err());
        assert!(NameRule::SubnetGroup.check("default").is_err());
        assert!(NameRule::SecurityGroup.check("sg-aurora").is_err());
        assert!(NameRule::SecurityGroup.check("Aurora SG (tf)").is_ok());
        assert!(NameRule::InferenceProfileName
            .check("dal-dev-claude-3-haiku")
            .is_ok());
        let err = resolve("application_data", "x".into(), None, NameRule::S3Bucket).unwrap_err();
        assert!(err.contains("names.application_data"), "{err}");
    }
}
