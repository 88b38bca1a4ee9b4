//! A resource's address in the layer, Terraform style: the one name plans, outputs, progress and
//! the executor share.

use std::fmt;

use serde::Serialize;

/// Where a resource sits in the layer, Terraform style: `aws_s3_bucket.application_data`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    /// An address from its text.
    pub fn new(s: impl Into<String>) -> Self {
        Address(s.into())
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
