//! The safety vocabulary, one for every command: the flags that allow a change that could lose
//! data, the extra confirmation a protected environment asks for, and the exit codes.
//!
//! A refusal is decided from the plan alone, so it always happens before the first mutating call.

use std::fmt;

use crate::flags::{Flag, SafetyFlags};
use crate::plan::{Action, Plan};

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
    use crate::address::Address;
    use crate::plan::PlannedChange;

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
