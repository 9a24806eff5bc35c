//! Bringing what runners know into state: job statuses (so `ps`, `plan`
//! and `apply` see jobs that ended, and the reasons), and job logs (copied
//! into the state's log table so they outlive runners and instances).
//! Writes are optimistic (by row version); a row changed meanwhile is left
//! for the next sync.

use dstack_schemas::status::{JobStatus, Status};
use std::time::Duration;

use crate::apply::{InstanceTarget, JobRuntime, RuntimeError, RuntimeErrorKind, RuntimeLogPage};
use dstack_schemas::addr::ResourceKind;
use dstack_schemas::recorded::JobRuntimeData;
use dstack_state::{Expected, LogLine, LogSubmission, RecordedResource, StateError, StateStore};

use super::RUNTIME_NAME;

/// A job row's runner facts.
#[derive(Debug, Clone)]
pub struct JobRef {
    /// The row.
    pub row: RecordedResource,
    /// Runner job id: the job's current submission.
    pub job_id: String,
    /// Where it runs.
    pub instance: InstanceTarget,
}

impl JobRef {
    /// Key of the job's log lines in state.
    pub fn log_key(&self) -> String {
        self.row.address.to_string()
    }

    /// Where the log of the job's current submission is.
    pub fn log_source(&self) -> LogSource {
        LogSource {
            job: self.log_key(),
            submission: self.job_id.clone(),
            instance: self.instance.clone(),
        }
    }

    /// Whether the recorded status is final.
    pub fn finished(&self) -> bool {
        self.row.status.is_finished()
    }
}

/// The log of one submission of a job: in state under `job` and
/// `submission`, and on the runner of `instance` as job `submission`.
#[derive(Debug, Clone)]
pub struct LogSource {
    /// Key of the job's log lines in state.
    pub job: String,
    /// The runner's job id.
    pub submission: String,
    /// Whose runner holds the log.
    pub instance: InstanceTarget,
}

pub use crate::apply::instance_target;

/// The runner facts of a job row, when it ran through runners.
pub fn job_ref(state: &dyn StateStore, row: &RecordedResource) -> Option<JobRef> {
    if row.address.kind() != ResourceKind::Job || row.provider.as_deref() != Some(RUNTIME_NAME) {
        return None;
    }
    let job_id = row.provider_id.clone()?;
    let instance = crate::apply::job_instance(row)?;
    let instance = instance_target(state, &instance).ok()?;
    Some(JobRef {
        row: row.clone(),
        job_id,
        instance,
    })
}

/// The job's row as stored now (after other writers).
pub fn reload(state: &dyn StateStore, job: &JobRef) -> JobRef {
    state
        .get(&job.row.address)
        .ok()
        .flatten()
        .and_then(|row| job_ref(state, &row))
        .unwrap_or_else(|| job.clone())
}

/// Every job of a run (or every job when `run` is `None`) that ran
/// through runners, in address order.
pub fn job_refs(state: &dyn StateStore, run: Option<&str>) -> Result<Vec<JobRef>, String> {
    let rows = match run {
        Some(name) => state.list_jobs_of(name),
        None => state.list_kinds(&[ResourceKind::Job]),
    }
    .map_err(|e| e.to_string())?;
    Ok(rows.iter().filter_map(|r| job_ref(state, r)).collect())
}

/// Asks the runner about one job and records what changed. Finished jobs
/// also get their remaining log copied. Returns the row as it is now.
pub async fn refresh_job(
    state: &dyn StateStore,
    runtime: &dyn JobRuntime,
    job: &JobRef,
) -> Result<RecordedResource, RuntimeError> {
    let now = match runtime.status(&job.job_id, &job.instance).await {
        Ok(s) => s,
        Err(e) if e.kind == RuntimeErrorKind::NotFound => crate::apply::JobState {
            id: job.job_id.clone(),
            status: JobStatus::Failed,
            exit_code: None,
            reason: Some("runner_lost".into()),
            data: JobRuntimeData {
                message: Some(format!(
                    "the runner of {} no longer knows this job ({})",
                    job.instance.address, e.message
                )),
                ..JobRuntimeData::default()
            },
        },
        Err(e) => return Err(e),
    };
    // Recorded on first sight, so a job's submissions are numbered in the
    // order they ran even when nobody looked at their logs (best effort: a
    // read-only state records nothing).
    let _ = record_submission(state, &job.log_source());
    let finished = now.status.is_finished();
    // A finished job's log is sealed: copy the rest of it before recording
    // the end, so a finished row means a complete log in state.
    let logs_sealed = finished
        && copy_logs(
            state,
            runtime,
            &job.log_source(),
            Duration::ZERO,
            &mut |_| {},
        )
        .await
        .unwrap_or(false);
    let mut row = job.row.clone();
    let mut data = row.job_data();
    let changed = row.status != Status::from(now.status)
        || data.exit_code != now.exit_code
        || data.reason != now.reason
        || data.logs_sealed != Some(logs_sealed)
        || data.runtime != now.data;
    if !changed {
        return Ok(row);
    }
    row.status = now.status.into();
    data.exit_code = now.exit_code;
    data.reason = now.reason;
    data.logs_sealed = Some(logs_sealed);
    data.runtime = now.data;
    row.set_data(&data);
    match state.put(&row, Expected::Version(job.row.version)) {
        Ok(stored) => Ok(stored),
        // Someone else wrote the row meanwhile; they know better.
        Err(_) => Ok(job.row.clone()),
    }
}

/// Refreshes every unfinished runner job; returns warnings for the ones
/// whose runner could not be asked.
pub async fn sync_unfinished(state: &dyn StateStore, runtime: &dyn JobRuntime) -> Vec<String> {
    if runtime.name() != RUNTIME_NAME {
        return Vec::new();
    }
    match state.list_kinds(&[ResourceKind::Job]) {
        Ok(rows) => sync_unfinished_of(state, runtime, &rows).await.0,
        Err(_) => Vec::new(),
    }
}

/// Refreshes the unfinished runner jobs among `rows` (rows of any kind, as
/// a caller already listed them: finished rows are skipped before their
/// instance is looked up). Returns the warnings for jobs whose runner
/// could not be asked, and how many jobs were refreshed (when none, `rows`
/// are still what state holds).
pub async fn sync_unfinished_of(
    state: &dyn StateStore,
    runtime: &dyn JobRuntime,
    rows: &[RecordedResource],
) -> (Vec<String>, usize) {
    if runtime.name() != RUNTIME_NAME {
        return (Vec::new(), 0);
    }
    let jobs: Vec<JobRef> = rows
        .iter()
        .filter(|r| !r.status.is_finished())
        .filter_map(|r| job_ref(state, r))
        .collect();
    let mut warnings = Vec::new();
    for job in &jobs {
        if let Err(e) = refresh_job(state, runtime, job).await {
            warnings.push(format!(
                "{}: status unknown ({})",
                job.row.address, e.message
            ));
        }
    }
    (warnings, jobs.len())
}

fn stream_name(runner: &str) -> &'static str {
    match runner {
        "out" => "stdout",
        "err" => "stderr",
        _ => "runner",
    }
}

/// Records the submission a log belongs to, with the instance holding it.
pub fn record_submission(
    state: &dyn StateStore,
    source: &LogSource,
) -> Result<LogSubmission, StateError> {
    state.record_submission(
        &source.job,
        &source.submission,
        Some(&source.instance.address.to_string()),
    )
}

/// The last log line stored of a submission.
pub fn last_stored(state: &dyn StateStore, source: &LogSource) -> Option<LogLine> {
    state
        .logs(&source.job, Some(&source.submission), None)
        .ok()
        .and_then(|lines| lines.into_iter().last())
}

/// Lines held back before they are written to state while following a
/// live log (the runner keeps them too, so nothing is lost if we stop).
const STATE_BATCH_LINES: usize = 20_000;
/// Longest a followed line waits to be written to state.
const STATE_BATCH_AGE: Duration = Duration::from_millis(500);

/// Log lines on their way into state, written in batches. A state that
/// cannot be written (read-only) keeps none of them, and that is no error:
/// the lines are still shown, and the runner keeps them.
struct Batch<'s> {
    state: &'s dyn StateStore,
    pending: Vec<LogLine>,
    since_flush: std::time::Instant,
    writable: bool,
}

impl<'s> Batch<'s> {
    fn new(state: &'s dyn StateStore, writable: bool) -> Self {
        Self {
            state,
            pending: Vec::new(),
            since_flush: std::time::Instant::now(),
            writable,
        }
    }

    fn due(&self) -> bool {
        self.pending.len() >= STATE_BATCH_LINES || self.since_flush.elapsed() >= STATE_BATCH_AGE
    }

    fn flush(&mut self) -> Result<(), RuntimeError> {
        self.since_flush = std::time::Instant::now();
        if self.pending.is_empty() || !self.writable {
            self.pending.clear();
            return Ok(());
        }
        match self.state.append_logs(&self.pending) {
            Ok(()) => {}
            Err(StateError::ReadOnly { .. }) => self.writable = false,
            Err(e) => {
                return Err(RuntimeError::new(
                    RuntimeErrorKind::State,
                    format!("cannot store log lines: {e}"),
                ));
            }
        }
        self.pending.clear();
        Ok(())
    }
}

/// Copies a submission's log from its runner into state, from after the
/// last stored line, handing each new page of lines to `on_lines` as it
/// arrives. With `wait` > 0 it follows the log until it is sealed.
/// Returns whether it is sealed.
pub async fn copy_logs(
    state: &dyn StateStore,
    runtime: &dyn JobRuntime,
    source: &LogSource,
    wait: Duration,
    on_lines: &mut dyn FnMut(&[LogLine]),
) -> Result<bool, RuntimeError> {
    let mut batch = Batch::new(state, record_submission(state, source).is_ok());
    let last = last_stored(state, source);
    let mut offset = last.as_ref().map_or(0, |l| l.offset);
    let mut seen = last.map(|l| l.offset);
    loop {
        let page: RuntimeLogPage = match runtime
            .logs(&source.submission, &source.instance, offset, wait)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                batch.flush()?;
                return Err(e);
            }
        };
        let fresh = fresh_lines(source, &page, seen);
        if !fresh.is_empty() {
            on_lines(&fresh);
            seen = fresh.last().map(|l| l.offset);
            batch.pending.extend(fresh);
        }
        let progressed = page.next > offset;
        offset = page.next;
        let done = page.sealed || (wait.is_zero() && !progressed);
        if done || batch.due() {
            batch.flush()?;
        }
        if done {
            if page.sealed && batch.writable {
                let _ = state.seal_submission(&source.job, &source.submission);
            }
            return Ok(page.sealed);
        }
    }
}

/// The lines of a page after the last one seen, as state stores them.
fn fresh_lines(source: &LogSource, page: &RuntimeLogPage, seen: Option<u64>) -> Vec<LogLine> {
    page.lines
        .iter()
        .filter(|l| seen.is_none_or(|s| l.offset > s))
        .map(|l| LogLine {
            job: source.job.clone(),
            submission: source.submission.clone(),
            offset: l.offset,
            timestamp: l.timestamp,
            stream: stream_name(&l.stream).to_string(),
            text: l.text.clone(),
        })
        .collect()
}
