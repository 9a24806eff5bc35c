//! The store traits, one per concept of recorded state: resources,
//! the intent journal, apply history, the lock, job logs and workflow
//! runs. [`StateStore`] is all of them together (implemented for every
//! type that implements the parts), so callers that need everything take
//! one `&dyn StateStore` and a store is built one trait at a time.
//!
//! The traits are synchronous. Every method is one short transaction:
//! the planner reads recorded state once into memory before planning, and
//! the apply engine writes a row or an intent around provider calls that
//! take seconds, so a store call never sits on the hot path. A store whose
//! client is asynchronous (PostgreSQL behind a connection pool) runs each
//! call through `tokio::task::block_in_place` (the CLI's runtimes are
//! multi-threaded), which hands the worker's other tasks to another thread
//! while the query waits, so it never stalls the runtime.
//!
//! Locking with a timeout is built on [`StateLock::try_lock`] here, once.

use std::time::{Duration, Instant};

use dstack_schemas::addr::{ResourceAddr, ResourceKind};

pub use crate::error::StateError;
use crate::model::{
    ApplyRecord, Expected, Forgotten, Intent, IntentOutcome, LockInfo, LockRequest, LogLine,
    LogSubmission, NewIntent, RecordedResource, WorkflowJob, WorkflowRun,
};

/// The recorded resources, one row per address, and the state's identity.
pub trait ResourceStore: Send + Sync {
    /// A UUID fixed when the state was created.
    fn lineage(&self) -> Result<String, StateError>;

    /// Every recorded resource, ordered by address.
    fn list(&self) -> Result<Vec<RecordedResource>, StateError>;

    /// Every recorded resource, ordered by address, with the spec read only
    /// where `need_spec(address, stored fingerprint)` says so; elsewhere the
    /// spec is `null` (the caller already knows it from the fingerprint).
    /// A planner asks for the specs of rows whose fingerprint differs from
    /// the desired one, so an unchanged row's spec JSON is never parsed.
    /// Stores that cannot skip it return every spec (as [`Self::list`]).
    fn list_specs_where(
        &self,
        need_spec: &dyn Fn(&ResourceAddr, &str) -> bool,
    ) -> Result<Vec<RecordedResource>, StateError> {
        let _ = need_spec;
        self.list()
    }

    /// One resource.
    fn get(&self, address: &ResourceAddr) -> Result<Option<RecordedResource>, StateError>;

    /// Writes a row if the current one matches `expected`; returns the row
    /// as stored (with its new version).
    fn put(
        &self,
        resource: &RecordedResource,
        expected: Expected,
    ) -> Result<RecordedResource, StateError>;

    /// Removes a row if the current one matches `expected`.
    fn remove(&self, address: &ResourceAddr, expected: Expected) -> Result<(), StateError>;

    /// Removes a row that matches `expected` on purpose, remembering the
    /// resource it records (when it has a provider id) as [`Forgotten`];
    /// returns the row removed.
    fn forget(
        &self,
        address: &ResourceAddr,
        expected: Expected,
    ) -> Result<RecordedResource, StateError>;

    /// Every resource forgotten so far.
    fn forgotten(&self) -> Result<Vec<Forgotten>, StateError>;

    /// The recorded resources of these kinds, ordered by address (what
    /// `ps` needs without reading every fleet and instance). The default
    /// filters [`Self::list`]; stores with an index override it.
    fn list_kinds(&self, kinds: &[ResourceKind]) -> Result<Vec<RecordedResource>, StateError> {
        let mut rows = self.list()?;
        rows.retain(|r| kinds.contains(&r.address.kind()));
        Ok(rows)
    }

    /// The recorded runs and jobs as status listings (`ps`) read them,
    /// ordered by address: each row's `spec` is cut down to its `type`
    /// key (runs) or to `{}` (jobs), and a job's `data` goes without
    /// [`crate::model::STATUS_DATA_DROPPED`], so 10,000 runs are not
    /// decoded in full. For display only: never write these rows back. The
    /// default cuts the rows of [`Self::list_kinds`].
    fn list_run_statuses(&self) -> Result<Vec<RecordedResource>, StateError> {
        let mut rows = self.list_kinds(&[ResourceKind::Run, ResourceKind::Job])?;
        for row in &mut rows {
            row.spec = crate::model::status_spec(row.address.kind(), &row.spec);
            if row.address.kind() == ResourceKind::Job {
                row.data = crate::model::status_data(&row.data);
            }
        }
        Ok(rows)
    }

    /// The recorded jobs of run `run`, ordered by address (`logs RUN`
    /// reads these, not the whole state). The default filters
    /// [`Self::list`].
    fn list_jobs_of(&self, run: &str) -> Result<Vec<RecordedResource>, StateError> {
        let mut rows = self.list()?;
        rows.retain(|r| matches!(&r.address, ResourceAddr::Job(n, _) if n == run));
        Ok(rows)
    }
}

/// The intent journal: a row before every provider call, finished after
/// it, so a crashed apply can be settled.
pub trait IntentJournal: Send + Sync {
    /// Journals a provider call about to happen; returns its id.
    fn begin_intent(&self, intent: &NewIntent) -> Result<i64, StateError>;

    /// Records how a journaled call ended.
    fn finish_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
        detail: Option<&str>,
    ) -> Result<(), StateError>;

    /// Records what a journaled call created and closes its intent as
    /// done, in one durable write: a closed intent never lacks its record,
    /// and a failed record (a conflict) leaves the intent open for the
    /// next apply to settle.
    fn record_and_close(
        &self,
        resource: &RecordedResource,
        expected: Expected,
        id: i64,
        detail: Option<&str>,
    ) -> Result<RecordedResource, StateError>;

    /// Removes the row of what a journaled call deleted and closes its
    /// intent as done, in one durable write (a conflict changes neither).
    fn remove_and_close(
        &self,
        address: &ResourceAddr,
        expected: Expected,
        id: i64,
        detail: Option<&str>,
    ) -> Result<(), StateError>;

    /// Intents never finished (their process died mid-call).
    fn open_intents(&self) -> Result<Vec<Intent>, StateError>;

    /// All intents of one apply, in order.
    fn intents_of(&self, apply_id: &str) -> Result<Vec<Intent>, StateError>;
}

/// The history of applies and destroys.
pub trait ApplyHistory: Send + Sync {
    /// Records the start of an apply; returns its id.
    fn begin_apply(
        &self,
        plan_id: &str,
        holder: &str,
        operation: &str,
    ) -> Result<String, StateError>;

    /// Records the end of an apply.
    fn finish_apply(
        &self,
        id: &str,
        outcome: &str,
        summary: &serde_json::Value,
    ) -> Result<(), StateError>;

    /// The newest applies first.
    fn applies(&self, limit: usize) -> Result<Vec<ApplyRecord>, StateError>;
}

/// The one lock that keeps two mutating operations apart.
pub trait StateLock: Send + Sync {
    /// Takes the lock now or fails with [`StateError::Locked`]. A lock whose
    /// holder process is gone (same host) is broken and replaced.
    fn try_lock(&self, request: &LockRequest) -> Result<LockInfo, StateError>;

    /// Releases a lock by id.
    fn unlock(&self, id: &str) -> Result<(), StateError>;

    /// The lock, if held.
    fn current_lock(&self) -> Result<Option<LockInfo>, StateError>;
}

/// Job logs copied from runners, so they outlive runners and instances.
/// Each submission of a job (each run of it on a runner) has a log of its
/// own, so a job that runs again never continues, or shows, an old one.
pub trait LogStore: Send + Sync {
    /// Records a submission of `job` (once; recording it again changes
    /// nothing) and returns it. `instance` says which runner holds its log.
    fn record_submission(
        &self,
        job: &str,
        submission: &str,
        instance: Option<&str>,
    ) -> Result<LogSubmission, StateError>;

    /// Marks a submission's log as complete in state.
    fn seal_submission(&self, job: &str, submission: &str) -> Result<(), StateError>;

    /// The submissions of a job, first to latest.
    fn submissions(&self, job: &str) -> Result<Vec<LogSubmission>, StateError>;

    /// Appends log lines (ignores lines already stored at the same offset
    /// of the same submission; records submissions not seen before).
    fn append_logs(&self, lines: &[LogLine]) -> Result<(), StateError>;

    /// Lines of one submission of a job (the latest with `None`) after
    /// `after_offset`, in order.
    fn logs(
        &self,
        job: &str,
        submission: Option<&str>,
        after_offset: Option<u64>,
    ) -> Result<Vec<LogLine>, StateError>;
}

/// Runs of 2022-format workflows and their jobs.
pub trait WorkflowStore: Send + Sync {
    /// Records a workflow run (insert or replace).
    fn put_workflow_run(&self, run: &WorkflowRun) -> Result<(), StateError>;

    /// One workflow run.
    fn workflow_run(&self, name: &str) -> Result<Option<WorkflowRun>, StateError>;

    /// Every workflow run, newest first.
    fn workflow_runs(&self) -> Result<Vec<WorkflowRun>, StateError>;

    /// Records a workflow job (insert or replace, keyed by run and workflow).
    fn put_workflow_job(&self, job: &WorkflowJob) -> Result<(), StateError>;

    /// The jobs of a workflow run.
    fn workflow_jobs(&self, run: &str) -> Result<Vec<WorkflowJob>, StateError>;

    /// The newest finished-`done` job with these inputs, if any.
    fn done_workflow_job(&self, input_hash: &str) -> Result<Option<WorkflowJob>, StateError>;
}

/// Recorded state: every part. Implemented for every type that implements
/// them all; use the parts where a caller needs only one.
pub trait StateStore:
    ResourceStore + IntentJournal + ApplyHistory + StateLock + LogStore + WorkflowStore
{
}

impl<T> StateStore for T where
    T: ResourceStore + IntentJournal + ApplyHistory + StateLock + LogStore + WorkflowStore + ?Sized
{
}

/// Takes the lock, retrying with backoff (100 ms doubling to 2 s) until
/// `timeout`; then fails naming the holder.
pub fn acquire_lock(
    store: &dyn StateLock,
    request: &LockRequest,
    timeout: Duration,
) -> Result<LockInfo, StateError> {
    let start = Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        match store.try_lock(request) {
            Err(StateError::Locked(info)) => {
                let left = timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(StateError::Locked(info));
                }
                std::thread::sleep(wait.min(left));
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// True when a process with this pid is alive on this host: it exists and
/// is not a zombie (a dead process its parent has not reaped yet).
pub fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        !state.starts_with('Z') && !state.starts_with('X')
    })
}
