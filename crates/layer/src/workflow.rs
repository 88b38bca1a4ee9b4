//! The operator's workflows as a library: apply (deploy, destroy, a saved plan), seed and the run
//! lock around them. Plan → refuse → confirm → lock → observe again → compare → apply, each
//! returning a typed outcome. The command line renders the outcomes and answers the questions
//! through its [`Operator`]; another tool drives the same steps with its own.

use std::time::Duration;

use layer_core::engine::{ApplyError, Mode, PlanRun};
use layer_core::plan::Summary;
use layer_core::progress::Progress;
use layer_core::saved_plan::{moved_between, SavedPlan};
use layer_core::{Context, Error, Outputs, Plan, SafetyFlags};

use crate::Session;

/// What a workflow shows and asks along the way.
pub trait Operator: Sync {
    /// The plan, before the question.
    fn show_plan(&self, plan: &Plan);
    /// Observed again under the lock, the plan differs at these addresses; the new plan follows.
    fn plan_moved(&self, moved: &[String], plan: &Plan);
    /// Go on? An error ends the workflow before its first write.
    fn confirm(&self, question: &str) -> anyhow::Result<()>;
    /// Another run holds the environment's lock (`held` names it); this one waits.
    fn waiting_for_lock(&self, environment: &str, held: &str);
    /// Where the live progress of the changes goes.
    fn progress(&self) -> Progress;
    /// The changes are finished (each row reported to `progress`), after `took`.
    fn progress_done(&self, took: Duration);
}

/// What apply did.
#[derive(Debug)]
pub enum Applied {
    /// Nothing to do, as planned.
    NoChanges,
    /// Observed again under the lock, nothing was left to do (another run did it): the moved plan
    /// was shown.
    NothingLeft,
    /// Deployed: the plan's summary and the outputs observed after.
    Deployed {
        /// What the plan counted.
        summary: Summary,
        /// The layer's outputs.
        outputs: Outputs,
    },
    /// Destroyed: the plan's summary and what stays behind, each with how to remove it.
    Destroyed {
        /// What the plan counted.
        summary: Summary,
        /// What a destroy leaves on purpose (see [`crate::left_behind`]).
        left_behind: Vec<String>,
    },
}

/// How an apply runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Deploy or destroy.
    pub mode: Mode,
    /// The safety flags given.
    pub flags: SafetyFlags,
    /// Do not ask before changing anything.
    pub auto_approve: bool,
    /// The command, as the lock records it (`deploy dev`).
    pub command: String,
    /// How long to wait for the lock, instead of the environment's setting.
    pub lock_timeout: Option<Duration>,
}

/// The run lock, held by this workflow until [`release`].
#[derive(Debug)]
pub struct HeldLock {
    lease: secrets_seed::lock::Lease,
    environment: String,
    command: String,
}

/// Take the environment's run lock for `command`.
pub async fn take_lock(
    session: &Session,
    op: &dyn Operator,
    command: &str,
    timeout: Option<Duration>,
) -> anyhow::Result<HeldLock> {
    let environment = session.env.name.clone();
    let lease = crate::lock::take(
        &session.sdk,
        &session.env,
        &session.caller_arn,
        command,
        timeout,
        |held| op.waiting_for_lock(&environment, &held.to_string()),
    )
    .await?;
    tracing::info!(environment = %environment, command, "run lock taken");
    Ok(HeldLock {
        lease,
        environment,
        command: command.to_string(),
    })
}

/// Release the lock; a failure is logged (the lease expires by itself).
pub async fn release(held: HeldLock) {
    // Said before the lock is gone, so that no other run's "taken" comes before it.
    tracing::info!(environment = %held.environment, command = %held.command, "run lock releasing");
    if let Err(e) = held.lease.release().await {
        tracing::warn!(error = %e, "releasing the run lock failed; it expires with its lease");
    }
}

/// Run `work` holding the environment's run lock, and release the lock whatever happened.
pub async fn locked<T, F>(
    session: &Session,
    op: &dyn Operator,
    command: &str,
    timeout: Option<Duration>,
    work: F,
) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let held = take_lock(session, op, command, timeout).await?;
    let result = work.await;
    release(held).await;
    result
}

/// Refuse, before any mutating call, a plan that needs a flag the operator did not give.
pub fn refuse_unsafe(session: &Session, cx: &Context, plan: &Plan) -> anyhow::Result<()> {
    layer_core::safety::check(plan, &session.env.name, session.env.protected, &cx.flags)
        .map_err(Error::from)?;
    Ok(())
}

/// Plan, refuse what needs a flag, confirm, then take the run lock and carry out the plan as it
/// is observed under the lock. Bad input, a refusal, a "no" and a plan with nothing to do end
/// before the lock, so they write nothing at all. Under the lock the layer is observed again: what
/// another run (or a person) changed since the plan was shown is said, checked and, without
/// `auto_approve`, asked about again. Returns the lock, still held, when it was taken.
pub async fn apply(
    session: &Session,
    op: &dyn Operator,
    opts: &ApplyOptions,
) -> anyhow::Result<(Applied, Option<HeldLock>)> {
    let mode = opts.mode;
    let cx = session.context(opts.flags.clone());
    let run = session.plan(&cx, mode).await?;
    op.show_plan(&run.plan);
    if !run.plan.has_changes() {
        return Ok((Applied::NoChanges, None));
    }
    // Refuse before asking, and before any write (the lock's included).
    refuse_unsafe(session, &cx, &run.plan)?;
    let what = if mode == Mode::Destroy {
        "destroy these resources"
    } else {
        "perform these actions"
    };
    let env = &session.env.name;
    if !opts.auto_approve {
        op.confirm(&format!("Do you want to {what} in environment `{env}`?"))?;
    }
    let held = take_lock(session, op, &opts.command, opts.lock_timeout).await?;
    // A new context: the first plan's batch observations (its run cache) are out of date now.
    let cx = session.context(opts.flags.clone());
    let result = async {
        let again = session.plan(&cx, mode).await?;
        let moved = moved_between(&run.plan.to_json(), &again.plan.to_json());
        if !moved.is_empty() {
            op.plan_moved(&moved, &again.plan);
            if !again.plan.has_changes() {
                return Ok(Applied::NothingLeft);
            }
            refuse_unsafe(session, &cx, &again.plan)?;
            if !opts.auto_approve {
                let question =
                    format!("Do you want to {what} in environment `{env}`, as planned now?");
                op.confirm(&question)?;
            }
        }
        Box::pin(carry_out(session, op, &cx, again, mode)).await
    }
    .await;
    match result {
        Ok(applied) => Ok((applied, Some(held))),
        Err(e) => {
            release(held).await;
            Err(e)
        }
    }
}

/// Apply a plan saved by `plan --out`: refused when the layer moved since it was made (before
/// the lock, and again under it), or when it needs a flag not given; `before_lock` (the caller's
/// own check, such as the publication's) runs after those refusals and before the lock.
pub async fn apply_saved<F>(
    session: &Session,
    op: &dyn Operator,
    saved: &SavedPlan,
    opts: &ApplyOptions,
    before_lock: F,
) -> anyhow::Result<Applied>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let up_to_date = |plan: &Plan| -> anyhow::Result<()> {
        let moved = saved.moved(plan);
        if moved.is_empty() {
            return Ok(());
        }
        Err(Error::Config(format!(
            "the saved plan {} is out of date, nothing was changed; what moved since it was made: {}; run plan --out again",
            saved.path().display(),
            moved.join(", ")
        ))
        .into())
    };
    // Refused before the lock is taken, so a refusal writes nothing at all; checked again
    // under the lock, for what moved meanwhile.
    let cx = session.context(opts.flags.clone());
    let first = session.plan(&cx, opts.mode).await?;
    up_to_date(&first.plan)?;
    refuse_unsafe(session, &cx, &first.plan)?;
    before_lock.await?;
    locked(session, op, &opts.command, opts.lock_timeout, async {
        let cx = session.context(opts.flags.clone());
        let run = session.plan(&cx, opts.mode).await?;
        up_to_date(&run.plan)?;
        op.show_plan(&run.plan);
        if !run.plan.has_changes() {
            return Ok(Applied::NoChanges);
        }
        refuse_unsafe(session, &cx, &run.plan)?;
        Box::pin(carry_out(session, op, &cx, run, opts.mode)).await
    })
    .await
}

/// Apply a checked plan: the outputs after a deploy, what stays behind after a destroy.
async fn carry_out(
    session: &Session,
    op: &dyn Operator,
    cx: &Context,
    run: PlanRun,
    mode: Mode,
) -> anyhow::Result<Applied> {
    let summary = run.plan.summary();
    let plan = run.plan.clone();
    let mut cx = cx.clone();
    cx.progress = op.progress();
    let began = std::time::Instant::now();
    let applied = Box::pin(session.apply(&cx, run)).await;
    op.progress_done(began.elapsed());
    match applied {
        Ok(_) if mode == Mode::Destroy => Ok(Applied::Destroyed {
            summary,
            left_behind: crate::left_behind(session, &plan),
        }),
        Ok(outputs) => Ok(Applied::Deployed { summary, outputs }),
        Err(ApplyError::Other(e)) => Err(e.into()),
        Err(ApplyError::Partial(e)) => Err(anyhow::anyhow!(
            "{e}\nThe other resources were applied; run the command again once the cause is fixed."
        )),
    }
}

/// Check a seed's options before its first call: every `--rotate` name a secret seed generates,
/// and a protected environment's rotation confirmed by its name. Returns the warnings to show.
pub fn check_seed(
    session: &Session,
    opts: &secrets_seed::SeedOptions,
    confirm_env: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let catalog = secrets_seed::catalog(&session.databases);
    secrets_seed::seed::check_rotate(&catalog, &opts.rotate)?;
    secrets_seed::seed::refuse_unconfirmed_rotation(
        &opts.rotate,
        &session.env.name,
        session.env.protected,
        confirm_env,
    )?;
    Ok(secrets_seed::seed::rotation_warnings(
        &catalog,
        &opts.rotate,
    ))
}

/// Seed the secrets: what deploy left empty, what `force` or `rotate` asks for. A report whose
/// rows failed is returned as it is: the caller shows it, then fails.
pub async fn seed(
    session: &Session,
    progress: Progress,
    opts: &secrets_seed::SeedOptions,
) -> anyhow::Result<secrets_seed::SeedReport> {
    let observed = session.observe_for_seed().await?;
    Ok(session.seed(&observed, opts, progress).await?)
}
