//! A resource family as the layer composes it: the section of the environment files it owns,
//! its settings parsed and checked once (before any AWS call), and its resources.

use std::sync::Arc;

use aws_types::SdkConfig;

use crate::config::{Environment, Infrastructure};
use crate::engine::AnyResource;
use crate::Result;

/// What every family's resources are built from besides its settings.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// The environment.
    pub env: &'a Environment,
    /// The infrastructure layer's inputs.
    pub infra: &'a Infrastructure,
    /// The account the layer is deployed to.
    pub account_id: &'a str,
    /// The SDK configuration every client is built from.
    pub sdk: &'a SdkConfig,
}

/// A family of resources (`data-aurora`, `data-redis`, …).
pub trait Family {
    /// The section of the environment files it owns (`aurora`).
    const SECTION: &'static str;
    /// Its settings, from that section.
    type Settings;

    /// Parse and check its section: every error names the file and the key.
    fn settings(env: &Environment) -> Result<Self::Settings>;

    /// Its resources, built from its settings (no AWS call).
    fn resources(layer: Layer<'_>, settings: &Self::Settings) -> Result<Vec<Arc<dyn AnyResource>>>;

    /// Parse its settings and build its resources.
    fn build(layer: Layer<'_>) -> Result<Vec<Arc<dyn AnyResource>>> {
        let settings = Self::settings(layer.env)?;
        Self::resources(layer, &settings)
    }
}
