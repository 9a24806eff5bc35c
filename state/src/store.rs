//! `StateStore`: what every state backend provides, and the errors it
//! reports. Locking with a timeout is built on `try_lock` here, once.

use std::time::{Duration, Instant};

use dstack_schemas::addr::ResourceAddr;

use crate::model::{
    ApplyRecord, Expected, Intent, IntentOutcome, LockInfo, LockRequest, LogLine, NewIntent,
    RecordedResource, WorkflowJob, WorkflowRun,
};

/// Everything that can go wrong with recorded state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another operation holds the lock.
    #[error("state is locked by {} ({}, lock id {}) since {}", .0.request.holder, .0.request.operation, .0.id, format_ms(.0.created_at))]
    Locked(LockInfo),
    /// A write expected another version (someone changed the row meanwhile).
    #[error("state row {address} changed meanwhile (expected {expected}, found {found})")]
    Conflict {
        /// The row.
        address: ResourceAddr,
        /// What the writer expected.
        expected: String,
        /// What is there.
        found: String,
    },
    /// No lock with this id.
    #[error("no lock with id `{0}` is held")]
    NoSuchLock(String),
    /// The database was written by a newer dstack.
    #[error(
        "state at {path} has schema version {found}, newer than this dstack understands ({known}); upgrade dstack"
    )]
    TooNew {
        /// Database path.
        path: String,
        /// Version found.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// The file is not a state database, or is damaged.
    #[error("state at {path} is unreadable: {reason}")]
    Corrupt {
        /// Database path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A stored value did not decode.
    #[error("state row {address} is damaged: {reason}")]
    BadRow {
        /// The row.
        address: String,
        /// What was wrong.
        reason: String,
    },
    /// The database failed.
    #[error("state database error")]
    Sqlite(#[from] rusqlite::Error),
    /// A file operation failed.
    #[error("state file error")]
    Io(#[from] std::io::Error),
}

fn format_ms(ms: i64) -> String {
    let secs = (crate::model::now_ms() - ms).max(0) / 1000;
    match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 7200 => format!("{}m ago", s / 60),
        s => format!("{}h ago", s / 3600),
    }
}

/// Recorded state. Every method is a short transaction; implementations
/// are safe to share between threads.
pub trait StateStore: Send + Sync {
    /// A UUID fixed when the state was created.
    fn lineage(&self) -> Result<String, StateError>;

    /// Every recorded resource, ordered by address.
    fn list(&self) -> Result<Vec<RecordedResource>, StateError>;

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

    /// Journals a provider call about to happen; returns its id.
    fn begin_intent(&self, intent: &NewIntent) -> Result<i64, StateError>;

    /// Records how a journaled call ended.
    fn finish_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
        detail: Option<&str>,
    ) -> Result<(), StateError>;

    /// Intents never finished (their process died mid-call).
    fn open_intents(&self) -> Result<Vec<Intent>, StateError>;

    /// All intents of one apply, in order.
    fn intents_of(&self, apply_id: &str) -> Result<Vec<Intent>, StateError>;

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

    /// Takes the lock now or fails with [`StateError::Locked`]. A lock whose
    /// holder process is gone (same host) is broken and replaced.
    fn try_lock(&self, request: &LockRequest) -> Result<LockInfo, StateError>;

    /// Releases a lock by id.
    fn unlock(&self, id: &str) -> Result<(), StateError>;

    /// The lock, if held.
    fn current_lock(&self) -> Result<Option<LockInfo>, StateError>;

    /// Appends job log lines (ignores lines already stored at the same offset).
    fn append_logs(&self, lines: &[LogLine]) -> Result<(), StateError>;

    /// Log lines of a job after `after_offset`, in order.
    fn logs(
        &self,
        job: &str,
        submission: Option<u32>,
        after_offset: Option<u64>,
    ) -> Result<Vec<LogLine>, StateError>;

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

/// Takes the lock, retrying with backoff (100 ms doubling to 2 s) until
/// `timeout`; then fails naming the holder.
pub fn acquire_lock(
    store: &dyn StateStore,
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
