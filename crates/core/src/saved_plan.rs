//! A plan saved by `plan --out` and applied later by `apply FILE`: its format, and what moved
//! between it and the plan observed now (an apply of a stale plan is refused).

use std::path::Path;

use crate::engine::Mode;
use crate::plan::Plan;
use crate::{Error, Result};

/// A plan saved by `plan --out`: the environment, the mode and the plan as JSON (which never holds
/// a secret value), with a format version.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SavedPlan {
    format: String,
    /// The environment it was made for.
    pub environment: String,
    mode: String,
    plan: serde_json::Value,
    /// Where it was read from (empty for a plan made here).
    #[serde(skip)]
    path: std::path::PathBuf,
}

/// The format this tool writes and reads.
pub const SAVED_PLAN_FORMAT: &str = "data-and-ai-plan/1";

impl SavedPlan {
    /// The plan of `environment` in `mode`.
    pub fn new(environment: &str, mode: Mode, plan: &Plan) -> Self {
        SavedPlan {
            format: SAVED_PLAN_FORMAT.into(),
            environment: environment.into(),
            mode: if mode == Mode::Destroy {
                "destroy"
            } else {
                "deploy"
            }
            .into(),
            plan: plan.to_json(),
            path: Default::default(),
        }
    }

    /// Written only its owner may read (0600): a plan holds no value, but names every secret
    /// and resource of the environment.
    pub fn write(&self, path: &Path) -> Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)?;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(serde_json::to_string_pretty(self)?.as_bytes())
        };
        write().map_err(|e| Error::Other(format!("writing the plan to {}: {e}", path.display())))
    }

    /// Read a saved plan; a file of another kind or format is a configuration error naming it.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("reading the plan {}: {e}", path.display())))?;
        let mut saved: SavedPlan = serde_json::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "{} is not a saved plan ({e}); make one with plan --out",
                path.display()
            ))
        })?;
        if saved.format != SAVED_PLAN_FORMAT {
            return Err(Error::Config(format!(
                "{} is a plan of format {}, this tool reads {SAVED_PLAN_FORMAT}; run plan --out again",
                path.display(),
                saved.format
            )));
        }
        saved.path = path.to_path_buf();
        Ok(saved)
    }

    /// Where it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deploy or destroy.
    pub fn mode(&self) -> Result<Mode> {
        match self.mode.as_str() {
            "deploy" => Ok(Mode::Deploy),
            "destroy" => Ok(Mode::Destroy),
            other => Err(Error::Config(format!("unknown plan mode `{other}`"))),
        }
    }

    /// The resources whose planned change differs now from the saved one.
    pub fn moved(&self, now: &Plan) -> Vec<String> {
        moved_between(&self.plan, &now.to_json())
    }
}

/// The addresses whose planned change differs between two plans (as JSON).
pub fn moved_between(before: &serde_json::Value, now: &serde_json::Value) -> Vec<String> {
    let by_address =
        |plan: &serde_json::Value| -> std::collections::BTreeMap<String, serde_json::Value> {
            plan["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        c["address"].as_str().unwrap_or_default().to_string(),
                        c.clone(),
                    )
                })
                .collect()
        };
    let before = by_address(before);
    let now = by_address(now);
    before
        .keys()
        .chain(now.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|a| before.get(*a) != now.get(*a))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_moved_between_two_plans_by_address() {
        let before = json!({"changes": [
            {"address": "aws_s3_bucket.a", "action": {"kind": "no_op"}},
            {"address": "aws_s3_bucket.b", "action": {"kind": "update"}},
            {"address": "aws_iam_user.u", "action": {"kind": "create"}},
        ]});
        let now = json!({"changes": [
            {"address": "aws_s3_bucket.a", "action": {"kind": "no_op"}},
            {"address": "aws_s3_bucket.b", "action": {"kind": "delete"}},
            {"address": "aws_rds_cluster.c", "action": {"kind": "create"}},
        ]});
        assert_eq!(
            moved_between(&before, &now),
            ["aws_iam_user.u", "aws_rds_cluster.c", "aws_s3_bucket.b"]
        );
        assert!(moved_between(&now, &now).is_empty());
    }
}
