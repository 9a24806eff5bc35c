//! Runs as their jobs report them, for `dstack ps` (the command itself is
//! `ps`, above this module) and `logs`. Each first brings job statuses from the runners into state, so
//! what they show is the truth, and every log line shown is also stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dstack_engine::apply::JobRuntime;
use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::status::Status;
use dstack_state::{RecordedResource, StateStore};
use serde::Serialize;

use crate::context::{Project, ProjectOptions};
use crate::error::CliError;
use dstack_engine::runtime::sync::{self, JobRef};

/// One job as `ps` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// `run/NAME/job/N`.
    pub address: String,
    /// Status word.
    pub status: Status,
    /// What people see (`exited (0)`, `stopped`, ...).
    pub status_message: String,
    /// Exit code, once exited.
    pub exit_code: Option<i64>,
    /// Termination reason.
    pub reason: Option<String>,
    /// A sentence about how it ended.
    pub message: Option<String>,
    /// Where it runs.
    pub instance: Option<String>,
    /// Published ports.
    pub ports: serde_json::Value,
}

/// One run as `ps` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    /// Run name.
    pub name: String,
    /// `task`, `service`, `dev-environment` or `workflow`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Status as its jobs say.
    pub status: Status,
    /// What people see.
    pub status_message: String,
    /// Backend of its (first) instance.
    pub backend: String,
    /// Price per hour of its instances (when known).
    pub price_per_hour: Option<f64>,
    /// Submission time (ms since epoch).
    pub submitted_at: i64,
    /// Its jobs.
    pub jobs: Vec<JobView>,
}

impl RunView {
    fn finished(&self) -> bool {
        self.status.is_finished()
    }
}

/// dstack's status message of a job.
pub fn status_message(status: Status, exit_code: Option<i64>, reason: Option<&str>) -> String {
    match (status, exit_code, reason) {
        (Status::Done, _, _) => format!("exited ({})", exit_code.unwrap_or(0)),
        (Status::Failed, Some(code), _) => format!("exited ({code})"),
        (Status::Failed, None, Some("runner_restarted" | "runner_lost")) => "runner lost".into(),
        (Status::Failed, None, _) => "error".into(),
        (Status::Terminated, _, Some("max_duration_exceeded")) => "max duration".into(),
        (Status::Terminated, _, _) => "stopped".into(),
        (other, _, _) => other.to_string(),
    }
}

fn job_view(row: &RecordedResource) -> JobView {
    let data = row.job_data();
    let exit_code = data.exit_code.map(i64::from);
    let reason = data.reason;
    JobView {
        address: row.address.to_string(),
        status: row.status,
        status_message: status_message(row.status, exit_code, reason.as_deref()),
        exit_code,
        reason,
        ports: data.runtime.ports_or_empty(),
        message: data.runtime.message,
        instance: data.instance,
    }
}

/// Every recorded run with its jobs, newest first.
pub fn run_views(state: &dyn StateStore) -> Result<Vec<RunView>, CliError> {
    Ok(run_views_of(state, &state.list_kinds(&RUNS_AND_JOBS)?))
}

/// The kinds of rows [`run_views_of`] reads.
const RUNS_AND_JOBS: [ResourceKind; 2] = [ResourceKind::Run, ResourceKind::Job];

/// [`run_views`] of rows already listed (runs and their jobs).
fn run_views_of(state: &dyn StateStore, rows: &[RecordedResource]) -> Vec<RunView> {
    let mut jobs_by_run: HashMap<&str, Vec<&RecordedResource>> = HashMap::new();
    for row in rows {
        if let ResourceAddr::Job(run, _) = &row.address {
            jobs_by_run.entry(run.as_str()).or_default().push(row);
        }
    }
    let mut backends = HashMap::new();
    let mut views = Vec::new();
    for run in rows
        .iter()
        .filter(|r| r.address.kind() == ResourceKind::Run)
    {
        let name = run.address.name().to_string();
        let jobs = jobs_by_run.remove(name.as_str()).unwrap_or_default();
        views.push(run_view(state, run, name, &jobs, &mut backends));
    }
    views.sort_by_key(|v| std::cmp::Reverse(v.submitted_at));
    views
}

/// Backend and price of each instance looked up so far.
type Backends = HashMap<String, (String, Option<f64>)>;

fn run_view(
    state: &dyn StateStore,
    run: &RecordedResource,
    name: String,
    jobs: &[&RecordedResource],
    backends: &mut Backends,
) -> RunView {
    let job_views: Vec<JobView> = jobs.iter().map(|j| job_view(j)).collect();
    let kind = run
        .spec
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("run")
        .to_string();
    let status = dstack_state::status::run_status(run, jobs);
    let status_message = match job_views.as_slice() {
        // An apply could not submit its job (it said why); the next
        // apply tries again.
        [] if status == Status::Pending => "pending (no job submitted yet)".to_string(),
        [only] => only.status_message.clone(),
        _ => status.to_string(),
    };
    let instance = job_views.first().and_then(|j| j.instance.clone());
    let (backend, price) = match instance {
        Some(i) => backends
            .entry(i)
            .or_insert_with_key(|i| {
                i.parse::<ResourceAddr>()
                    .ok()
                    .map(|addr| instance_backend(state, &addr))
                    .unwrap_or(("-".into(), None))
            })
            .clone(),
        None => ("-".into(), None),
    };
    RunView {
        name,
        kind,
        status,
        status_message,
        backend,
        price_per_hour: price,
        submitted_at: jobs
            .iter()
            .map(|j| j.created_at)
            .min()
            .unwrap_or(run.created_at),
        jobs: job_views,
    }
}

fn instance_backend(state: &dyn StateStore, instance: &ResourceAddr) -> (String, Option<f64>) {
    if instance.name() == dstack_planner::desired::LOCAL_FLEET {
        return ("local".into(), Some(0.0));
    }
    match state.get(instance) {
        Ok(Some(row)) => (
            row.provider.unwrap_or_else(|| "-".into()),
            row.price_per_hour.map(|p| p.as_dollars_f64()),
        ),
        _ => ("-".into(), None),
    }
}

/// How long ago `ms` (ms since epoch) was, as `ps` and `state list` show it.
pub(crate) fn age(ms: i64) -> String {
    let secs = ((dstack_state::now_ms() - ms) / 1000).max(0);
    match secs {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86400),
    }
}

/// Aligned columns.
pub(super) fn table(rows: &[Vec<String>]) -> String {
    let mut widths = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(super) fn render_ps(views: &[RunView]) -> String {
    let mut rows = vec![vec![
        "NAME".to_string(),
        "TYPE".into(),
        "BACKEND".into(),
        "PRICE".into(),
        "STATUS".into(),
        "SUBMITTED".into(),
    ]];
    for v in views {
        rows.push(vec![
            v.name.clone(),
            v.kind.clone(),
            v.backend.clone(),
            v.price_per_hour.map_or("-".into(), |p| format!("${p:.4}")),
            v.status_message.clone(),
            age(v.submitted_at),
        ]);
        if v.jobs.len() > 1 {
            for j in &v.jobs {
                rows.push(vec![
                    format!("  {}", j.address),
                    String::new(),
                    String::new(),
                    String::new(),
                    j.status_message.clone(),
                    String::new(),
                ]);
            }
        }
    }
    table(&rows)
}

/// Opens the project with its runtime and an async runtime.
pub(super) fn open(
    options: &ProjectOptions,
) -> Result<(Project, Arc<dyn JobRuntime>, tokio::runtime::Runtime), CliError> {
    let project = Project::open(options)?;
    let runtime = project.runtime();
    Ok((project, runtime, tokio::runtime::Runtime::new()?))
}

pub(super) fn sync_quietly(
    project: &Project,
    runtime: &dyn JobRuntime,
    rt: &tokio::runtime::Runtime,
) {
    for warning in rt.block_on(sync::sync_unfinished(project.state.as_ref(), runtime)) {
        errln!("warning: {warning}");
    }
}

/// Options of `dstack ps`.
pub struct PsOptions {
    /// All runs.
    pub all: bool,
    /// The last N runs.
    pub last: Option<usize>,
    /// JSON.
    pub json: bool,
    /// Refresh every 2 s.
    pub watch: bool,
    /// A row per job with instance, resources, submissions, reasons.
    pub verbose: bool,
}

pub(super) fn selected(views: Vec<RunView>, options: &PsOptions) -> Vec<RunView> {
    if let Some(n) = options.last {
        return views.into_iter().take(n).collect();
    }
    if options.all {
        return views;
    }
    let active: Vec<RunView> = views.iter().filter(|v| !v.finished()).cloned().collect();
    if active.is_empty() {
        views.into_iter().take(1).collect()
    } else {
        active
    }
}

/// Brings unfinished jobs' statuses from their runners, then every run
/// with its jobs: read from the status listing (specs cut to their type),
/// listed once more only when a job was refreshed; the jobs refreshed are
/// read in full first (their rows are written back).
pub(super) fn synced_run_views(
    project: &Project,
    runtime: &dyn JobRuntime,
    rt: &tokio::runtime::Runtime,
) -> Result<Vec<RunView>, CliError> {
    let state = project.state.as_ref();
    let mut rows = state.list_run_statuses()?;
    let mut unfinished = Vec::new();
    for row in &rows {
        if row.address.kind() == ResourceKind::Job && !row.status.is_finished() {
            unfinished.extend(state.get(&row.address)?);
        }
    }
    let (warnings, refreshed) = rt.block_on(sync::sync_unfinished_of(state, runtime, &unfinished));
    for warning in warnings {
        errln!("warning: {warning}");
    }
    if refreshed > 0 {
        rows = state.list_run_statuses()?;
    }
    Ok(run_views_of(state, &rows))
}

pub(super) fn jobs_of(project: &Project, run: &str) -> Result<Vec<JobRef>, CliError> {
    let jobs = sync::job_refs(project.state.as_ref(), Some(run)).map_err(CliError::Usage)?;
    if jobs.is_empty() {
        let known = project.state.get(&ResourceAddr::Run(run.into()))?.is_some();
        return Err(CliError::Usage(if known {
            format!("run {run} has no jobs that ran through a runner")
        } else {
            format!("there is no run named {run}; `dstack ps -a` lists runs")
        }));
    }
    Ok(jobs)
}

/// Which job of a run: `--job N` alone is the job number; with
/// `--replica R` it is job N of replica R (dstack's numbering).
#[derive(Debug, Clone, Copy)]
pub struct JobPick {
    /// Job number (within the replica when `replica` is given).
    pub job: u32,
    /// Replica number.
    pub replica: Option<u32>,
}

/// The job `pick` names.
pub(super) fn pick(jobs: &[JobRef], pick: JobPick) -> Result<&JobRef, CliError> {
    let Some(replica) = pick.replica else {
        return pick_job(jobs, pick.job);
    };
    let number = |j: &JobRef, key: &str| j.row.spec.get(key).and_then(|v| v.as_u64());
    jobs.iter()
        .find(|j| {
            number(j, "replica") == Some(u64::from(replica))
                && number(j, "node_rank") == Some(u64::from(pick.job))
        })
        .ok_or_else(|| {
            let have: Vec<String> = jobs
                .iter()
                .map(|j| {
                    format!(
                        "{} (replica {}, job {})",
                        j.row.address,
                        number(j, "replica").unwrap_or(0),
                        number(j, "node_rank").unwrap_or(0)
                    )
                })
                .collect();
            CliError::Usage(format!(
                "the run has no job {} of replica {replica} (it has {})",
                pick.job,
                have.join(", ")
            ))
        })
}

pub(super) fn pick_job(jobs: &[JobRef], index: u32) -> Result<&JobRef, CliError> {
    jobs.iter()
        .find(|j| matches!(j.row.address, ResourceAddr::Job(_, n) if n == index))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "the run has no job {index} (it has {})",
                jobs.iter()
                    .map(|j| j.row.address.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// Refreshes a run's jobs until all are finished or `limit` passes.
pub(super) async fn wait_all_finished(
    project: &Project,
    runtime: &dyn JobRuntime,
    run: &str,
    limit: Duration,
) -> Result<bool, CliError> {
    let deadline = Instant::now() + limit;
    loop {
        let mut all = true;
        for job in jobs_of(project, run)? {
            if job.finished() {
                continue;
            }
            match sync::refresh_job(project.state.as_ref(), runtime, &job).await {
                Ok(row) if row.status.is_finished() => {}
                _ => all = false,
            }
        }
        if all {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
