//! The typed plan: what apply would do, rendered like Terraform's plan or as JSON.

use std::fmt::{self, Write as _};

use serde::Serialize;
use serde_json::Value;

use crate::resource::Address;
use crate::safety::Flag;

/// What apply does to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Action {
    /// The resource does not exist and will be created.
    Create,
    /// Fields change in place.
    Update,
    /// The resource is deleted and created again, for the reasons given.
    Replace {
        /// Which fields force the replacement.
        reasons: Vec<String>,
    },
    /// The resource is deleted.
    Delete,
    /// The resource exists under our name without our tags; apply takes it over with `--adopt`.
    Adopt,
    /// Nothing to do.
    NoOp,
}

impl Action {
    /// The Terraform-style symbol.
    pub fn symbol(&self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace { .. } => "-/+",
            Action::Delete => "-",
            Action::Adopt => "<=",
            Action::NoOp => " ",
        }
    }
}

/// One field that differs between desired and observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Dotted path of the field, e.g. `versioning` or `tags.Environment`.
    pub path: String,
    /// Observed value; `None` when absent.
    pub before: Option<Value>,
    /// Desired value; `None` when it will be removed.
    pub after: Option<Value>,
    /// Whether this change can only be made by replacing the resource.
    pub forces_replacement: bool,
}

impl FieldChange {
    /// The top-level field this change belongs to (`tags` for `tags.Environment`).
    pub fn field(&self) -> &str {
        self.path.split('.').next().unwrap_or(&self.path)
    }
}

/// The planned change of one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedChange {
    /// Where the resource sits in the layer, e.g. `aws_s3_bucket.application_data`.
    pub address: Address,
    /// Its name in AWS.
    pub name: String,
    /// What apply does.
    pub action: Action,
    /// The fields that change (empty for create, delete and no-op).
    pub fields: Vec<FieldChange>,
    /// The safety flag this change needs, if any (see [`crate::safety`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires: Option<Flag>,
    /// A sentence for the operator, e.g. why a delete needs a flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PlannedChange {
    /// A change with no fields, flag or note.
    pub fn new(address: Address, name: impl Into<String>, action: Action) -> Self {
        PlannedChange {
            address,
            name: name.into(),
            action,
            fields: Vec::new(),
            requires: None,
            note: None,
        }
    }
}

/// A whole plan, in the order apply walks it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Every resource's planned change, no-ops included.
    pub changes: Vec<PlannedChange>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Resources created (a replacement counts here too, like Terraform).
    pub add: usize,
    /// Resources changed in place or adopted.
    pub change: usize,
    /// Resources destroyed (a replacement counts here too).
    pub destroy: usize,
}

impl Plan {
    /// Whether apply would change anything.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    /// The counts of the last line.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.action {
                Action::Create => s.add += 1,
                Action::Update | Action::Adopt => s.change += 1,
                Action::Replace { .. } => {
                    s.add += 1;
                    s.destroy += 1
                }
                Action::Delete => s.destroy += 1,
                Action::NoOp => {}
            }
        }
        s
    }

    /// The plan as JSON (`{"changes": [...], "summary": {...}}`).
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "changes": self.changes, "summary": self.summary() })
    }
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(none)".to_string(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(v) => v.to_string(),
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for c in self.changes.iter().filter(|c| c.action != Action::NoOp) {
            let verb = match &c.action {
                Action::Create => "will be created".to_string(),
                Action::Update => "will be updated in-place".to_string(),
                Action::Replace { reasons } => {
                    format!(
                        "must be replaced ({} cannot change in place)",
                        reasons.join(", ")
                    )
                }
                Action::Delete => "will be destroyed".to_string(),
                Action::Adopt => "exists without our tags and will be adopted".to_string(),
                Action::NoOp => unreachable!("filtered above"),
            };
            writeln!(out, "  # {} ({}) {verb}", c.address, c.name)?;
            if let Some(note) = &c.note {
                writeln!(out, "  # {note}")?;
            }
            if let Some(flag) = c.requires {
                writeln!(out, "  # needs {flag}")?;
            }
            writeln!(out, "{:>3} {}", c.action.symbol(), c.address)?;
            for field in &c.fields {
                let marker = if field.forces_replacement {
                    "  # forces replacement"
                } else {
                    ""
                };
                let sym = match (&field.before, &field.after) {
                    (None, Some(_)) => "+",
                    (Some(_), None) => "-",
                    _ => "~",
                };
                if c.action == Action::Create {
                    writeln!(out, "      + {} = {}", field.path, show(&field.after))?;
                    continue;
                }
                writeln!(
                    out,
                    "      {sym} {}: {} -> {}{marker}",
                    field.path,
                    show(&field.before),
                    show(&field.after)
                )?;
            }
            writeln!(out)?;
        }
        let s = self.summary();
        if self.has_changes() {
            write!(
                out,
                "Plan: {} to add, {} to change, {} to destroy.",
                s.add, s.change, s.destroy
            )?;
        } else {
            write!(out, "No changes. Your infrastructure matches the configuration.\n0 to add, 0 to change, 0 to destroy.")?;
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn addr(s: &str) -> Address {
        Address::new(s)
    }

    #[test]
    fn renders_like_terraform() {
        let mut update =
            PlannedChange::new(addr("aws_s3_bucket.ai_data"), "dal-ai-data", Action::Update);
        update.fields.push(FieldChange {
            path: "versioning".into(),
            before: Some(json!("Suspended")),
            after: Some(json!("Enabled")),
            forces_replacement: false,
        });
        let mut replace = PlannedChange::new(
            addr("aws_elasticache_replication_group.redis"),
            "dal-redis",
            Action::Replace {
                reasons: vec!["port".into()],
            },
        );
        replace.fields.push(FieldChange {
            path: "port".into(),
            before: Some(json!(6379)),
            after: Some(json!(6380)),
            forces_replacement: true,
        });
        replace.requires = Some(Flag::AllowReplace);
        let plan = Plan {
            changes: vec![
                PlannedChange::new(
                    addr("aws_iam_user.s3_access"),
                    "dal-s3-access",
                    Action::Create,
                ),
                update,
                replace,
                PlannedChange::new(addr("aws_s3_bucket.old"), "old", Action::Delete),
                PlannedChange::new(addr("aws_s3_bucket.same"), "same", Action::NoOp),
            ],
        };
        let text = plan.to_string();
        assert!(text.contains("  + aws_iam_user.s3_access"), "{text}");
        assert!(text.contains("  ~ aws_s3_bucket.ai_data"), "{text}");
        assert!(
            text.contains("~ versioning: \"Suspended\" -> \"Enabled\""),
            "{text}"
        );
        assert!(
            text.contains("-/+ aws_elasticache_replication_group.redis"),
            "{text}"
        );
        assert!(
            text.contains("port: 6379 -> 6380  # forces replacement"),
            "{text}"
        );
        assert!(text.contains("needs --allow-replace"), "{text}");
        assert!(text.contains("  - aws_s3_bucket.old"), "{text}");
        assert!(
            !text.contains("aws_s3_bucket.same"),
            "no-ops are not listed: {text}"
        );
        assert!(
            text.ends_with("Plan: 2 to add, 1 to change, 2 to destroy."),
            "{text}"
        );
        let j = plan.to_json();
        assert_eq!(j["summary"], json!({"add": 2, "change": 1, "destroy": 2}));
        assert_eq!(j["changes"][2]["action"]["kind"], "replace");
        assert_eq!(j["changes"][2]["requires"], "allow_replace");
    }

    #[test]
    fn empty_plan_says_no_changes() {
        let plan = Plan {
            changes: vec![PlannedChange::new(addr("a.b"), "b", Action::NoOp)],
        };
        assert!(!plan.has_changes());
        assert!(plan
            .to_string()
            .ends_with("0 to add, 0 to change, 0 to destroy."));
    }
}
