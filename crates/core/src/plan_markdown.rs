//! The plan as a pull-request comment (`plan --format markdown`): the summary line first, a table
//! per family of what changes, each change's fields in a collapsible block, and the refusals with
//! the flags they need. Built from the plan alone, which holds no secret value.

use std::fmt::Write as _;

use crate::plan::{data_lost, family, render_change, Paint};
use crate::{Action, Plan, PlannedChange};

/// A table cell: pipes and line breaks would break the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn action_word(a: &Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace { .. } => "replace",
        Action::Delete => "destroy",
        Action::Adopt => "adopt",
        Action::NoOp => "no change",
    }
}

/// A change's text rendering as a `diff` block: `+` and `-` lines coloured by the reader, `~`
/// shown as `!`.
fn diff_block(c: &PlannedChange) -> String {
    let mut text = String::new();
    render_change(&mut text, c, &Paint { on: false });
    let mut out = String::from("```diff\n");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let trimmed = line.trim_start();
        let mark = match trimmed.chars().next() {
            Some('+') => '+',
            Some('-') if trimmed.starts_with("-/+") => '!',
            Some('-') => '-',
            Some('~') => '!',
            _ => ' ',
        };
        let _ = writeln!(out, "{mark} {line}");
    }
    out.push_str("```\n");
    out
}

impl Plan {
    /// The plan as Markdown for a pull-request comment.
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let s = self.summary();
        if !self.has_changes() {
            out.push_str("**No changes.** The environment matches the configuration.\n");
            return out;
        }
        let _ = writeln!(
            out,
            "**Plan: {} to add, {} to change, {} to destroy.**\n",
            s.add, s.change, s.destroy
        );
        let refused: Vec<&PlannedChange> = self
            .changes
            .iter()
            .filter(|c| c.requires.is_some())
            .collect();
        if !refused.is_empty() {
            out.push_str("> [!WARNING]\n> Refused unless the operator gives its flag:\n");
            for c in &refused {
                let flag = c.requires.map(|f| f.to_string()).unwrap_or_default();
                let lost = match c.action {
                    Action::Delete | Action::Replace { .. } => data_lost(&c.address),
                    _ => None,
                };
                let lost = lost.map(|l| format!(" (deletes {l})")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "> - `{}` ({}): {} needs `{flag}`{lost}",
                    c.address,
                    cell(&c.name),
                    action_word(&c.action)
                );
            }
            out.push('\n');
        }
        for (fam, changes) in self.by_family() {
            let _ = writeln!(out, "### {fam}\n");
            out.push_str("| action | resource | name | needs |\n|---|---|---|---|\n");
            for c in &changes {
                let needs = c.requires.map(|f| format!("`{f}`")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "| {} | `{}` | {} | {needs} |",
                    action_word(&c.action),
                    c.address,
                    cell(&c.name)
                );
            }
            out.push('\n');
            for c in &changes {
                let _ = writeln!(
                    out,
                    "<details><summary><code>{}</code>: {}</summary>\n\n{}\n</details>\n",
                    c.address,
                    action_word(&c.action),
                    diff_block(c)
                );
            }
        }
        out
    }

    /// The changes (no-ops left out) grouped by family, in the plan's order.
    fn by_family(&self) -> Vec<(&'static str, Vec<&PlannedChange>)> {
        let mut groups: Vec<(&'static str, Vec<&PlannedChange>)> = Vec::new();
        for c in self.changes.iter().filter(|c| c.action != Action::NoOp) {
            let fam = family(&c.address);
            match groups.iter_mut().find(|(g, _)| *g == fam) {
                Some((_, list)) => list.push(c),
                None => groups.push((fam, vec![c])),
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::{Action, Address, FieldChange, Flag, Plan, PlannedChange};

    fn field(
        path: &str,
        before: Option<serde_json::Value>,
        after: serde_json::Value,
    ) -> FieldChange {
        FieldChange {
            path: path.into(),
            before,
            after: Some(after),
            forces_replacement: false,
        }
    }

    /// Create, nested update, replace (refused without its flag), delete and adopt.
    fn plan() -> Plan {
        let change =
            |a: &str, name: &str, action| PlannedChange::new(Address::new(a), name, action);
        let mut create = change("aws_iam_user.s3_access", "dal-s3-access", Action::Create);
        create
            .fields
            .push(field("tags", None, json!({"NamingId": "dal"})));
        let mut update = change("aws_s3_bucket.ai_data", "dal-ai-data", Action::Update);
        update.fields.push(field(
            "policy",
            Some(json!({"Statement": [{"Action": ["s3:GetObject"]}]})),
            json!({"Statement": [{"Action": ["s3:GetObject", "s3:PutObject"]}]}),
        ));
        let mut replace = change(
            "aws_elasticache_replication_group.redis",
            "dal|redis",
            Action::Replace {
                reasons: vec!["port".into()],
            },
        );
        replace.fields.push(FieldChange {
            forces_replacement: true,
            ..field("port", Some(json!(6379)), json!(6380))
        });
        replace.requires = Some(Flag::AllowReplace);
        let mut adopt = change("aws_rds_cluster.aurora", "dal-aurora", Action::Adopt);
        adopt
            .fields
            .push(field("tags.ManagedBy", None, json!("data-and-ai-layer")));
        adopt.requires = Some(Flag::Adopt);
        Plan {
            changes: vec![
                create,
                update,
                replace,
                change("aws_s3_bucket.old", "old", Action::Delete),
                adopt,
                change("aws_s3_bucket.same", "same", Action::NoOp),
            ],
        }
    }

    #[test]
    fn a_plan_as_a_pull_request_comment() {
        expect![[r#"
            **Plan: 2 to add, 2 to change, 2 to destroy.**

            > [!WARNING]
            > Refused unless the operator gives its flag:
            > - `aws_elasticache_replication_group.redis` (dal\|redis): replace needs `--allow-replace` (deletes the data cached in Redis)
            > - `aws_rds_cluster.aurora` (dal-aurora): adopt needs `--adopt`

            ### S3

            | action | resource | name | needs |
            |---|---|---|---|
            | create | `aws_iam_user.s3_access` | dal-s3-access |  |
            | update | `aws_s3_bucket.ai_data` | dal-ai-data |  |
            | destroy | `aws_s3_bucket.old` | old |  |

            <details><summary><code>aws_iam_user.s3_access</code>: create</summary>

            ```diff
                # aws_iam_user.s3_access (dal-s3-access) will be created
            +   + aws_iam_user.s3_access
            +       + tags = {
                          "NamingId": "dal"
                        }
            ```

            </details>

            <details><summary><code>aws_s3_bucket.ai_data</code>: update</summary>

            ```diff
                # aws_s3_bucket.ai_data (dal-ai-data) will be updated in-place
            !   ~ aws_s3_bucket.ai_data
            !       ~ policy:
                        {
                          "Statement": [
                            {
                              "Action": [
            -         -         "s3:GetObject"
            +         +         "s3:GetObject",
            +         +         "s3:PutObject"
                              ]
                            }
                          ]
                        }
            ```

            </details>

            <details><summary><code>aws_s3_bucket.old</code>: destroy</summary>

            ```diff
                # aws_s3_bucket.old (old) will be destroyed
                # this deletes the bucket's objects and all their versions
            -   - aws_s3_bucket.old
            ```

            </details>

            ### Redis

            | action | resource | name | needs |
            |---|---|---|---|
            | replace | `aws_elasticache_replication_group.redis` | dal\|redis | `--allow-replace` |

            <details><summary><code>aws_elasticache_replication_group.redis</code>: replace</summary>

            ```diff
                # aws_elasticache_replication_group.redis (dal|redis) must be replaced (port cannot change in place)
                # this deletes the data cached in Redis
                # needs --allow-replace
            ! -/+ aws_elasticache_replication_group.redis
            !       ~ port: 6379 -> 6380  # forces replacement
            ```

            </details>

            ### Aurora

            | action | resource | name | needs |
            |---|---|---|---|
            | adopt | `aws_rds_cluster.aurora` | dal-aurora | `--adopt` |

            <details><summary><code>aws_rds_cluster.aurora</code>: adopt</summary>

            ```diff
                # aws_rds_cluster.aurora (dal-aurora) exists without our tags and will be adopted
                # needs --adopt
               <= aws_rds_cluster.aurora
            +       + tags.ManagedBy = "data-and-ai-layer"
            ```

            </details>

        "#]].assert_eq(&plan().render_markdown());
    }

    #[test]
    fn no_changes_in_one_line() {
        let plan = Plan {
            changes: vec![PlannedChange::new(
                Address::new("aws_s3_bucket.same"),
                "same",
                Action::NoOp,
            )],
        };
        expect![[r#"
            **No changes.** The environment matches the configuration.
        "#]]
        .assert_eq(&plan.render_markdown());
    }
}
