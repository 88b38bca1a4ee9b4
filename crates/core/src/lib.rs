//! The core of the data-and-ai layer: the resource contract, the plan model, the one executor,
//! environments as data, naming and ownership, the safety vocabulary, and AWS configuration.
//!
//! Family crates (`data-s3`, `data-aurora`, …) implement [`Resource`] for their resources and
//! depend on this crate only; the `layer` crate composes them.

pub mod access;
pub mod address;
pub mod aws;
pub mod cache;
pub mod check;
pub mod config;
pub mod diff;
pub mod engine;
pub mod error;
pub mod executor;
pub mod family;
pub mod flags;
pub mod graph;
pub mod interrupt;
pub mod kit;
pub mod log_guard;
pub mod naming;
pub mod outputs;
pub mod plan;
mod plan_markdown;
pub mod policy;
pub mod progress;
pub mod resource;
pub mod safety;
pub mod saved_plan;
pub mod secret;
pub mod tags;
pub mod tfread;
pub mod tfstate;
pub mod version;
pub mod wait;

pub use address::Address;
pub use diff::FieldChange;
pub use error::{Error, Result};
pub use flags::{ExitCode, Flag, SafetyFlags};
pub use outputs::{Inputs, Outputs};
pub use plan::{Action, Plan, PlannedChange};
pub use resource::{Context, Observation, Observed, Resource, ResourceKind};
pub use secret::SecretValue;
pub use tags::Tags;

/// The name the tool gives itself in user agents and in the `ManagedBy` tag.
pub const TOOL_NAME: &str = "data-and-ai-layer";

/// The value of the `Layer` ownership tag.
pub const LAYER: &str = "data-and-ai";
