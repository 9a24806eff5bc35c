//! Running an apply's steps on the one DAG walker ([`crate::walk`]): each
//! step is a task of its own (steps wait on the disk and the network
//! together), its events go out as it starts and ends, and a failure skips
//! everything downstream naming the step that failed.

use std::sync::Arc;
use std::time::Instant;

use dstack_schemas::plan::PlanDoc;

use super::steps::Step;
use super::{ApplyContext, ApplyEvent, Done, StepError, StepErrorKind, StepOutcome, exec};
use crate::walk::{Outcome, Steps, walk};

/// What every step task shares.
struct Shared {
    plan: PlanDoc,
    ctx: ApplyContext,
    apply_id: String,
}

/// The apply's side of the walk.
struct ApplySteps<'a> {
    steps: &'a [Step],
    shared: Arc<Shared>,
}

/// How each step ended and how long it took, in step order.
pub(super) async fn run_steps(
    plan: &PlanDoc,
    steps: &[Step],
    ctx: &ApplyContext,
    apply_id: &str,
) -> Vec<(StepOutcome, f64)> {
    let walker = ApplySteps {
        steps,
        shared: Arc::new(Shared {
            plan: plan.clone(),
            ctx: ctx.clone(),
            apply_id: apply_id.to_string(),
        }),
    };
    let deps: Vec<Vec<usize>> = steps.iter().map(|s| s.deps.clone()).collect();
    let outcomes = walk(&walker, &deps, ctx.parallelism, ctx.cancel.cancelled()).await;
    outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Outcome::Ran { output, .. } => output,
            Outcome::Skipped { failed, .. } => (
                StepOutcome::Skipped {
                    reason: skip_reason(&steps[failed]),
                },
                0.0,
            ),
            Outcome::NotStarted => (StepOutcome::NotStarted, 0.0),
        })
        .collect()
}

/// Why a step downstream of `failed` did not run.
fn skip_reason(failed: &Step) -> String {
    format!("upstream failed: {} {}", failed.op.as_str(), failed.address)
}

impl Steps for ApplySteps<'_> {
    type Output = (StepOutcome, f64);

    async fn run(&self, node: usize) -> ((StepOutcome, f64), bool) {
        let step = self.steps[node].clone();
        let ctx = &self.shared.ctx;
        let op = step.op;
        ctx.emit(ApplyEvent::Started {
            address: step.address.clone(),
            op,
        });
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            let began = Instant::now();
            let outcome = exec::execute(&shared.plan, &shared.ctx, &shared.apply_id, &step).await;
            (outcome, began.elapsed().as_secs_f64())
        });
        let (outcome, secs) = match task.await {
            Ok(ended) => ended,
            // A panicking step is a bug; record it and keep going.
            Err(e) => (
                Err(StepError::new(
                    StepErrorKind::Internal,
                    format!("internal error in step: {e}"),
                )),
                0.0,
            ),
        };
        let address = self.steps[node].address.clone();
        match outcome {
            Ok(Done {
                detail,
                already_gone,
            }) => {
                ctx.emit(if already_gone {
                    ApplyEvent::AlreadyGone {
                        address,
                        op,
                        secs,
                        detail: detail.clone(),
                    }
                } else {
                    ApplyEvent::Finished {
                        address,
                        op,
                        secs,
                        detail: detail.clone(),
                    }
                });
                let done = StepOutcome::Done {
                    detail,
                    already_gone,
                };
                ((done, secs), true)
            }
            Err(error) => {
                ctx.emit(ApplyEvent::Failed {
                    address,
                    op,
                    error: error.message.clone(),
                });
                let failed = StepOutcome::Failed {
                    error: error.message,
                    kind: error.kind,
                };
                ((failed, secs), false)
            }
        }
    }

    fn skipped(&self, node: usize, _via: usize, failed: usize) {
        self.shared.ctx.emit(ApplyEvent::Skipped {
            address: self.steps[node].address.clone(),
            reason: skip_reason(&self.steps[failed]),
        });
    }

    /// Running steps finish on their own: an interrupted apply still
    /// records what they did.
    async fn cancelled(&self) {}
}
