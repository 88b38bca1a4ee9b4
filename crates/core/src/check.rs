//! Verify's vocabulary, shared by every family's checks: a check passed, failed or warned, with
//! its reason.

use serde::Serialize;

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// As it should be.
    Pass,
    /// Not as it should be: verify exits non-zero.
    Fail,
    /// Needs a person's attention, but is not an error.
    Warn,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: String,
    /// Its result.
    pub status: Status,
    /// Why.
    pub detail: String,
}

impl Check {
    /// A check with its result.
    pub fn new(check: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Check {
            check: check.into(),
            status,
            detail: detail.into(),
        }
    }

    /// Passed with `Ok`'s detail, failed with `Err`'s.
    pub fn of(check: impl Into<String>, result: std::result::Result<String, String>) -> Self {
        match result {
            Ok(detail) => Check::new(check, Status::Pass, detail),
            Err(detail) => Check::new(check, Status::Fail, detail),
        }
    }
}
