//! The typed plan: what apply would do, rendered like Terraform's plan or as JSON.

use std::fmt::{self, Write as _};

use serde::Serialize;
use serde_json::Value;

use crate::address::Address;
use crate::diff::FieldChange;

/// The version of the plan's JSON schema (see [`Plan::to_json`]); raised on any incompatible change.
pub const PLAN_JSON_VERSION: u32 = 1;
use crate::flags::Flag;

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

    /// The plan as JSON, schema version [`PLAN_JSON_VERSION`]: `{"format_version": 1,
    /// "changes": [{address, name, action: {kind, reasons?}, fields: [{path, before, after,
    /// forces_replacement}], requires?, note?}], "summary": {add, change, destroy}}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "format_version": PLAN_JSON_VERSION,
            "changes": self.changes,
            "summary": self.summary(),
        })
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
        f.write_str(&self.render(false))
    }
}

/// The family a resource belongs to, for grouping the plan.
pub(crate) fn family(address: &Address) -> &'static str {
    let a = address.to_string();
    let (ty, key) = a.split_once('.').unwrap_or((a.as_str(), ""));
    let has = |words: &[&str]| words.iter().any(|w| key.contains(w));
    match ty {
        t if t.starts_with("aws_s3_") || t == "aws_iam_user" => "S3",
        t if t.starts_with("aws_rds_") || t.starts_with("aws_db_") => "Aurora",
        t if t.starts_with("aws_elasticache_") => "Redis",
        t if t.starts_with("aws_secretsmanager_") => "Secrets",
        t if t.starts_with("aws_bedrock_") => "Bedrock",
        t if t.starts_with("aws_prometheus_") || t.starts_with("aws_grafana_") => "Monitoring",
        _ if has(&["aurora", "rds"]) => "Aurora",
        _ if has(&["redis", "elasticache"]) => "Redis",
        _ if has(&["bedrock"]) => "Bedrock",
        _ if has(&["grafana", "prometheus"]) => "Monitoring",
        _ => "Shared",
    }
}

/// What a deletion or replacement of this kind of resource loses, in words.
pub(crate) fn data_lost(address: &Address) -> Option<&'static str> {
    let a = address.to_string();
    let ty = a.split('.').next().unwrap_or_default();
    Some(match ty {
        "aws_rds_cluster" => {
            "the cluster's databases (a final snapshot is kept unless skip_final_snapshot is set)"
        }
        "aws_elasticache_replication_group" => "the data cached in Redis",
        "aws_s3_bucket" => "the bucket's objects and all their versions",
        "aws_prometheus_workspace" => "the metrics stored in the workspace",
        "aws_secretsmanager_secret" => "the secret's value (restorable during its recovery window)",
        _ => return None,
    })
}

/// Pretty lines of a value: a scalar on one line, objects and arrays over several.
fn lines_of(v: &Option<Value>) -> Vec<String> {
    match v {
        None => vec!["(none)".into()],
        Some(v @ (Value::Object(_) | Value::Array(_))) => serde_json::to_string_pretty(v)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect(),
        Some(other) => vec![show(&Some(other.clone()))],
    }
}

/// A line diff (longest common subsequence): `' '` kept, `'-'` removed, `'+'` added.
fn diff_lines(a: &[String], b: &[String]) -> Vec<(char, String)> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push((' ', a[i].clone()));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(('-', a[i].clone()));
            i += 1;
        } else {
            out.push(('+', b[j].clone()));
            j += 1;
        }
    }
    out
}

/// Terminal styles; all empty when colour is off.
pub(crate) struct Paint {
    pub(crate) on: bool,
}

impl Paint {
    fn sym(&self, sym: &str) -> String {
        use anstyle::AnsiColor::*;
        let colour = match sym.trim() {
            "+" => Green,
            "~" => Yellow,
            "-" => Red,
            "-/+" => Magenta,
            "<=" => Cyan,
            _ => return sym.to_string(),
        };
        self.styled(colour.on_default().bold(), sym)
    }

    fn styled(&self, style: anstyle::Style, text: &str) -> String {
        if self.on {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    fn dim(&self, text: &str) -> String {
        self.styled(anstyle::Style::new().dimmed(), text)
    }

    fn bold(&self, text: &str) -> String {
        self.styled(anstyle::Style::new().bold(), text)
    }
}

impl Plan {
    /// The plan as the operator reads it: grouped by family, nested values over several lines
    /// with only the changed lines marked, losses of data called out in words, the summary last.
    /// With `colour`, symbols and headings are coloured (for a terminal).
    pub fn render(&self, colour: bool) -> String {
        let paint = Paint { on: colour };
        let mut out = String::new();
        let mut groups: Vec<(&str, Vec<&PlannedChange>)> = Vec::new();
        for c in self.changes.iter().filter(|c| c.action != Action::NoOp) {
            let fam = family(&c.address);
            match groups.iter_mut().find(|(g, _)| *g == fam) {
                Some((_, list)) => list.push(c),
                None => groups.push((fam, vec![c])),
            }
        }
        for (fam, changes) in &groups {
            let _ = writeln!(out, "{}", paint.bold(&format!("== {fam} ==")));
            for c in changes {
                render_change(&mut out, c, &paint);
            }
        }
        let s = self.summary();
        if self.has_changes() {
            let _ = write!(
                out,
                "{}",
                paint.bold(&format!(
                    "Plan: {} to add, {} to change, {} to destroy.",
                    s.add, s.change, s.destroy
                ))
            );
        } else {
            out.push_str("No changes. Your infrastructure matches the configuration.\n0 to add, 0 to change, 0 to destroy.");
        }
        out
    }
}

pub(crate) fn render_change(out: &mut String, c: &PlannedChange, paint: &Paint) {
    let verb = match &c.action {
        Action::Create => "will be created".to_string(),
        Action::Update => "will be updated in-place".to_string(),
        Action::Replace { reasons } => format!(
            "must be replaced ({} cannot change in place)",
            reasons.join(", ")
        ),
        Action::Delete => "will be destroyed".to_string(),
        Action::Adopt => "exists without our tags and will be adopted".to_string(),
        Action::NoOp => return,
    };
    let _ = writeln!(
        out,
        "  {}",
        paint.dim(&format!("# {} ({}) {verb}", c.address, c.name))
    );
    if matches!(c.action, Action::Delete | Action::Replace { .. }) {
        if let Some(lost) = data_lost(&c.address) {
            let _ = writeln!(out, "  {}", paint.bold(&format!("# this deletes {lost}")));
        }
    }
    if let Some(note) = &c.note {
        let _ = writeln!(out, "  {}", paint.dim(&format!("# {note}")));
    }
    if let Some(flag) = c.requires {
        let _ = writeln!(out, "  {}", paint.bold(&format!("# needs {flag}")));
    }
    let _ = writeln!(out, "{:>3} {}", paint.sym(c.action.symbol()), c.address);
    for field in &c.fields {
        let marker = if field.forces_replacement {
            "  # forces replacement"
        } else {
            ""
        };
        let sym = match (&field.before, &field.after, &c.action) {
            (_, _, Action::Create) | (None, Some(_), _) => "+",
            (Some(_), None, _) => "-",
            _ => "~",
        };
        let before = lines_of(&field.before);
        let after = lines_of(&field.after);
        let nested = before.len() > 1 || after.len() > 1;
        if c.action == Action::Create || field.before.is_none() {
            if after.len() == 1 {
                let _ = writeln!(
                    out,
                    "      {} {} = {}",
                    paint.sym("+"),
                    field.path,
                    after[0]
                );
            } else {
                let _ = writeln!(
                    out,
                    "      {} {} = {}",
                    paint.sym("+"),
                    field.path,
                    after[0]
                );
                for l in &after[1..] {
                    let _ = writeln!(out, "          {l}");
                }
            }
            continue;
        }
        if !nested {
            let _ = writeln!(
                out,
                "      {} {}: {} -> {}{marker}",
                paint.sym(sym),
                field.path,
                before[0],
                after[0]
            );
            continue;
        }
        let _ = writeln!(out, "      {} {}:{marker}", paint.sym(sym), field.path);
        let (old, new) = match (&field.before, &field.after) {
            (Some(_), None) => (before, Vec::new()),
            _ => (before, after),
        };
        for (mark, line) in diff_lines(&old, &new) {
            let m = if mark == ' ' {
                " ".to_string()
            } else {
                paint.sym(&mark.to_string())
            };
            let _ = writeln!(out, "        {m} {line}");
        }
    }
    let _ = writeln!(out);
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
        // The whole text and the whole JSON, as snapshots: `UPDATE_EXPECT=1` rewrites them for
        // review.
        expect_test::expect![[r#"
            == S3 ==
              # aws_iam_user.s3_access (dal-s3-access) will be created
              + aws_iam_user.s3_access

              # aws_s3_bucket.ai_data (dal-ai-data) will be updated in-place
              ~ aws_s3_bucket.ai_data
                  ~ versioning: "Suspended" -> "Enabled"

              # aws_s3_bucket.old (old) will be destroyed
              # this deletes the bucket's objects and all their versions
              - aws_s3_bucket.old

            == Redis ==
              # aws_elasticache_replication_group.redis (dal-redis) must be replaced (port cannot change in place)
              # this deletes the data cached in Redis
              # needs --allow-replace
            -/+ aws_elasticache_replication_group.redis
                  ~ port: 6379 -> 6380  # forces replacement

            Plan: 2 to add, 1 to change, 2 to destroy."#]].assert_eq(&plan.to_string());
        expect_test::expect![[r#"
            {
              "changes": [
                {
                  "action": {
                    "kind": "create"
                  },
                  "address": "aws_iam_user.s3_access",
                  "fields": [],
                  "name": "dal-s3-access"
                },
                {
                  "action": {
                    "kind": "update"
                  },
                  "address": "aws_s3_bucket.ai_data",
                  "fields": [
                    {
                      "after": "Enabled",
                      "before": "Suspended",
                      "forces_replacement": false,
                      "path": "versioning"
                    }
                  ],
                  "name": "dal-ai-data"
                },
                {
                  "action": {
                    "kind": "replace",
                    "reasons": [
                      "port"
                    ]
                  },
                  "address": "aws_elasticache_replication_group.redis",
                  "fields": [
                    {
                      "after": 6380,
                      "before": 6379,
                      "forces_replacement": true,
                      "path": "port"
                    }
                  ],
                  "name": "dal-redis",
                  "requires": "allow_replace"
                },
                {
                  "action": {
                    "kind": "delete"
                  },
                  "address": "aws_s3_bucket.old",
                  "fields": [],
                  "name": "old"
                },
                {
                  "action": {
                    "kind": "no_op"
                  },
                  "address": "aws_s3_bucket.same",
                  "fields": [],
                  "name": "same"
                }
              ],
              "format_version": 1,
              "summary": {
                "add": 2,
                "change": 1,
                "destroy": 2
              }
            }"#]]
        .assert_eq(&serde_json::to_string_pretty(&plan.to_json()).expect("serializes"));
    }

    #[test]
    fn nested_values_over_several_lines_with_only_the_changed_lines_marked() {
        let before = json!({"Statement": [{"Effect": "Deny", "Action": ["s3:GetObject"]}], "Version": "2012-10-17"});
        let after = json!({"Statement": [{"Effect": "Deny", "Action": ["s3:GetObject", "s3:PutObject"]}], "Version": "2012-10-17"});
        let mut update =
            PlannedChange::new(addr("aws_s3_bucket.ai_data"), "dal-ai-data", Action::Update);
        update.fields.push(FieldChange {
            path: "policy".into(),
            before: Some(before),
            after: Some(after),
            forces_replacement: false,
        });
        let mut create = PlannedChange::new(
            addr("aws_iam_role.bedrock_logging"),
            "dal-bedrock-logging",
            Action::Create,
        );
        create.fields.push(FieldChange {
            path: "tags".into(),
            before: None,
            after: Some(json!({"Environment": "dev"})),
            forces_replacement: false,
        });
        let mut adopt =
            PlannedChange::new(addr("aws_rds_cluster.aurora"), "dal-aurora", Action::Adopt);
        adopt.requires = Some(Flag::Adopt);
        let plan = Plan {
            changes: vec![
                update,
                create,
                adopt,
                PlannedChange::new(addr("aws_s3_bucket.old"), "old", Action::Delete),
            ],
        };
        let text = plan.render(false);
        let expected = r#"== S3 ==
  # aws_s3_bucket.ai_data (dal-ai-data) will be updated in-place
  ~ aws_s3_bucket.ai_data
      ~ policy:
          {
            "Statement": [
              {
                "Action": [
        -         "s3:GetObject"
        +         "s3:GetObject",
        +         "s3:PutObject"
                ],
                "Effect": "Deny"
              }
            ],
            "Version": "2012-10-17"
          }

  # aws_s3_bucket.old (old) will be destroyed
  # this deletes the bucket's objects and all their versions
  - aws_s3_bucket.old

== Bedrock ==
  # aws_iam_role.bedrock_logging (dal-bedrock-logging) will be created
  + aws_iam_role.bedrock_logging
      + tags = {
            "Environment": "dev"
          }

== Aurora ==
  # aws_rds_cluster.aurora (dal-aurora) exists without our tags and will be adopted
  # needs --adopt
 <= aws_rds_cluster.aurora

Plan: 1 to add, 2 to change, 1 to destroy."#;
        assert_eq!(text, expected, "\n{text}");
        assert!(!text.contains('\u{1b}'), "plain text off a terminal");
        let coloured = plan.render(true);
        assert!(coloured.contains("\u{1b}["), "colour on a terminal");
        assert_eq!(plan.to_json()["format_version"], PLAN_JSON_VERSION);
        expect_test::expect![[r#"
            {
              "changes": [
                {
                  "action": {
                    "kind": "update"
                  },
                  "address": "aws_s3_bucket.ai_data",
                  "fields": [
                    {
                      "after": {
                        "Statement": [
                          {
                            "Action": [
                              "s3:GetObject",
                              "s3:PutObject"
                            ],
                            "Effect": "Deny"
                          }
                        ],
                        "Version": "2012-10-17"
                      },
                      "before": {
                        "Statement": [
                          {
                            "Action": [
                              "s3:GetObject"
                            ],
                            "Effect": "Deny"
                          }
                        ],
                        "Version": "2012-10-17"
                      },
                      "forces_replacement": false,
                      "path": "policy"
                    }
                  ],
                  "name": "dal-ai-data"
                },
                {
                  "action": {
                    "kind": "create"
                  },
                  "address": "aws_iam_role.bedrock_logging",
                  "fields": [
                    {
                      "after": {
                        "Environment": "dev"
                      },
                      "before": null,
                      "forces_replacement": false,
                      "path": "tags"
                    }
                  ],
                  "name": "dal-bedrock-logging"
                },
                {
                  "action": {
                    "kind": "adopt"
                  },
                  "address": "aws_rds_cluster.aurora",
                  "fields": [],
                  "name": "dal-aurora",
                  "requires": "adopt"
                },
                {
                  "action": {
                    "kind": "delete"
                  },
                  "address": "aws_s3_bucket.old",
                  "fields": [],
                  "name": "old"
                }
              ],
              "format_version": 1,
              "summary": {
                "add": 1,
                "change": 2,
                "destroy": 1
              }
            }"#]]
        .assert_eq(&serde_json::to_string_pretty(&plan.to_json()).expect("serializes"));
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
