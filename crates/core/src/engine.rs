//! The engine: turns a set of [`Resource`]s into a plan by observing them, checks the plan
//! against the safety flags, and applies or destroys it through the one [`executor`].
//!
//! Resources are type-erased here so that one graph holds every family's resources.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::address::Address;
use crate::executor::{self, Direction, Node, Outcome, Report};
use crate::flags::Flag;
use crate::outputs::{Inputs, Outputs};
use crate::plan::{Action, Plan, PlannedChange};
use crate::progress::Event;
use crate::resource::{Context, Observation, Observed, Resource, ResourceKind};
use crate::{tags, Error, Result};

/// Whether we plan to converge the layer or to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Converge to the desired state.
    Deploy,
    /// Remove everything that carries our tags.
    Destroy,
}

/// The planned change of one resource, with what was observed, for apply to act on.
pub struct Step {
    /// The change as shown in the plan.
    pub change: PlannedChange,
    /// The outputs observed (empty when the resource does not exist yet).
    pub outputs: Outputs,
    observed: Option<Arc<dyn Any + Send + Sync>>,
    /// Replaced because a dependency it lives in is: deleted before the walk, created in it.
    dependency_replaced: bool,
    /// AWS is deleting what is under its name: apply waits for it to go first.
    leaving: bool,
}

/// A resource with its types erased, so resources of every family sit in one graph.
#[async_trait]
pub trait AnyResource: Send + Sync {
    /// See [`Resource::address`].
    fn address(&self) -> Address;
    /// See [`Resource::depends_on`].
    fn depends_on(&self) -> Vec<Address>;
    /// Observe and decide what to do.
    async fn plan(&self, cx: &Context, inputs: &Inputs, mode: Mode) -> Result<Step>;
    /// Carry out a planned step and return the outputs after it.
    async fn execute(&self, cx: &Context, step: &Step, inputs: &Inputs) -> Result<Outputs>;
    /// See [`Resource::lives_in_dependencies`].
    fn lives_in_dependencies(&self) -> bool;
    /// See [`Resource::access`].
    fn access(&self) -> Vec<crate::access::Access>;
    /// Delete what a step observed (the first half of a replacement made early).
    async fn delete_observed(&self, cx: &Context, step: &Step) -> Result<()>;
}

/// Observe what a create found already there. AWS's reads can miss what was made moments ago (a
/// bucket in its first seconds, a list's lag), so an absent answer is asked again, for a bounded
/// time, before the create counts as failed.
async fn observe_made<R: Resource>(
    r: &R,
    cx: &Context,
    inputs: &Inputs,
) -> Result<Observation<R::Spec>> {
    let started = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match r.observe(cx, inputs).await? {
            Observation::Absent if started.elapsed() < crate::wait::UNSEEN_LIMIT => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
            other => return Ok(other),
        }
    }
}

/// The step for a resource with nothing under its name, or with something AWS is deleting
/// (`leaving`, its state): deploy creates it (after it is gone), destroy has nothing to delete
/// but waits for it to go, so that what held it can be deleted after.
fn absent_step<R: Resource>(
    r: &R,
    cx: &Context,
    inputs: &Inputs,
    mode: Mode,
    leaving: Option<String>,
) -> Result<Step> {
    let mut change = PlannedChange::new(r.address(), r.name(), Action::NoOp);
    if mode == Mode::Deploy {
        change.action = Action::Create;
        // What will be set, where it is known before apply.
        match r.desired(cx, inputs) {
            Ok(desired) => change.fields = crate::diff::creation(&desired),
            Err(Error::Unknown(what)) => {
                change.note = Some(format!("its settings depend on {what}, known after apply"))
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(state) = &leaving {
        let then = match mode {
            Mode::Deploy => "then creates it anew",
            Mode::Destroy => "before deleting what held it",
        };
        change.note = Some(format!(
            "`{}` is still {state} in AWS: apply waits until it is gone, {then}",
            r.name()
        ));
    }
    Ok(Step {
        change,
        outputs: Outputs::new(),
        observed: None,
        dependency_replaced: false,
        leaving: leaving.is_some(),
    })
}

#[async_trait]
impl<R: Resource> AnyResource for R {
    fn address(&self) -> Address {
        Resource::address(self)
    }

    fn depends_on(&self) -> Vec<Address> {
        Resource::depends_on(self)
    }

    fn lives_in_dependencies(&self) -> bool {
        Resource::lives_in_dependencies(self)
    }

    fn access(&self) -> Vec<crate::access::Access> {
        Resource::access(self)
    }

    async fn delete_observed(&self, cx: &Context, step: &Step) -> Result<()> {
        let cx = &*cx.for_resource(&self.address());
        match step
            .observed
            .as_ref()
            .and_then(|o| o.downcast_ref::<Observed<R::Spec>>())
        {
            Some(observed) => self.delete(cx, observed).await,
            None => Ok(()),
        }
    }

    async fn plan(&self, cx: &Context, inputs: &Inputs, mode: Mode) -> Result<Step> {
        let cx = &*cx.for_resource(&self.address());
        let observed = match self.observe(cx, inputs).await? {
            Observation::Present(observed) => observed,
            Observation::Absent => return absent_step(self, cx, inputs, mode, None),
            Observation::Leaving(state) => return absent_step(self, cx, inputs, mode, Some(state)),
        };
        let mut change = PlannedChange::new(self.address(), self.name(), Action::NoOp);
        let owner = tags::owner(&observed.tags, &cx.tags);
        let owned = owner == tags::Owner::Us;
        match (mode, owner) {
            (Mode::Destroy, tags::Owner::AnotherDeployment(other)) => {
                change.note = Some(format!(
                    "belongs to another deployment (naming id `{other}`): left alone"
                ));
                return Ok(Step {
                    change,
                    outputs: observed.outputs.clone(),
                    observed: Some(Arc::new(observed)),
                    dependency_replaced: false,
                    leaving: false,
                });
            }
            (Mode::Deploy, tags::Owner::AnotherDeployment(other)) => {
                return Err(Error::Foreign(format!(
                    "{}: `{}` belongs to another deployment of this layer in this account (naming id `{other}`, environment `{}`) and is never taken over; {}",
                    self.address(),
                    self.name(),
                    cx.environment,
                    self.shared_name_advice()
                )));
            }
            _ => {}
        }
        match mode {
            Mode::Destroy if !owned => {
                change.note = Some("exists without our tags: left alone".into());
            }
            Mode::Destroy if self.pending_deletion(&observed) => {
                change.note = Some("already scheduled for deletion".into());
            }
            Mode::Destroy => {
                change.action = Action::Delete;
                if let Some((flag, why)) = self.delete_guard(&observed) {
                    change.requires = Some(flag);
                    change.note = Some(why);
                }
            }
            Mode::Deploy => match self.desired(cx, inputs) {
                Err(Error::Unknown(what)) if owned => {
                    change.action = Action::Update;
                    change.note = Some(format!("depends on {what}, known after apply"));
                }
                // Adoption needs its flag whether or not the desired settings are known yet.
                Err(Error::Unknown(what)) => {
                    change.action = Action::Adopt;
                    change.requires = Some(Flag::Adopt);
                    change.note = Some(format!(
                        "`{}` exists without our tags; apply tags it and takes it over only with --adopt (its settings depend on {what}, known after apply)",
                        self.name()
                    ));
                }
                Err(e) => return Err(e),
                Ok(desired) => {
                    change.fields = self.diff(&desired, &observed.spec);
                    let reasons: Vec<String> = change
                        .fields
                        .iter()
                        .filter(|f| f.forces_replacement)
                        .map(|f| f.field().to_string())
                        .collect();
                    if !owned {
                        change.action = Action::Adopt;
                        change.requires = Some(Flag::Adopt);
                        let mut note = format!("`{}` exists without our tags; apply tags it and takes it over only with --adopt", self.name());
                        if !reasons.is_empty() {
                            // Adoption changes what can change in place and leaves the rest for
                            // a later, explicit replacement: never an endless failing apply.
                            note.push_str(&format!(
                                "; {} cannot change in place and is left as it is (a later plan shows the replacement)",
                                reasons.join(", ")
                            ));
                        }
                        change.note = Some(note);
                    } else if !reasons.is_empty() {
                        match self.kind() {
                            ResourceKind::Stateful => {
                                change.requires = Some(Flag::AllowReplace);
                                change.note = Some(format!(
                                    "replacing `{}` deletes the data it holds",
                                    self.name()
                                ));
                            }
                            ResourceKind::Disruptive => {
                                change.requires = Some(Flag::AllowReplace);
                                change.note = Some(format!(
                                    "replacing `{}` takes it out of service until the new one is ready",
                                    self.name()
                                ));
                            }
                            ResourceKind::Stateless => {}
                        }
                        let mut reasons = reasons;
                        reasons.dedup();
                        change.action = Action::Replace { reasons };
                    } else if !change.fields.is_empty() {
                        change.action = Action::Update;
                        change.note = self.update_note(&change.fields);
                        if let Some((flag, why)) = self.update_guard(&change.fields) {
                            change.requires = Some(flag);
                            change.note = Some(why);
                        }
                    }
                }
            },
        }
        let outputs = observed.outputs.clone();
        Ok(Step {
            change,
            outputs,
            observed: Some(Arc::new(observed)),
            dependency_replaced: false,
            leaving: false,
        })
    }

    async fn execute(&self, cx: &Context, step: &Step, inputs: &Inputs) -> Result<Outputs> {
        let cx = &*cx.for_resource(&self.address());
        let observed = || -> Result<&Observed<R::Spec>> {
            step.observed
                .as_ref()
                .and_then(|o| o.downcast_ref::<Observed<R::Spec>>())
                .ok_or_else(|| {
                    Error::Other(format!("{}: no observation to act on", self.address()))
                })
        };
        if step.leaving {
            self.wait_gone(cx).await?;
        }
        match &step.change.action {
            Action::NoOp => return Ok(step.outputs.clone()),
            Action::Create => {
                let desired = self.desired(cx, inputs)?;
                match self.create(cx, &desired, inputs).await {
                    Ok(()) => {}
                    // A retried create whose first answer was lost, or another run: what is
                    // there is converged when it is ours, and never taken over when it is not.
                    Err(Error::AlreadyExists(what)) => match observe_made(self, cx, inputs).await? {
                        Observation::Present(o) if tags::is_owned(&o.tags, &cx.tags) => {
                            let changes = self.diff(&desired, &o.spec);
                            if changes.iter().any(|c| c.forces_replacement) {
                                return Err(Error::Other(format!(
                                    "{}: {what} already exists with settings that need a replacement; run plan",
                                    self.address()
                                )));
                            }
                            if !changes.is_empty() {
                                self.update(cx, &desired, &o, &changes, inputs).await?;
                            }
                        }
                        Observation::Present(_) => {
                            return Err(Error::Other(format!(
                                "{}: {what} appeared without our tags since plan; run plan, then deploy with --adopt to take it over",
                                self.address()
                            )))
                        }
                        Observation::Absent | Observation::Leaving(_) => {
                            return Err(Error::AlreadyExists(what))
                        }
                    },
                    Err(e) => return Err(e),
                }
            }
            Action::Update | Action::Adopt => {
                let desired = self.desired(cx, inputs)?;
                let observed = observed()?;
                // Inputs unknown at plan time are known now: diff again.
                let mut changes = self.diff(&desired, &observed.spec);
                if step.change.action == Action::Adopt {
                    // What cannot change in place stays; the next plan shows its replacement.
                    changes.retain(|c| !c.forces_replacement);
                }
                if changes.iter().any(|c| c.forces_replacement) {
                    return Err(Error::Other(format!(
                        "{}: a value known only after apply forces a replacement; run plan again",
                        self.address()
                    )));
                }
                self.update(cx, &desired, observed, &changes, inputs)
                    .await?;
            }
            Action::Replace { .. } => {
                let desired = self.desired(cx, inputs)?;
                if !step.dependency_replaced {
                    self.delete(cx, observed()?).await?;
                }
                self.create(cx, &desired, inputs).await?;
            }
            Action::Delete => {
                self.delete(cx, observed()?).await?;
                return Ok(Outputs::new());
            }
        }
        match self.observe(cx, inputs).await? {
            Observation::Present(o) => Ok(o.outputs),
            Observation::Absent | Observation::Leaving(_) => Err(Error::Other(format!(
                "{}: not found after apply",
                self.address()
            ))),
        }
    }
}

/// The resources of a layer, with the concurrency to walk them.
#[derive(Clone)]
pub struct Engine {
    resources: Vec<Arc<dyn AnyResource>>,
    concurrency: usize,
}

/// A plan together with the observations apply needs.
pub struct PlanRun {
    /// The plan, in dependency order.
    pub plan: Plan,
    steps: BTreeMap<Address, Step>,
    mode: Mode,
}

impl PlanRun {
    /// The outputs as observed: what exists now.
    pub fn observed_outputs(&self) -> Outputs {
        self.steps
            .values()
            .flat_map(|s| s.outputs.clone())
            .collect()
    }
}

/// A walk where some resources failed; the others went on.
#[derive(Debug, thiserror::Error)]
#[error("{what} failed for {count} resource(s):\n{summary}")]
pub struct WalkError {
    what: &'static str,
    count: usize,
    summary: String,
    /// The outputs of the resources that did succeed.
    pub partial: Outputs,
}

impl Engine {
    /// An engine over these resources.
    pub fn new(resources: Vec<Arc<dyn AnyResource>>, concurrency: usize) -> Self {
        Engine {
            resources,
            concurrency,
        }
    }

    fn nodes(&self) -> Vec<Node<Arc<dyn AnyResource>>> {
        self.resources
            .iter()
            .map(|r| Node {
                address: r.address(),
                depends_on: r.depends_on(),
                payload: r.clone(),
            })
            .collect()
    }

    /// Every resource with what it depends on, in declaration order: the layer's graph.
    pub fn dependencies(&self) -> Vec<(Address, Vec<Address>)> {
        self.resources
            .iter()
            .map(|r| (r.address(), r.depends_on()))
            .collect()
    }

    fn order(&self) -> Vec<Address> {
        self.resources.iter().map(|r| r.address()).collect()
    }

    /// Observe every resource (read-only, in parallel where independent) and plan.
    pub async fn plan(&self, cx: &Context, mode: Mode) -> Result<PlanRun> {
        self.plan_nodes(cx, mode, self.nodes()).await
    }

    /// `wanted` and what they depend on, transitively.
    fn with_dependencies(&self, wanted: &[Address]) -> std::collections::BTreeSet<Address> {
        let by_address: BTreeMap<Address, Vec<Address>> = self
            .resources
            .iter()
            .map(|r| (r.address(), r.depends_on()))
            .collect();
        let mut keep: std::collections::BTreeSet<Address> = Default::default();
        let mut todo: Vec<Address> = wanted.to_vec();
        while let Some(a) = todo.pop() {
            if let Some(deps) = by_address.get(&a) {
                if keep.insert(a) {
                    todo.extend(deps.iter().cloned());
                }
            }
        }
        keep
    }

    /// Observe only `wanted` and what they depend on, transitively (read-only): the outputs a
    /// command needs without observing the whole layer (seed needs the cluster's).
    pub async fn observe_only(&self, cx: &Context, wanted: &[Address]) -> Result<Outputs> {
        let keep = self.with_dependencies(wanted);
        let nodes = self
            .nodes()
            .into_iter()
            .filter(|n| keep.contains(&n.address))
            .collect();
        Ok(self
            .plan_nodes(cx, Mode::Deploy, nodes)
            .await?
            .observed_outputs())
    }

    /// The IAM permissions the resources declare for `needs`; `observe_only`, when given,
    /// narrows observation to those resources and what they depend on (as
    /// [`Engine::observe_only`] does).
    pub fn access(
        &self,
        needs: &[crate::access::Need],
        observe_only: Option<&[Address]>,
    ) -> Vec<crate::access::Access> {
        use crate::access::Need;
        let observed = observe_only.map(|w| self.with_dependencies(w));
        self.resources
            .iter()
            .flat_map(|r| {
                let address = r.address();
                let observed = &observed;
                r.access().into_iter().filter(move |a| match a.need {
                    Need::Observe => {
                        needs.contains(&Need::Observe)
                            || observed.as_ref().is_some_and(|o| o.contains(&address))
                    }
                    need => needs.contains(&need),
                })
            })
            .collect()
    }

    async fn plan_nodes(
        &self,
        cx: &Context,
        mode: Mode,
        nodes: Vec<Node<Arc<dyn AnyResource>>>,
    ) -> Result<PlanRun> {
        let steps = std::sync::Mutex::new(BTreeMap::new());
        let report = executor::run(nodes, self.concurrency, Direction::Forward, |r, inputs| {
            let steps = &steps;
            async move {
                let step = r.plan(cx, &inputs, mode).await?;
                let outputs = step.outputs.clone();
                steps
                    .lock()
                    .expect("not poisoned")
                    .insert(r.address(), step);
                Ok(outputs)
            }
        })
        .await
        .map_err(|e| Error::Other(e.to_string()))?;
        finish("observing", &report)?;
        let mut steps = steps.into_inner().expect("not poisoned");
        if mode == Mode::Deploy {
            self.replace_with_dependencies(&mut steps);
        }
        let mut order = self.order();
        if mode == Mode::Destroy {
            order.reverse();
        }
        let plan = Plan {
            changes: order
                .iter()
                .filter_map(|a| steps.get(a))
                .map(|s| s.change.clone())
                .collect(),
        };
        Ok(PlanRun { plan, steps, mode })
    }

    /// What depends on a resource being replaced: one that lives inside it is replaced with it
    /// and needs the same flag; any other takes the new outputs (endpoints, ids), known only
    /// after apply, so it is planned as an update that diffs again then.
    fn replace_with_dependencies(&self, steps: &mut BTreeMap<Address, Step>) {
        let mut replaced: std::collections::BTreeSet<Address> = steps
            .iter()
            .filter(|(_, s)| matches!(s.change.action, Action::Replace { .. }))
            .map(|(a, _)| a.clone())
            .collect();
        for r in &self.resources {
            let Some(dep) = r.depends_on().into_iter().find(|d| replaced.contains(d)) else {
                continue;
            };
            let Some(step) = steps.get_mut(&r.address()) else {
                continue;
            };
            if step.observed.is_none()
                || !matches!(step.change.action, Action::NoOp | Action::Update)
            {
                continue;
            }
            replaced.insert(r.address());
            if !r.lives_in_dependencies() {
                if step.change.action == Action::NoOp {
                    step.change.action = Action::Update;
                    step.change.note = Some(format!(
                        "depends on {dep}, which is replaced: its values are known after apply"
                    ));
                }
                continue;
            }
            step.change.action = Action::Replace {
                reasons: vec![format!("{dep} is replaced")],
            };
            step.change.requires = step.change.requires.or(Some(Flag::AllowReplace));
            step.change.note = Some(format!(
                "deleted before {dep} is replaced and created again after, as AWS requires"
            ));
            step.dependency_replaced = true;
        }
    }

    /// Apply a plan (check it against the safety flags first) and return the layer's outputs.
    pub async fn apply(&self, cx: &Context, run: PlanRun) -> Result<Outputs, ApplyError> {
        let direction = match run.mode {
            Mode::Deploy => Direction::Forward,
            Mode::Destroy => Direction::Reverse,
        };
        let steps = &run.steps;
        // What lives inside a resource being replaced goes first, dependents before what they
        // live in; the walk then creates it again after its dependency.
        for r in self.resources.iter().rev() {
            if let Some(step) = steps.get(&r.address()).filter(|s| s.dependency_replaced) {
                tracing::info!(address = %step.change.address, "deleting before its dependency is replaced");
                let started = std::time::Instant::now();
                cx.progress.send(Event::Started {
                    address: step.change.address.clone(),
                    name: step.change.name.clone(),
                    verb: crate::progress::Verb::Destroy,
                });
                let deleted = crate::progress::within(
                    step.change.address.clone(),
                    r.delete_observed(cx, step),
                )
                .await;
                cx.progress.send(Event::Finished {
                    address: step.change.address.clone(),
                    name: step.change.name.clone(),
                    verb: crate::progress::Verb::Destroy,
                    elapsed: started.elapsed(),
                    error: deleted.as_ref().err().map(ToString::to_string),
                });
                deleted.map_err(ApplyError::Other)?;
            }
        }
        let report = executor::run(
            self.nodes(),
            self.concurrency,
            direction,
            |r, inputs| async move {
                match steps.get(&r.address()) {
                    Some(step) => {
                        if step.change.action == Action::NoOp {
                            return r.execute(cx, step, &inputs).await;
                        }
                        if crate::interrupt::requested() {
                            return Err(Error::Other(
                            "not started: interrupted (Ctrl-C); run the command again to finish"
                                .into(),
                        ));
                        }
                        let verb = crate::progress::Verb::of(&step.change.action);
                        let started = std::time::Instant::now();
                        if let Some(verb) = verb {
                            cx.progress.send(Event::Started {
                                address: step.change.address.clone(),
                                name: step.change.name.clone(),
                                verb,
                            });
                        }
                        let result = crate::progress::within(
                            step.change.address.clone(),
                            r.execute(cx, step, &inputs),
                        )
                        .await;
                        if let Some(verb) = verb {
                            cx.progress.send(Event::Finished {
                                address: step.change.address.clone(),
                                name: step.change.name.clone(),
                                verb,
                                elapsed: started.elapsed(),
                                error: result.as_ref().err().map(ToString::to_string),
                            });
                        }
                        result
                    }
                    None => Err(Error::Other(format!("{}: not in the plan", r.address()))),
                }
            },
        )
        .await
        .map_err(|e| ApplyError::Other(Error::Other(e.to_string())))?;
        let outputs: Outputs = report
            .outcomes
            .values()
            .filter_map(|o| match o {
                Outcome::Done(out) => Some(out.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        if report.is_success() {
            Ok(outputs)
        } else {
            let count = report
                .outcomes
                .values()
                .filter(|o| !matches!(o, Outcome::Done(_)))
                .count();
            Err(ApplyError::Partial(WalkError {
                what: "apply",
                count,
                summary: report.failure_summary(),
                partial: outputs,
            }))
        }
    }
}

/// Why an apply did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Some resources failed; the rest were applied.
    #[error(transparent)]
    Partial(WalkError),
    /// The walk could not start.
    #[error(transparent)]
    Other(Error),
}

fn finish(what: &'static str, report: &Report) -> Result<()> {
    if report.is_success() {
        return Ok(());
    }
    let count = report
        .outcomes
        .values()
        .filter(|o| !matches!(o, Outcome::Done(_)))
        .count();
    Err(Error::Other(
        WalkError {
            what,
            count,
            summary: report.failure_summary(),
            partial: Outputs::new(),
        }
        .to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::FieldChange;
    use crate::flags::SafetyFlags;
    use crate::resource::{Observed, WaitSettings};
    use crate::tags::Tags;
    use serde::Serialize;

    #[derive(Debug, Clone, PartialEq, Serialize)]
    struct Spec {
        size: u32,
        port: u16,
    }

    /// A resource whose observation and desired state the test chooses.
    struct Fake {
        observed: Option<(Spec, bool)>,
        desired: Option<Spec>,
        kind: ResourceKind,
        /// AWS is deleting what `observed` describes.
        leaving: bool,
    }

    #[async_trait]
    impl Resource for Fake {
        type Spec = Spec;
        fn address(&self) -> Address {
            Address::new("fake.one")
        }
        fn name(&self) -> String {
            "one".into()
        }
        fn access(&self) -> Vec<crate::access::Access> {
            Vec::new()
        }
        fn kind(&self) -> ResourceKind {
            self.kind
        }
        fn replace_fields(&self) -> &'static [&'static str] {
            &["port"]
        }
        fn desired(&self, _cx: &Context, _inputs: &Inputs) -> Result<Spec> {
            self.desired
                .clone()
                .ok_or_else(|| Error::Unknown("upstream.value".into()))
        }
        async fn observe(&self, cx: &Context, _inputs: &Inputs) -> Result<Observation<Spec>> {
            Ok(match &self.observed {
                None => Observation::Absent,
                Some(_) if self.leaving => Observation::Leaving("deleting".into()),
                Some((spec, owned)) => {
                    let tags = if *owned {
                        cx.tags.clone()
                    } else {
                        Tags::from([("Team".to_string(), "other".to_string())])
                    };
                    Observation::Present(Observed {
                        spec: spec.clone(),
                        tags,
                        outputs: Outputs::new(),
                        holds_data: false,
                    })
                }
            })
        }
        async fn create(&self, _: &Context, _: &Spec, _: &Inputs) -> Result<()> {
            Ok(())
        }
        async fn update(
            &self,
            _: &Context,
            _: &Spec,
            _: &Observed<Spec>,
            _: &[FieldChange],
            _: &Inputs,
        ) -> Result<()> {
            Ok(())
        }
        async fn delete(&self, _: &Context, _: &Observed<Spec>) -> Result<()> {
            Ok(())
        }
    }

    fn cx() -> Context {
        Context {
            environment: "dev".into(),
            tags: crate::tags::ownership_tags("dev", "dal-dev", &Tags::new()),
            tags_by_resource: Default::default(),
            flags: SafetyFlags::default(),
            wait: WaitSettings {
                timeout: std::time::Duration::from_secs(1),
                poll: std::time::Duration::from_millis(10),
            },
            cache: Default::default(),
            progress: Default::default(),
        }
    }

    async fn plan(fake: Fake, mode: Mode) -> PlannedChange {
        let engine = Engine::new(vec![Arc::new(fake)], 1);
        let run = engine.plan(&cx(), mode).await.expect("plans");
        run.plan.changes.into_iter().next().expect("one change")
    }

    const SPEC: Spec = Spec {
        size: 1,
        port: 5432,
    };

    #[tokio::test]
    async fn adopt_needs_its_flag_whether_or_not_the_desired_state_is_known() {
        for desired in [Some(SPEC), Some(Spec { size: 2, ..SPEC }), None] {
            let c = plan(
                Fake {
                    observed: Some((SPEC, false)),
                    desired,
                    kind: ResourceKind::Stateless,
                    leaving: false,
                },
                Mode::Deploy,
            )
            .await;
            assert_eq!(c.action, Action::Adopt);
            assert_eq!(c.requires, Some(Flag::Adopt), "{c:?}");
        }
    }

    #[tokio::test]
    async fn adoption_names_what_only_a_replacement_can_change_and_disruptive_needs_the_flag() {
        let c = plan(
            Fake {
                observed: Some((SPEC, false)),
                desired: Some(Spec { port: 6380, ..SPEC }),
                kind: ResourceKind::Stateful,
                leaving: false,
            },
            Mode::Deploy,
        )
        .await;
        assert_eq!(c.action, Action::Adopt);
        assert!(
            c.note
                .as_deref()
                .is_some_and(|n| n.contains("port cannot change in place")),
            "{c:?}"
        );
        let c = plan(
            Fake {
                observed: Some((SPEC, true)),
                desired: Some(Spec { port: 6380, ..SPEC }),
                kind: ResourceKind::Disruptive,
                leaving: false,
            },
            Mode::Deploy,
        )
        .await;
        assert_eq!(c.requires, Some(Flag::AllowReplace));
        assert!(c
            .note
            .as_deref()
            .is_some_and(|n| n.contains("out of service")));
    }

    #[tokio::test]
    async fn replacement_of_stateful_resources_needs_its_flag_and_stateless_do_not() {
        let changed = Spec { port: 6380, ..SPEC };
        let c = plan(
            Fake {
                observed: Some((SPEC, true)),
                desired: Some(changed.clone()),
                kind: ResourceKind::Stateful,
                leaving: false,
            },
            Mode::Deploy,
        )
        .await;
        assert!(matches!(c.action, Action::Replace { .. }));
        assert_eq!(c.requires, Some(Flag::AllowReplace));
        let c = plan(
            Fake {
                observed: Some((SPEC, true)),
                desired: Some(changed),
                kind: ResourceKind::Stateless,
                leaving: false,
            },
            Mode::Deploy,
        )
        .await;
        assert!(matches!(c.action, Action::Replace { .. }));
        assert_eq!(c.requires, None);
        // Owned with settings known after apply: an update, no flag.
        let c = plan(
            Fake {
                observed: Some((SPEC, true)),
                desired: None,
                kind: ResourceKind::Stateful,
                leaving: false,
            },
            Mode::Deploy,
        )
        .await;
        assert_eq!((c.action, c.requires), (Action::Update, None));
    }

    #[tokio::test]
    async fn destroy_touches_only_what_is_ours() {
        for (observed, action) in [
            (Some((SPEC, true)), Action::Delete),
            (Some((SPEC, false)), Action::NoOp),
            (None, Action::NoOp),
        ] {
            let c = plan(
                Fake {
                    observed,
                    desired: Some(SPEC),
                    kind: ResourceKind::Stateful,
                    leaving: false,
                },
                Mode::Destroy,
            )
            .await;
            assert_eq!(c.action, action);
        }
    }

    #[tokio::test]
    async fn what_aws_is_deleting_is_created_anew_once_gone_and_destroy_only_waits() {
        for (mode, action, then) in [
            (Mode::Deploy, Action::Create, "then creates it anew"),
            (Mode::Destroy, Action::NoOp, "before deleting what held it"),
        ] {
            let c = plan(
                Fake {
                    observed: Some((SPEC, true)),
                    desired: Some(SPEC),
                    kind: ResourceKind::Stateful,
                    leaving: true,
                },
                mode,
            )
            .await;
            assert_eq!(c.action, action);
            let note = c.note.unwrap_or_default();
            assert!(
                note.contains("`one` is still deleting in AWS: apply waits until it is gone")
                    && note.contains(then),
                "{note}"
            );
            assert_eq!(c.requires, None, "a create needs no flag");
        }
    }
}
