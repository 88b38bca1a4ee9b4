//! The IAM permissions the tool needs, declared next to the code that makes each call.
//!
//! Every resource declares its calls ([`crate::Resource::access`]), and so does every piece of
//! code outside the resource graph that calls AWS (discovery, seed, the run lock, verify). Each
//! declaration is an [`Access`]: the IAM actions, the ARN patterns they act on (with `{region}`
//! and `{account}` left for [`Policy::render`]), and what the calls are for ([`Need`]). A command
//! ([`Command`]) needs the declarations of its needs; [`Policy`] groups them into statements.
//!
//! `Resource: "*"` is used only where AWS supports no narrower resource for the action; such a
//! declaration says why ([`Access::unscoped`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// What a call is for, which decides the commands that need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// Reading what exists (read-only): every command that plans or observes.
    Observe,
    /// Creating and changing: deploy.
    Change,
    /// Deleting: destroy, and deploy (a removed profile, fewer instances, a replacement).
    Delete,
    /// Filling the secrets: seed, and deploy, which seeds.
    Seed,
    /// Deleting every object version of a bucket: `destroy --purge-buckets` only.
    Purge,
    /// Reading values to check them: verify.
    Verify,
    /// The run lock: every command that changes an environment.
    Lock,
    /// Writing the outputs as a Terraform state document (`[outputs] terraform_state`): deploy,
    /// and `outputs --publish`.
    Publish,
}

/// A command of the tool, as far as permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// `plan` (and `outputs`, which plans).
    Plan,
    /// `deploy` and `apply`: plan, apply, seed.
    Deploy,
    /// `seed`.
    Seed,
    /// `verify`.
    Verify,
    /// `bootstrap-db`: verify's reads, and the run lock.
    BootstrapDb,
    /// `destroy`.
    Destroy,
    /// `outputs --publish`: observe, and write the outputs' state document.
    Publish,
}

impl Command {
    /// Every command, in the order the docs list them.
    pub const ALL: [Command; 7] = [
        Command::Plan,
        Command::Deploy,
        Command::Seed,
        Command::Verify,
        Command::BootstrapDb,
        Command::Destroy,
        Command::Publish,
    ];

    /// The command's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Command::Plan => "plan",
            Command::Deploy => "deploy",
            Command::Seed => "seed",
            Command::Verify => "verify",
            Command::BootstrapDb => "bootstrap-db",
            Command::Destroy => "destroy",
            Command::Publish => "publish",
        }
    }

    /// Parse a name given on the command line.
    pub fn parse(s: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == s)
    }

    /// What the command does with every resource of the layer. (Seed observes only the Aurora
    /// cluster and what it depends on; the layer adds that.)
    pub fn needs(self) -> &'static [Need] {
        match self {
            Command::Plan => &[Need::Observe],
            Command::Deploy => &[
                Need::Observe,
                Need::Change,
                Need::Delete,
                Need::Seed,
                Need::Lock,
                Need::Publish,
            ],
            Command::Seed => &[Need::Seed, Need::Lock],
            Command::Verify => &[Need::Observe, Need::Verify],
            Command::BootstrapDb => &[Need::Observe, Need::Verify, Need::Lock],
            Command::Destroy => &[Need::Observe, Need::Delete, Need::Purge, Need::Lock],
            Command::Publish => &[Need::Observe, Need::Publish],
        }
    }
}

/// One declaration: actions on resources, for a need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// What the calls are for.
    pub need: Need,
    /// The statement it belongs to (`AuroraCluster`, `SecretsContainers`, …): a policy has one
    /// statement per label and set of resources.
    pub label: &'static str,
    /// IAM actions (`rds:CreateDBCluster`).
    pub actions: Vec<&'static str>,
    /// ARN patterns, `{region}` and `{account}` unfilled; `["*"]` when unscoped.
    pub resources: Vec<String>,
    /// Why AWS supports nothing narrower, for an unscoped declaration.
    pub unscoped_because: Option<&'static str>,
}

impl Access {
    /// Actions on the given ARN patterns.
    pub fn new(
        need: Need,
        label: &'static str,
        actions: &[&'static str],
        resources: impl IntoIterator<Item = String>,
    ) -> Self {
        Access {
            need,
            label,
            actions: actions.to_vec(),
            resources: resources.into_iter().collect(),
            unscoped_because: None,
        }
    }

    /// Actions that AWS authorizes only on `"*"`, and why.
    pub fn unscoped(
        need: Need,
        label: &'static str,
        actions: &[&'static str],
        because: &'static str,
    ) -> Self {
        Access {
            need,
            label,
            actions: actions.to_vec(),
            resources: vec!["*".to_string()],
            unscoped_because: Some(because),
        }
    }

    /// Whether every action only reads.
    pub fn read_only(&self) -> bool {
        self.actions.iter().all(|a| is_read_only(a))
    }

    /// The usual set of a resource's access, on `resources` under `label`: what observe reads,
    /// what create and update change, what delete removes, each added by [`AccessSet`].
    pub fn set(label: &'static str, resources: impl IntoIterator<Item = String>) -> AccessSet {
        AccessSet {
            label,
            resources: resources.into_iter().collect(),
            accesses: Vec::new(),
        }
    }
}

/// A resource's observe, change and delete access on the same resources under one label (see
/// [`Access::set`]).
#[derive(Debug, Clone)]
#[must_use = "an access set grants nothing until `build` turns it into the resource's access"]
pub struct AccessSet {
    label: &'static str,
    resources: Vec<String>,
    accesses: Vec<Access>,
}

impl AccessSet {
    fn with(mut self, need: Need, actions: &[&'static str]) -> Self {
        let access = Access::new(need, self.label, actions, self.resources.clone());
        self.accesses.push(access);
        self
    }

    /// What observe reads.
    pub fn observe(self, actions: &[&'static str]) -> Self {
        self.with(Need::Observe, actions)
    }

    /// What create and update change (tags included).
    pub fn change(self, actions: &[&'static str]) -> Self {
        self.with(Need::Change, actions)
    }

    /// What delete removes.
    pub fn delete(self, actions: &[&'static str]) -> Self {
        self.with(Need::Delete, actions)
    }

    /// The access, in the order given.
    pub fn build(self) -> Vec<Access> {
        self.accesses
    }
}

/// The vended log deliveries a service makes (`Change`) or ends (`Delete`) as the caller: the
/// Redis slow log, the Prometheus logs.
pub fn log_deliveries(need: Need) -> Access {
    let actions: &[&'static str] = if need == Need::Delete {
        &[
            "logs:DeleteLogDelivery",
            "logs:GetLogDelivery",
            "logs:ListLogDeliveries",
        ]
    } else {
        &[
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
        ]
    };
    Access::unscoped(
        need,
        "LogDeliveries",
        actions,
        "CloudWatch Logs authorizes vended log deliveries (the Redis slow log, the Prometheus logs) on no narrower resource",
    )
}

/// The grant a service makes as the caller on the KMS key that encrypts what it stores.
pub fn key_grants(key_arn: &str) -> Access {
    Access::new(
        Need::Change,
        "GeneralKeyGrants",
        &["kms:CreateGrant", "kms:DescribeKey"],
        [key_arn.to_string()],
    )
}

/// The service-linked role a service makes as the caller on its first use in an account
/// (`rds.amazonaws.com`, `AWSServiceRoleForRDS`).
pub fn service_linked_role(service: &str, role: &str) -> Access {
    Access::new(
        Need::Change,
        "ServiceLinkedRoles",
        &["iam:CreateServiceLinkedRole"],
        [global_arn(
            "iam",
            &format!("role/aws-service-role/{service}/{role}"),
        )],
    )
}

/// Whether an IAM action only reads (`Describe*`, `Get*`, `List*`, `Head*`).
pub fn is_read_only(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    ["Describe", "Get", "List", "Head"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// An ARN of the standard partition: `arn:aws:{service}:{region}:{account}:{rest}`.
pub fn arn(service: &str, rest: &str) -> String {
    format!("arn:aws:{service}:{{region}}:{{account}}:{rest}")
}

/// A global ARN (IAM): `arn:aws:iam::{account}:{rest}`.
pub fn global_arn(service: &str, rest: &str) -> String {
    format!("arn:aws:{service}::{{account}}:{rest}")
}

/// One statement of a generated policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// `Sid`: the label, with a number when one label has several sets of resources.
    pub sid: String,
    /// Actions, sorted.
    pub actions: BTreeSet<&'static str>,
    /// Resources, rendered, sorted.
    pub resources: BTreeSet<String>,
    /// Why a `"*"` statement is unscoped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unscoped_because: Option<&'static str>,
}

/// A generated policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Its statements.
    pub statements: Vec<Statement>,
}

impl Policy {
    /// Group declarations into statements: one per label and set of resources, with `{region}`
    /// and `{account}` filled.
    pub fn render(accesses: &[Access], region: &str, account: &str) -> Policy {
        let fill = |r: &str| r.replace("{region}", region).replace("{account}", account);
        // label -> resources -> (actions, why)
        let mut grouped: BTreeMap<&'static str, Vec<Statement>> = BTreeMap::new();
        for a in accesses {
            let resources: BTreeSet<String> = a.resources.iter().map(|r| fill(r)).collect();
            let list = grouped.entry(a.label).or_default();
            match list.iter_mut().find(|s| s.resources == resources) {
                Some(s) => s.actions.extend(a.actions.iter().copied()),
                None => list.push(Statement {
                    sid: String::new(),
                    actions: a.actions.iter().copied().collect(),
                    resources,
                    unscoped_because: a.unscoped_because,
                }),
            }
        }
        let mut statements = Vec::new();
        for (label, list) in grouped {
            // Then the same actions on several resources (two buckets, three log groups) merge.
            let mut merged: Vec<Statement> = Vec::new();
            for s in list {
                match merged.iter_mut().find(|m| m.actions == s.actions) {
                    Some(m) => m.resources.extend(s.resources),
                    None => merged.push(s),
                }
            }
            let many = merged.len() > 1;
            for (i, mut s) in merged.into_iter().enumerate() {
                s.sid = if many && i > 0 {
                    format!("{label}{}", i + 1)
                } else {
                    label.to_string()
                };
                statements.push(s);
            }
        }
        prune(&mut statements);
        Policy { statements }
    }

    /// The IAM policy document.
    pub fn document(&self) -> serde_json::Value {
        let statements: Vec<serde_json::Value> = self
            .statements
            .iter()
            .map(|s| {
                let resource = if s.resources.len() == 1 {
                    serde_json::json!(s.resources.iter().next())
                } else {
                    serde_json::json!(s.resources)
                };
                serde_json::json!({
                    "Sid": s.sid,
                    "Effect": "Allow",
                    "Action": s.actions,
                    "Resource": resource,
                })
            })
            .collect();
        serde_json::json!({ "Version": "2012-10-17", "Statement": statements })
    }

    /// The document without the statement `sid`.
    pub fn document_without(&self, sid: &str) -> serde_json::Value {
        Policy {
            statements: self
                .statements
                .iter()
                .filter(|s| s.sid != sid)
                .cloned()
                .collect(),
        }
        .document()
    }

    /// The size IAM counts against its limits: characters of the document without whitespace.
    pub fn size(&self) -> usize {
        self.document()
            .to_string()
            .chars()
            .filter(|c| !c.is_whitespace())
            .count()
    }

    /// The policy as documents of at most `limit` characters each (without whitespace), for
    /// managed policies (see [`MANAGED_POLICY_LIMIT`]): whole statements, in order. A statement
    /// bigger than `limit` on its own is a part of its own, over the limit (the caller checks).
    pub fn split(&self, limit: usize) -> Vec<serde_json::Value> {
        let mut parts: Vec<Policy> = Vec::new();
        for s in &self.statements {
            let fits = |p: &Policy| {
                let mut q = p.clone();
                q.statements.push(s.clone());
                q.size() <= limit
            };
            match parts.last_mut() {
                Some(p) if fits(p) => p.statements.push(s.clone()),
                _ => parts.push(Policy {
                    statements: vec![s.clone()],
                }),
            }
        }
        parts.iter().map(Policy::document).collect()
    }

    /// Every action of the policy.
    pub fn actions(&self) -> BTreeSet<&'static str> {
        self.statements
            .iter()
            .flat_map(|s| s.actions.iter().copied())
            .collect()
    }
}

/// Whether ARN pattern `general` covers every ARN that `specific` stands for (`dal/*` covers
/// `dal/run-lock-*`): `specific`'s wildcards are matched as plain characters.
fn covers(general: &str, specific: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((c, rest)) => t
                .split_first()
                .is_some_and(|(d, t)| ((*c == '?' && *d != '*') || c == d) && go(rest, t)),
        }
    }
    let p: Vec<char> = general.chars().collect();
    let t: Vec<char> = specific.chars().collect();
    go(&p, &t)
}

/// Drop what another statement already grants, so that every statement left is needed: an
/// action whose every resource another statement gives it, then a resource that every action of
/// its statement has elsewhere, then statements left empty.
fn prune(statements: &mut Vec<Statement>) {
    let granted_elsewhere = |all: &[Statement], i: usize, action: &str, resource: &str| {
        all.iter().enumerate().any(|(j, o)| {
            j != i && o.actions.contains(action) && o.resources.iter().any(|g| covers(g, resource))
        })
    };
    // From the last: the earlier statement keeps what two share.
    for i in (0..statements.len()).rev() {
        let actions: Vec<&'static str> = statements[i].actions.iter().copied().collect();
        for a in actions {
            let covered = statements[i]
                .resources
                .iter()
                .all(|r| granted_elsewhere(statements, i, a, r));
            if covered {
                statements[i].actions.remove(a);
            }
        }
        let resources: Vec<String> = statements[i].resources.iter().cloned().collect();
        for r in resources {
            let covered = statements[i]
                .actions
                .iter()
                .all(|a| granted_elsewhere(statements, i, a, &r));
            if covered && statements[i].resources.len() > 1 {
                statements[i].resources.remove(&r);
            }
        }
    }
    statements.retain(|s| !s.actions.is_empty());
}

/// IAM's limit on one managed policy (characters without whitespace).
pub const MANAGED_POLICY_LIMIT: usize = 6_144;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_set_is_its_three_needs_on_the_same_resources_in_order() {
        let group = || ["arn:aws:rds:*:1:subgrp:x".to_string()];
        let set = Access::set("G", group())
            .observe(&["rds:DescribeDBSubnetGroups"])
            .change(&["rds:CreateDBSubnetGroup"])
            .delete(&["rds:DeleteDBSubnetGroup"])
            .build();
        let by_hand = vec![
            Access::new(Need::Observe, "G", &["rds:DescribeDBSubnetGroups"], group()),
            Access::new(Need::Change, "G", &["rds:CreateDBSubnetGroup"], group()),
            Access::new(Need::Delete, "G", &["rds:DeleteDBSubnetGroup"], group()),
        ];
        assert_eq!(set, by_hand);
    }

    fn sample() -> Vec<Access> {
        vec![
            Access::new(
                Need::Observe,
                "AuroraCluster",
                &["rds:DescribeDBClusters", "rds:ListTagsForResource"],
                [arn("rds", "cluster:dal-dev-aurora")],
            ),
            Access::new(
                Need::Change,
                "AuroraCluster",
                &["rds:CreateDBCluster"],
                [arn("rds", "cluster:dal-dev-aurora")],
            ),
            Access::new(
                Need::Delete,
                "AuroraCluster",
                &["rds:CreateDBClusterSnapshot"],
                [arn("rds", "cluster-snapshot:dal-dev-aurora-final-*")],
            ),
            Access::unscoped(
                Need::Observe,
                "Discovery",
                &["ec2:DescribeVpcs"],
                "ec2:Describe* actions support no resource-level permissions",
            ),
        ]
    }

    #[test]
    fn statements_group_by_label_and_resources_with_region_and_account_filled() {
        let accesses: Vec<Access> = sample()
            .into_iter()
            .filter(|a| Command::Deploy.needs().contains(&a.need))
            .collect();
        let p = Policy::render(&accesses, "eu-central-2", "123456789012");
        let sids: Vec<&str> = p.statements.iter().map(|s| s.sid.as_str()).collect();
        assert_eq!(sids, ["AuroraCluster", "AuroraCluster2", "Discovery"]);
        assert_eq!(
            p.statements[0].actions,
            BTreeSet::from([
                "rds:CreateDBCluster",
                "rds:DescribeDBClusters",
                "rds:ListTagsForResource"
            ])
        );
        let doc = p.document();
        assert_eq!(
            doc["Statement"][0]["Resource"],
            "arn:aws:rds:eu-central-2:123456789012:cluster:dal-dev-aurora"
        );
        assert_eq!(doc["Statement"][2]["Resource"], "*");
        assert_eq!(
            p.document_without("Discovery")["Statement"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let parts = p.split(300);
        assert!(parts.len() > 1, "{parts:#?}");
        let statements: usize = parts
            .iter()
            .map(|d| d["Statement"].as_array().unwrap().len())
            .sum();
        assert_eq!(statements, 3, "every statement in exactly one part");
        for d in &parts {
            let size = d.to_string().chars().filter(|c| !c.is_whitespace()).count();
            assert!(size <= 300 || d["Statement"].as_array().unwrap().len() == 1);
        }
    }

    #[test]
    fn what_another_statement_grants_is_dropped() {
        assert!(covers("a/*", "a/run-lock-*"));
        assert!(covers("*", "arn:aws:s3:::x"));
        assert!(
            !covers("a/run-lock-*", "a/*"),
            "narrower never covers wider"
        );
        let accesses = vec![
            Access::new(
                Need::Change,
                "Containers",
                &["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret"],
                [arn("secretsmanager", "secret:dal/*")],
            ),
            Access::new(
                Need::Lock,
                "RunLock",
                &["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret"],
                [arn("secretsmanager", "secret:dal/run-lock-*")],
            ),
            Access::new(
                Need::Seed,
                "Read",
                &[
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:CreateSecret",
                ],
                [arn("secretsmanager", "secret:dal/*")],
            ),
        ];
        let p = Policy::render(&accesses, "r", "1");
        let sids: Vec<&str> = p.statements.iter().map(|s| s.sid.as_str()).collect();
        assert_eq!(
            sids,
            ["Containers", "Read"],
            "the lock's statement adds nothing here"
        );
        assert_eq!(
            p.statements[1].actions,
            BTreeSet::from(["secretsmanager:GetSecretValue"])
        );
        // Alone, the lock's statement stays.
        let lock = Policy::render(&accesses[1..2], "r", "1");
        assert_eq!(lock.statements.len(), 1);
    }

    #[test]
    fn read_only_actions_are_recognised() {
        assert!(is_read_only("rds:DescribeDBClusters"));
        assert!(is_read_only("s3:GetBucketPolicy"));
        assert!(is_read_only("s3:ListBucket"));
        assert!(!is_read_only("rds:CreateDBCluster"));
        assert!(!is_read_only("iam:PassRole"));
        let plan: Vec<Access> = sample()
            .into_iter()
            .filter(|a| Command::Plan.needs().contains(&a.need))
            .collect();
        assert!(plan.iter().all(Access::read_only));
    }
}
