//! The safety vocabulary, one for every command: the flags that allow a change that could lose
//! data, the extra confirmation a protected environment asks for, and the exit codes.
//!
//! A refusal is decided from the plan alone, so it always happens before the first mutating call.

use std::fmt;

use serde::Serialize;

use crate::plan::{Action, Plan};

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success.
    Success = 0,
    /// An error.
    Error = 1,
    /// `plan --detailed-exitcode`: changes are pending.
    Changes = 2,
    /// Refused for safety; nothing was changed.
    Refused = 3,
    /// Interrupted (Ctrl-C): what was in flight finished, nothing new started.
    Interrupted = 130,
}

/// A flag that allows a change which could lose data or take over a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// `--allow-replace`: replace a stateful resource.
    AllowReplace,
    /// `--purge-buckets`: delete a bucket's objects and versions.
    PurgeBuckets,
    /// `--rotate <secret>`: overwrite a key that encrypts data at rest.
    Rotate,
    /// `--adopt`: take over a resource that exists under our name without our tags.
    Adopt,
    /// `--confirm-env <env>`: what a protected environment asks for on top of the others.
    ConfirmEnv,
    /// `--allow-major-upgrade`: upgrade an engine's major version in place (it cannot be undone).
    MajorUpgrade,
    /// No flag allows it: the resource's deletion protection is on, and the tool never switches
    /// it off by itself. The operator sets it off in the environment and deploys first.
    DeletionProtection,
}

impl Flag {
    /// What the operator does to allow a change guarded by this flag.
    pub fn remedy(&self) -> String {
        match self {
            Flag::DeletionProtection => "set `deletion_protection = false` in the environment and deploy it first; the tool never switches deletion protection off by itself".to_string(),
            other => format!("pass {other} to allow it"),
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flag::AllowReplace => "--allow-replace",
            Flag::PurgeBuckets => "--purge-buckets",
            Flag::Rotate => "--rotate <secret>",
            Flag::Adopt => "--adopt",
            Flag::ConfirmEnv => "--confirm-env <environment>",
            Flag::MajorUpgrade => "--allow-major-upgrade",
            Flag::DeletionProtection => "deletion_protection = false",
        })
    }
}

/// The flags an operator gave.
#[derive(Debug, Clone, Default)]
pub struct SafetyFlags {
    /// `--allow-replace`.
    pub allow_replace: bool,
    /// `--purge-buckets`.
    pub purge_buckets: bool,
    /// `--adopt`.
    pub adopt: bool,
    /// `--rotate <secret>`, repeatable.
    pub rotate: Vec<String>,
    /// `--confirm-env <env>`.
    pub confirm_env: Option<String>,
    /// `--allow-major-upgrade`.
    pub major_upgrade: bool,
}

impl SafetyFlags {
    /// Whether the flag was given.
    pub fn has(&self, flag: Flag) -> bool {
        match flag {
            Flag::AllowReplace => self.allow_replace,
            Flag::PurgeBuckets => self.purge_buckets,
            Flag::Adopt => self.adopt,
            Flag::Rotate => !self.rotate.is_empty(),
            Flag::ConfirmEnv => self.confirm_env.is_some(),
            Flag::MajorUpgrade => self.major_upgrade,
            Flag::DeletionProtection => false,
        }
    }
}

/// One refused change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedChange {
    /// The resource.
    pub address: String,
    /// What it would have done and why that is guarded.
    pub reason: String,
    /// What allows it: the flag to pass, or what to change first.
    pub flag: String,
}

/// Changes refused for safety (exit code 3). Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Every refused change, so the operator sees them all at once.
    pub changes: Vec<RefusedChange>,
}

impl std::error::Error for Refusal {}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused for safety, nothing was changed:")?;
        for c in &self.changes {
            write!(f, "\n  - {}: {}; {}", c.address, c.reason, c.flag)?;
        }
        Ok(())
    }
}

/// Decide whether the plan may be applied with these flags.
///
/// `protected` is the environment's `protected` setting (prod): destroy, replacement, purge and
/// rotation then also need `--confirm-env <environment>`, which `--auto-approve` never stands in for.
pub fn check(
    plan: &Plan,
    environment: &str,
    protected: bool,
    flags: &SafetyFlags,
) -> Result<(), Refusal> {
    let mut changes = Vec::new();
    let confirmed = flags.confirm_env.as_deref() == Some(environment);
    for c in &plan.changes {
        if let Some(flag) = c.requires {
            if !flags.has(flag) {
                let reason = c.note.clone().unwrap_or_else(|| match &c.action {
                    Action::Replace { reasons } => format!(
                        "replacing it would lose its data ({} changed)",
                        reasons.join(", ")
                    ),
                    Action::Adopt => format!("`{}` exists without our tags", c.name),
                    other => format!("{other:?} is guarded"),
                });
                changes.push(RefusedChange {
                    address: c.address.to_string(),
                    reason,
                    flag: flag.remedy(),
                });
                continue;
            }
        }
        let dangerous = matches!(c.action, Action::Delete | Action::Replace { .. })
            || matches!(c.requires, Some(Flag::PurgeBuckets | Flag::Rotate));
        if protected && dangerous && !confirmed {
            changes.push(RefusedChange {
                address: c.address.to_string(),
                reason: format!("`{environment}` is a protected environment and this change deletes or replaces `{}`", c.name),
                flag: format!("pass --confirm-env {environment} to allow it"),
            });
        }
    }
    if changes.is_empty() {
        Ok(())
    } else {
        Err(Refusal { changes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlannedChange;
    use crate::resource::Address;

    fn plan_with(action: Action, requires: Option<Flag>) -> Plan {
        let mut c = PlannedChange::new(Address::new("aws_s3_bucket.x"), "x", action);
        c.requires = requires;
        Plan { changes: vec![c] }
    }

    #[test]
    fn guarded_changes_need_their_flag() {
        let p = plan_with(Action::Delete, Some(Flag::PurgeBuckets));
        let err = check(&p, "dev", false, &SafetyFlags::default()).unwrap_err();
        assert!(err.to_string().contains("--purge-buckets"), "{err}");
        assert!(check(
            &p,
            "dev",
            false,
            &SafetyFlags {
                purge_buckets: true,
                ..Default::default()
            }
        )
        .is_ok());
    }

    #[test]
    fn protected_environment_needs_confirmation_even_with_the_flag() {
        let p = plan_with(Action::Delete, None);
        assert!(check(&p, "prod", false, &SafetyFlags::default()).is_ok());
        let err = check(&p, "prod", true, &SafetyFlags::default()).unwrap_err();
        assert!(err.to_string().contains("--confirm-env prod"), "{err}");
        let wrong = SafetyFlags {
            confirm_env: Some("dev".into()),
            ..Default::default()
        };
        assert!(check(&p, "prod", true, &wrong).is_err());
        let right = SafetyFlags {
            confirm_env: Some("prod".into()),
            ..Default::default()
        };
        assert!(check(&p, "prod", true, &right).is_ok());
        // Creating or updating needs no confirmation.
        assert!(check(
            &plan_with(Action::Update, None),
            "prod",
            true,
            &SafetyFlags::default()
        )
        .is_ok());
    }

    #[test]
    fn adopt_is_refused_without_the_flag() {
        let p = plan_with(Action::Adopt, Some(Flag::Adopt));
        let err = check(&p, "dev", false, &SafetyFlags::default()).unwrap_err();
        assert!(err.to_string().contains("--adopt"));
    }
}
