//! Executing one step: the provider or runtime call, wrapped in an intent
//! row, followed by the state write. Returns a detail line or an error.

use dstack_schemas::status::Status;
use std::collections::BTreeMap;

use dstack_provider::{
    GatewayRequest, InstanceRequest, ProviderError, ResourceInfo, VolumeRequest, ownership_tags,
};
use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::config::Configuration;
use dstack_schemas::grammar::{EnvValue, Memory, VolumeMount};
use dstack_schemas::offer::Offer;
use dstack_schemas::plan::{PlanDoc, ResourceChange};
use dstack_schemas::spec::JobSpec;
use dstack_state::{Expected, IntentOutcome, NewIntent, RecordedResource};

use super::runtime::{InstanceTarget, JobLaunch, VolumeTarget};
use super::steps::{Op, Step};
use super::{ApplyContext, ApplyEvent, Done, StepError, with_retries};

mod cloud;
mod delete;
mod job;
use dstack_planner::fingerprint::digest;

/// Runs a blocking state write without stalling the other steps: on a
/// multi-threaded runtime the worker first hands its other tasks to a new
/// thread, so concurrent steps wait on one group commit together instead of
/// queueing behind each other's fsync. Elsewhere (a current-thread runtime
/// in tests) it simply calls `f`.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Runs `step`; what it did on success.
pub async fn execute(
    plan: &PlanDoc,
    ctx: &ApplyContext,
    apply_id: &str,
    step: &Step,
) -> Result<Done, StepError> {
    let change = &plan.resource_changes[step.change];
    let token = token(&ctx.lineage, apply_id, &change.address, step.op);
    let exec = Exec {
        ctx,
        apply_id,
        change,
        token,
    };
    let detail = match (change.kind, step.op) {
        (ResourceKind::Instance | ResourceKind::Volume | ResourceKind::Gateway, Op::Delete) => {
            return exec.delete_cloud(change.kind).await;
        }
        (ResourceKind::Instance, Op::Create) => exec.create_instance().await,
        (ResourceKind::Volume, Op::Create) => exec.create_volume().await,
        (ResourceKind::Volume, Op::Update) => exec.update_volume().await,
        (ResourceKind::Gateway, Op::Create) => exec.create_gateway().await,
        (ResourceKind::Job, Op::Create) => exec.submit_job().await,
        (ResourceKind::Job, Op::Delete) => exec.stop_job().await,
        (_, Op::Delete) => exec.forget().await,
        (_, Op::Create | Op::Update) => exec.record_spec().await,
    };
    detail.map(Done::from)
}

/// The idempotency token of one step: stable for a given apply, address
/// and operation, so a retried call within the apply is recognised.
fn token(lineage: &str, apply_id: &str, address: &ResourceAddr, op: Op) -> String {
    let d = digest(format!("{lineage}/{apply_id}/{address}/{}", op.as_str()).as_bytes());
    format!("dstk-{}", &d[7..39])
}

struct Exec<'a> {
    ctx: &'a ApplyContext,
    apply_id: &'a str,
    change: &'a ResourceChange,
    token: String,
}

impl Exec<'_> {
    fn address(&self) -> &ResourceAddr {
        &self.change.address
    }

    fn begin(&self, operation: &str, provider: Option<&str>) -> Result<i64, StepError> {
        let intent = NewIntent {
            apply_id: self.apply_id.to_string(),
            address: self.address().clone(),
            operation: operation.into(),
            token: self.token.clone(),
            provider: provider.map(str::to_string),
            payload: (operation == "create" || operation == "submit").then(|| {
                serde_json::json!({
                    "spec": self.change.after.as_deref(),
                    "fingerprint": self.change.fingerprint,
                    "placement": self.change.placement,
                })
            }),
        };
        blocking(|| self.ctx.state.begin_intent(&intent))
            .map_err(|e| StepError::state(format!("cannot journal intent: {e}")))
    }

    fn end(&self, id: i64, outcome: IntentOutcome, detail: Option<&str>) {
        // The journal is advisory once the call returned; state below is the truth.
        let _ = blocking(|| self.ctx.state.finish_intent(id, outcome, detail));
    }

    fn provider(
        &self,
        backend: &str,
    ) -> Result<std::sync::Arc<dyn dstack_provider::Provider>, StepError> {
        self.ctx.providers.get(backend).cloned().ok_or_else(|| {
            StepError::config(format!(
                "backend `{backend}` is not configured (see .dstack/backends.yml)"
            ))
        })
    }

    fn new_record(&self) -> RecordedResource {
        RecordedResource::new(
            self.address().clone(),
            self.change
                .after
                .as_deref()
                .cloned()
                .unwrap_or(serde_json::Value::Null),
            self.change.fingerprint.clone().unwrap_or_default(),
        )
    }

    /// Where the row must be for a create: absent, unless the plan saw a row
    /// (a resource deleted outside dstack) and this is not a replacement.
    fn create_expectation(&self) -> Expected {
        let replacing = self.change.actions.len() == 2;
        match self.change.recorded_version {
            Some(v) if !replacing => Expected::Version(v),
            Some(_) if self.change.actions[0] == dstack_schemas::plan::ActionWord::Create => {
                Expected::Version(self.change.recorded_version.unwrap_or(0))
            }
            _ => Expected::Absent,
        }
    }

    fn write(
        &self,
        record: &RecordedResource,
        expected: Expected,
    ) -> Result<RecordedResource, StepError> {
        blocking(|| self.ctx.state.put(record, expected))
            .map_err(|e| StepError::state(format!("state write failed: {e}")))
    }

    async fn record_spec(&self) -> Result<String, StepError> {
        let mut record = match self.ctx.state.get(self.address())? {
            Some(existing) if self.change.recorded_version.is_some() => existing,
            _ => self.new_record(),
        };
        record.spec = self.change.after.as_deref().cloned().unwrap_or(record.spec);
        record.fingerprint = self
            .change
            .fingerprint
            .clone()
            .unwrap_or(record.fingerprint);
        record.status = if self.change.kind == ResourceKind::Run {
            Status::Submitted
        } else {
            Status::Active
        };
        let expected = match self.change.recorded_version {
            Some(v) => Expected::Version(v),
            None => Expected::Absent,
        };
        let expected = if self.change.actions.len() == 2 {
            self.create_expectation()
        } else {
            expected
        };
        self.write(&record, expected)
            .map(|r| format!("version {}", r.version))
    }

    async fn forget(&self) -> Result<String, StepError> {
        let expected = self
            .change
            .recorded_version
            .map_or(Expected::Any, Expected::Version);
        match blocking(|| self.ctx.state.remove(self.address(), expected)) {
            Ok(()) => Ok("removed from state".into()),
            Err(dstack_state::StateError::Conflict { found, .. }) if found == "no row" => {
                Ok("already gone".into())
            }
            Err(e) => Err(StepError::state(format!("state write failed: {e}"))),
        }
    }

    fn tags(&self, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        ownership_tags(
            &self.ctx.project,
            &self.ctx.lineage,
            self.address(),
            &self.token,
            user,
        )
    }
}

/// Crash tests: `DSTACK_FAILPOINT=after-create:ADDRESS` aborts the process
/// right after the provider created ADDRESS, before the intent is closed or
/// state written, as a crash or power cut would (recovery must adopt it).
fn failpoint(point: &str, address: &ResourceAddr) {
    if std::env::var("DSTACK_FAILPOINT").is_ok_and(|v| v == format!("{point}:{address}")) {
        eprintln!("failpoint {point}:{address}: aborting");
        std::process::abort();
    }
}
