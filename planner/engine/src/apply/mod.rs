//! Carrying out a plan: the only async, effectful module of the planner.
//!
//! Each change becomes one or two steps (a replace is a delete and a
//! create, in the plan's order). Steps run in dependency order with bounded
//! parallelism; an intent row is journaled before every provider or runtime
//! call and completed after it; a failed step marks its dependents skipped
//! while everything else goes on; state records exactly what exists.

mod cancel;
mod error;
mod exec;
mod run;
pub mod runtime;
mod runtime_error;
mod steps;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dstack_provider::Provider;
use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::plan::PlanDoc;
use dstack_state::StateStore;
use serde::Serialize;
use tokio::sync::mpsc;

pub use cancel::Cancel;
use dstack_planner::desired::ProjectConfig;
pub use error::{StepError, StepErrorKind};
pub use runtime::{
    FakeRuntime, InstanceTarget, JobLaunch, JobRuntime, JobState, RuntimeError, RuntimeErrorKind,
    RuntimeLogLine, RuntimeLogPage, VolumeTarget, instance_target, job_instance,
};
pub use steps::{Op, Step, build_steps};

/// What apply needs besides the plan.
#[derive(Clone)]
pub struct ApplyContext {
    /// Recorded state.
    pub state: Arc<dyn StateStore>,
    /// Providers by backend name.
    pub providers: BTreeMap<String, Arc<dyn Provider>>,
    /// Where jobs run.
    pub runtime: Arc<dyn JobRuntime>,
    /// Project name (a tag on cloud resources).
    pub project: String,
    /// State lineage (a tag on cloud resources).
    pub lineage: String,
    /// Steps running at once.
    pub parallelism: usize,
    /// The current configurations (for values plans do not hold: inherited
    /// env, registry passwords, file paths).
    pub configs: Vec<ProjectConfig>,
    /// Who applies (`user@host`).
    pub holder: String,
    /// Stops the apply from starting steps (Ctrl+C); running steps finish.
    pub cancel: Cancel,
    /// Progress events.
    pub events: Option<mpsc::UnboundedSender<ApplyEvent>>,
    /// Cloud-init user data for new cloud instances (installs the runner).
    pub instance_user_data: Option<String>,
}

/// Progress of an apply, for display.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ApplyEvent {
    /// A step started.
    Started {
        /// Resource.
        address: ResourceAddr,
        /// What the step does.
        op: Op,
    },
    /// Something happened within a step (a failover, a retry).
    Note {
        /// Resource.
        address: ResourceAddr,
        /// What.
        message: String,
    },
    /// A step succeeded.
    Finished {
        /// Resource.
        address: ResourceAddr,
        /// What the step does.
        op: Op,
        /// Seconds taken.
        secs: f64,
        /// `id=...` and similar.
        detail: String,
    },
    /// A delete found nothing there: the resource was already gone (its
    /// state record is removed, nothing was deleted).
    AlreadyGone {
        /// Resource.
        address: ResourceAddr,
        /// What the step does (`delete`).
        op: Op,
        /// Seconds taken.
        secs: f64,
        /// Where it looked.
        detail: String,
    },
    /// A step failed.
    Failed {
        /// Resource.
        address: ResourceAddr,
        /// What the step does.
        op: Op,
        /// Why.
        error: String,
    },
    /// A step was not run because something it needs failed.
    Skipped {
        /// Resource.
        address: ResourceAddr,
        /// Why.
        reason: String,
    },
}

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum StepOutcome {
    /// Done.
    Done {
        /// Details (provider id, offer).
        detail: String,
        /// A delete that found nothing there to delete.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        already_gone: bool,
    },
    /// Failed.
    Failed {
        /// Why.
        error: String,
        /// What kind of failure (what a retry policy looks at).
        kind: StepErrorKind,
    },
    /// Not run: a dependency failed.
    Skipped {
        /// Which.
        reason: String,
    },
    /// Not run: interrupted first.
    NotStarted,
}

/// What a step that succeeded did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Done {
    /// Details (provider id, offer).
    pub detail: String,
    /// A delete that found nothing there to delete.
    pub already_gone: bool,
}

impl From<String> for Done {
    fn from(detail: String) -> Self {
        Self {
            detail,
            already_gone: false,
        }
    }
}

/// One step's record in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// Resource.
    pub address: ResourceAddr,
    /// What the step did.
    pub op: Op,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: StepOutcome,
    /// Seconds.
    pub secs: f64,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyReport {
    /// Apply id in state history.
    pub apply_id: String,
    /// Every step.
    pub steps: Vec<StepReport>,
    /// How the apply as a whole ended.
    pub outcome: ApplyOutcome,
    /// Seconds.
    pub secs: f64,
}

/// How an apply as a whole ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// Every step is done.
    Succeeded,
    /// Some steps are done, some failed or were skipped.
    Partial,
    /// Nothing is done and something failed.
    Failed,
    /// Stopped before every step started.
    Interrupted,
}

impl ApplyOutcome {
    /// The one rule: interrupted when a step never started, else by what
    /// failed and what is done.
    pub fn of(counts: &StepCounts) -> Self {
        match (
            counts.failed + counts.skipped,
            counts.not_started,
            counts.done,
        ) {
            (_, n, _) if n > 0 => Self::Interrupted,
            (0, _, _) => Self::Succeeded,
            (_, _, 0) => Self::Failed,
            _ => Self::Partial,
        }
    }

    /// The word in state history and in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

/// How many steps ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StepCounts {
    /// Done.
    pub done: usize,
    /// Failed.
    pub failed: usize,
    /// Skipped because something they need failed.
    pub skipped: usize,
    /// Never started (interrupted).
    pub not_started: usize,
}

impl StepCounts {
    /// Counts `steps` by outcome.
    pub fn of(steps: &[StepReport]) -> Self {
        let mut counts = Self::default();
        for step in steps {
            *match step.outcome {
                StepOutcome::Done { .. } => &mut counts.done,
                StepOutcome::Failed { .. } => &mut counts.failed,
                StepOutcome::Skipped { .. } => &mut counts.skipped,
                StepOutcome::NotStarted => &mut counts.not_started,
            } += 1;
        }
        counts
    }
}

impl ApplyReport {
    /// How many steps ended each way.
    pub fn counts(&self) -> StepCounts {
        StepCounts::of(&self.steps)
    }
}

impl ApplyContext {
    fn emit(&self, event: ApplyEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }
}

/// Applies `plan`. Step failures are in the report, not an `Err`; `Err` is
/// only for failures to record (the state store refusing writes).
pub async fn apply_plan(
    plan: &PlanDoc,
    ctx: &ApplyContext,
) -> Result<ApplyReport, dstack_state::StateError> {
    let start = Instant::now();
    let operation = match plan.operation {
        dstack_schemas::plan::PlanOperation::Apply => "apply",
        dstack_schemas::plan::PlanOperation::Destroy => "destroy",
    };
    let apply_id = ctx
        .state
        .begin_apply(&plan.plan_id, &ctx.holder, operation)?;
    let steps = build_steps(plan);
    let outcomes = run::run_steps(plan, &steps, ctx, &apply_id).await;
    let mut reports: Vec<StepReport> = steps
        .iter()
        .zip(outcomes)
        .map(|(step, (outcome, secs))| StepReport {
            address: step.address.clone(),
            op: step.op,
            outcome,
            secs,
        })
        .collect();
    reports.sort_by_key(|r| matches!(r.outcome, StepOutcome::Done { .. }));
    let counts = StepCounts::of(&reports);
    let report = ApplyReport {
        apply_id: apply_id.clone(),
        steps: reports,
        outcome: ApplyOutcome::of(&counts),
        secs: start.elapsed().as_secs_f64(),
    };
    let summary = serde_json::to_value(counts).unwrap_or_default();
    ctx.state
        .finish_apply(&apply_id, report.outcome.as_str(), &summary)?;
    Ok(report)
}

/// Retries a transient provider failure with backoff (bounded).
pub(crate) async fn with_retries<T, F, Fut>(
    ctx: &ApplyContext,
    address: &ResourceAddr,
    mut call: F,
) -> Result<T, dstack_provider::ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, dstack_provider::ProviderError>>,
{
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.kind.is_retryable() && attempt < 4 => {
                ctx.emit(ApplyEvent::Note {
                    address: address.clone(),
                    message: format!("retrying after transient error ({e})"),
                });
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ApplyOutcome, StepCounts};

    fn counts(done: usize, failed: usize, skipped: usize, not_started: usize) -> StepCounts {
        StepCounts {
            done,
            failed,
            skipped,
            not_started,
        }
    }

    #[test]
    fn an_apply_ends_by_one_rule() {
        use ApplyOutcome::*;
        assert_eq!(ApplyOutcome::of(&counts(3, 0, 0, 0)), Succeeded);
        assert_eq!(ApplyOutcome::of(&counts(0, 0, 0, 0)), Succeeded);
        assert_eq!(ApplyOutcome::of(&counts(2, 1, 0, 0)), Partial);
        assert_eq!(ApplyOutcome::of(&counts(2, 0, 1, 0)), Partial);
        assert_eq!(ApplyOutcome::of(&counts(0, 1, 4, 0)), Failed);
        assert_eq!(ApplyOutcome::of(&counts(5, 0, 0, 1)), Interrupted);
        assert_eq!(ApplyOutcome::of(&counts(0, 1, 0, 2)), Interrupted);
    }
}
