//! The resource contract: observe with read-only calls, diff against a typed desired spec, apply,
//! tear down. Family crates implement [`Resource`]; the engine drives it.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::address::Address;
use crate::diff::FieldChange;
use crate::flags::{Flag, SafetyFlags};
use crate::outputs::{Inputs, Outputs};
use crate::tags::Tags;
use crate::Result;

/// Whether a resource holds data, which makes its replacement a guarded change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// Can be replaced without losing anything.
    Stateless,
    /// Holds data (database, cache, bucket): replacement needs `--allow-replace`.
    Stateful,
    /// Holds no data, but replacing it takes a service out until the new one is ready (the
    /// instances of a database): replacement needs `--allow-replace` too.
    Disruptive,
}

/// How long and how often to wait for slow resources.
#[derive(Debug, Clone, Copy)]
pub struct WaitSettings {
    /// Give up after this long.
    pub timeout: Duration,
    /// Poll this often.
    pub poll: Duration,
}

/// What every resource call gets: the environment, its tags and the operator's flags.
#[derive(Debug, Clone)]
pub struct Context {
    /// The environment's name (`dev`, `local`, …).
    pub environment: String,
    /// The tags every resource that takes tags carries: ownership tags plus the environment's.
    pub tags: Tags,
    /// Tags one resource carries besides [`Context::tags`], by address: the engine gives each
    /// resource its own context ([`Context::for_resource`]), so a resource reads its tags from
    /// `tags` alone.
    pub tags_by_resource: std::sync::Arc<std::collections::BTreeMap<String, Tags>>,
    /// The operator's safety flags.
    pub flags: SafetyFlags,
    /// Waiting for slow resources.
    pub wait: WaitSettings,
    /// Batch observations shared by the resources of this command (see [`crate::cache`]).
    pub cache: std::sync::Arc<crate::cache::RunCache>,
    /// Where apply's live progress goes (the log, unless the command line draws it).
    pub progress: crate::progress::Progress,
}

impl Context {
    /// The context of the resource at `address`: its own tags added to the environment's, the
    /// ownership tags kept as they are.
    pub fn for_resource(&self, address: &Address) -> std::borrow::Cow<'_, Context> {
        let Some(extra) = self.tags_by_resource.get(address.as_str()) else {
            return std::borrow::Cow::Borrowed(self);
        };
        let mut cx = self.clone();
        for (k, v) in extra {
            if !crate::tags::OWNERSHIP.contains(&k.as_str()) {
                cx.tags.insert(k.clone(), v.clone());
            }
        }
        std::borrow::Cow::Owned(cx)
    }
}

/// A resource as observed in AWS. Built with `Observed::builder()` (typed-builder: `spec` and
/// `tags` required, no outputs and no data held unless set).
#[derive(Debug, Clone, typed_builder::TypedBuilder)]
pub struct Observed<S> {
    /// The managed fields as AWS reports them, in the spec's own type.
    pub spec: S,
    /// The resource's tags, to decide ownership.
    pub tags: Tags,
    /// What the resource exposes to dependents and to the layer's outputs.
    #[builder(default)]
    pub outputs: Outputs,
    /// Whether it holds data now (a bucket with objects, …).
    #[builder(default)]
    pub holds_data: bool,
}

impl<S> Observed<S> {
    /// As the answer of `observe`: something under our name.
    pub fn present(self) -> Observation<S> {
        Observation::Present(self)
    }
}

/// The result of observing a resource.
#[derive(Debug, Clone)]
pub enum Observation<S> {
    /// Nothing under our name.
    Absent,
    /// Something under our name; ours or not is decided by its tags.
    Present(Observed<S>),
    /// Something under our name that AWS is deleting and nothing can bring back (a cluster
    /// `deleting`), with that state: deploy waits for it to go, then creates it anew; destroy
    /// waits for it to go. A resource that reports it implements [`Resource::wait_gone`].
    Leaving(String),
}

/// One resource: a typed desired spec, read-only observation, and the calls that converge it.
///
/// Implementations make only read-only calls in [`Resource::observe`], and make `create`,
/// `update` and `delete` idempotent, so an interrupted apply is finished by running it again.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The desired (and observed) state of the fields we manage.
    type Spec: Serialize + Send + Sync + 'static;

    /// The resource's address in the layer.
    fn address(&self) -> Address;

    /// Its name in AWS.
    fn name(&self) -> String;

    /// Whether it holds data.
    fn kind(&self) -> ResourceKind {
        ResourceKind::Stateless
    }

    /// The resources whose outputs this one needs.
    fn depends_on(&self) -> Vec<Address> {
        Vec::new()
    }

    /// Whether it lives inside what it depends on (instances inside their cluster): AWS deletes
    /// nothing that still holds it, so when a dependency is replaced, this is deleted before and
    /// created again after.
    fn lives_in_dependencies(&self) -> bool {
        false
    }

    /// The IAM permissions its calls need, declared here beside them (see [`crate::access`]):
    /// `observe`'s under [`crate::access::Need::Observe`], `create`'s and `update`'s under
    /// `Change`, `delete`'s under `Delete`.
    fn access(&self) -> Vec<crate::access::Access>;

    /// Top-level spec fields that cannot change in place.
    fn replace_fields(&self) -> &'static [&'static str] {
        &[]
    }

    /// The desired spec; [`crate::Error::Unknown`] while an input is not known yet.
    fn desired(&self, cx: &Context, inputs: &Inputs) -> Result<Self::Spec>;

    /// Observe with read-only calls.
    async fn observe(&self, cx: &Context, inputs: &Inputs) -> Result<Observation<Self::Spec>>;

    /// Field-level changes from `observed` to `desired`.
    fn diff(&self, desired: &Self::Spec, observed: &Self::Spec) -> Vec<FieldChange> {
        crate::diff::diff(desired, observed, self.replace_fields())
    }

    /// A sentence the plan shows with an in-place update (a change that needs a reboot, …).
    fn update_note(&self, _changes: &[FieldChange]) -> Option<String> {
        None
    }

    /// What to do when this resource belongs to another deployment of the layer (its name is
    /// one that several deployments in an account would share). Such a resource is never
    /// adopted: deploy is refused with this advice, destroy leaves it alone.
    fn shared_name_advice(&self) -> String {
        format!(
            "give `{}` another name in this environment's file",
            self.name()
        )
    }

    /// The flag an in-place update needs, and why (a major engine upgrade, …).
    fn update_guard(&self, _changes: &[FieldChange]) -> Option<(Flag, String)> {
        None
    }

    /// Whether the observed resource is already on its way out (a secret scheduled for
    /// deletion): destroy has nothing left to do, deploy brings it back through `update`.
    fn pending_deletion(&self, _observed: &Observed<Self::Spec>) -> bool {
        false
    }

    /// The flag deleting this resource needs, and why (a bucket holding objects, …).
    fn delete_guard(&self, _observed: &Observed<Self::Spec>) -> Option<(Flag, String)> {
        None
    }

    /// Create it.
    async fn create(&self, cx: &Context, desired: &Self::Spec, inputs: &Inputs) -> Result<()>;

    /// Change the fields in `changes` in place (tags included, which is also how adoption works).
    async fn update(
        &self,
        cx: &Context,
        desired: &Self::Spec,
        observed: &Observed<Self::Spec>,
        changes: &[FieldChange],
        inputs: &Inputs,
    ) -> Result<()>;

    /// Wait until AWS has removed what was observed [`Observation::Leaving`], showing the
    /// waiting as progress.
    async fn wait_gone(&self, _cx: &Context) -> Result<()> {
        Ok(())
    }

    /// Delete it, and whatever only it holds (a bucket's objects with `--purge-buckets`, a user's keys).
    async fn delete(&self, cx: &Context, observed: &Observed<Self::Spec>) -> Result<()>;
}
