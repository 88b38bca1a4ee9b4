//! The safety flags an operator gives, the change each allows, and the process exit codes: the
//! vocabulary plans, refusals and every command share (CONVENTIONS.md, "Safety flags and exit codes").

use std::fmt;

use serde::Serialize;

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
