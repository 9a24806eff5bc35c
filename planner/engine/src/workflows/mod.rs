//! 2022-format workflows (`dstack run WORKFLOW`): the run's job graph
//! ([`dag`]), each workflow as a runner job and its input hash ([`spec`]),
//! and the run here, on the one DAG walker ([`crate::walk`]): jobs whose
//! deps are done start at once (in parallel, at most `--parallelism` at a
//! time), each gets its deps' artifacts unpacked into its working
//! directory, a job whose inputs hash to an earlier `done` job is reused
//! instead of run, and a failed job skips its dependents.
//!
//! Artifacts live in `<project>/.dstack/artifacts/<run>/<workflow>/`.

pub mod dag;
pub mod spec;

use dstack_schemas::status::Status;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dstack_runner::RunnerClient;
use dstack_runner::api::{ArchiveMount, JobInfo, LogStream};
use dstack_schemas::config::Workflow;
use dstack_state::{LogLine, StateStore, WorkflowJob, WorkflowRun, now_ms};

use crate::Output;
use crate::runtime::code::PackedRepo;
use crate::runtime::submission::{LocalMode, pick_executor};
use crate::walk::{Outcome, Steps, walk};
use dag::Dag;

/// Where a project keeps workflow artifacts.
pub fn artifact_root(dot_dstack: &Path) -> PathBuf {
    dot_dstack.join("artifacts")
}

/// The artifact folder of one job (of the run that really ran it).
pub fn artifact_dir(root: &Path, job: &WorkflowJob) -> PathBuf {
    root.join(job.reused_from.as_deref().unwrap_or(&job.run))
        .join(&job.workflow)
}

/// Key of a workflow job's log lines in state.
pub fn log_key(run: &str, workflow: &str) -> String {
    format!("workflow/{run}/{workflow}")
}

/// Everything a run needs.
pub struct RunRequest {
    /// Run name.
    pub run: String,
    /// The graph.
    pub dag: Dag,
    /// The workflows, by name (variables filled in).
    pub workflows: BTreeMap<String, Workflow>,
    /// Variables each workflow got.
    pub variables: BTreeMap<String, BTreeMap<String, String>>,
    /// How local jobs run.
    pub mode: LocalMode,
    /// The packed repo.
    pub repo: PackedRepo,
    /// When Docker pulls images.
    pub pull_policy: dstack_runner::api::PullPolicy,
    /// Most jobs running at once (at least 1).
    pub parallelism: usize,
}

/// The scheduler's view of the world.
pub struct Engine<'a> {
    /// Recorded state.
    pub state: &'a dyn StateStore,
    /// The local runner.
    pub client: RunnerClient,
    /// `.dstack/artifacts`.
    pub artifacts: PathBuf,
    /// Where progress lines and job output go.
    pub output: &'a dyn Output,
    /// Runner jobs in flight, by workflow (for stopping on Ctrl+C).
    active: RefCell<BTreeMap<String, String>>,
}

impl<'a> Engine<'a> {
    /// An engine over a state store and the local runner.
    pub fn new(
        state: &'a dyn StateStore,
        client: RunnerClient,
        artifacts: PathBuf,
        output: &'a dyn Output,
    ) -> Self {
        Self {
            state,
            client,
            artifacts,
            output,
            active: RefCell::new(BTreeMap::new()),
        }
    }
}

fn new_job(run: &str, workflow: &str, input_hash: &str, status: Status) -> WorkflowJob {
    WorkflowJob {
        run: run.into(),
        workflow: workflow.into(),
        input_hash: input_hash.into(),
        status,
        exit_code: None,
        reason: None,
        runner_job: None,
        instance: Some("fleet/local/instance/0".into()),
        artifacts: serde_json::json!([]),
        artifacts_sha: None,
        reused_from: None,
        submitted_at: now_ms(),
        finished_at: None,
    }
}

fn record(engine: &Engine<'_>, job: &WorkflowJob) {
    if let Err(e) = engine.state.put_workflow_job(job) {
        engine.output.err(&format!(
            "warning: cannot record {}/{}: {e}\n",
            job.run, job.workflow
        ));
    }
}

/// Runs the whole graph on the one DAG walker ([`crate::walk`]); returns
/// each workflow's job as it ended. When `interrupt` completes (Ctrl+C in
/// the CLI), the running jobs are stopped and the rest skipped.
pub async fn execute(
    engine: &Engine<'_>,
    request: &RunRequest,
    interrupt: impl std::future::Future<Output = ()>,
) -> BTreeMap<String, WorkflowJob> {
    let order = &request.dag.order;
    let index: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let deps: Vec<Vec<usize>> = order
        .iter()
        .map(|n| {
            request.dag.deps[n]
                .iter()
                .map(|d| index[d.as_str()])
                .collect()
        })
        .collect();
    let steps = WorkflowSteps {
        engine,
        request,
        finished: RefCell::new(BTreeMap::new()),
    };
    let outcomes = walk(&steps, &deps, request.parallelism, interrupt).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        if *outcome == Outcome::NotStarted {
            steps.skip(&order[i], "the run was stopped".into());
        }
    }
    steps.finished.into_inner()
}

/// The workflows of one run as the walker's steps.
struct WorkflowSteps<'e, 'r> {
    engine: &'e Engine<'e>,
    request: &'r RunRequest,
    /// Every job that ended, by workflow (deps read their inputs here).
    finished: RefCell<BTreeMap<String, WorkflowJob>>,
}

impl WorkflowSteps<'_, '_> {
    /// Records and announces a workflow that does not run.
    fn skip(&self, name: &str, reason: String) {
        let mut job = new_job(&self.request.run, name, "", Status::Skipped);
        job.reason = Some(reason);
        job.finished_at = Some(now_ms());
        self.engine.output.out(&format!(
            "[{name}] skipped: {}\n",
            job.reason.as_deref().unwrap_or("")
        ));
        record(self.engine, &job);
        self.finished.borrow_mut().insert(name.to_string(), job);
    }
}

impl Steps for WorkflowSteps<'_, '_> {
    type Output = ();

    async fn run(&self, node: usize) -> ((), bool) {
        let name = &self.request.dag.order[node];
        let inputs: Vec<WorkflowJob> = {
            let finished = self.finished.borrow();
            self.request.dag.deps[name]
                .iter()
                .map(|d| finished[d].clone())
                .collect()
        };
        let job = run_one(self.engine, self.request, name.clone(), inputs).await;
        let ok = job.status == Status::Done;
        self.finished.borrow_mut().insert(name.clone(), job);
        ((), ok)
    }

    fn skipped(&self, node: usize, via: usize, _failed: usize) {
        let order = &self.request.dag.order;
        self.skip(
            &order[node],
            format!("dependency `{}` did not finish", order[via]),
        );
    }

    async fn cancelled(&self) {
        self.engine
            .output
            .err("\nInterrupt: stopping the running jobs (their logs and artifacts are kept)...\n");
        let active: Vec<String> = self.engine.active.borrow().values().cloned().collect();
        for id in active {
            let _ = self.engine.client.stop(&id, false).await;
        }
    }
}

/// The artifacts of a finished job, packed deterministically, if it has any.
fn packed_artifacts(root: &Path, job: &WorkflowJob) -> Option<Vec<u8>> {
    let dir = artifact_dir(root, job);
    if !dir.is_dir() {
        return None;
    }
    let files = dstack_runner::archive::list_files(&dir, &[]).ok()?;
    dstack_runner::archive::pack(&dir, &files, u64::MAX).ok()
}

async fn run_one(
    engine: &Engine<'_>,
    request: &RunRequest,
    name: String,
    deps: Vec<WorkflowJob>,
) -> WorkflowJob {
    let workflow = &request.workflows[&name];
    let empty = BTreeMap::new();
    let variables = request.variables.get(&name).unwrap_or(&empty);
    let executor = pick_executor(request.mode, true, workflow.image.as_deref(), &name)
        .map(|(e, _)| e.as_str())
        .unwrap_or("?");
    let dep_hashes: Vec<(String, String)> = deps
        .iter()
        .map(|d| {
            (
                d.workflow.clone(),
                d.artifacts_sha.clone().unwrap_or_default(),
            )
        })
        .collect();
    let hash = spec::input_hash(
        workflow,
        variables,
        &request.repo.sha256,
        &dep_hashes,
        executor,
    );
    if let Some(reused) = reuse(engine, &request.run, &name, &hash) {
        return reused;
    }
    let mut job = new_job(&request.run, &name, &hash, Status::Submitted);
    record(engine, &job);
    match submit_and_follow(engine, request, workflow, &deps, &mut job).await {
        Ok(info) => {
            job.status = info.status.into();
            job.exit_code = info.exit_code;
            job.reason = info.reason.clone();
            job.finished_at = info.finished_at.or(Some(now_ms()));
            if !workflow.artifacts.as_deref().unwrap_or_default().is_empty() {
                save_artifacts(engine, &mut job, &info).await;
            }
            let how = info.message.unwrap_or_else(|| info.status.as_str().into());
            engine
                .output
                .out(&format!("[{name}] {}: {how}\n", job.status));
        }
        Err(e) => {
            job.status = Status::Failed;
            job.reason = Some(e.clone());
            job.finished_at = Some(now_ms());
            engine.output.out(&format!("[{name}] failed: {e}\n"));
        }
    }
    engine.active.borrow_mut().remove(&name);
    record(engine, &job);
    job
}

/// An earlier `done` job with the same inputs (and its artifacts still
/// here) stands in for this one.
fn reuse(engine: &Engine<'_>, run: &str, name: &str, hash: &str) -> Option<WorkflowJob> {
    let earlier = engine.state.done_workflow_job(hash).ok()??;
    let origin = earlier.reused_from.clone().unwrap_or(earlier.run.clone());
    let has_artifacts = earlier.artifacts.as_array().is_some_and(|a| !a.is_empty());
    if has_artifacts && !artifact_dir(&engine.artifacts, &earlier).is_dir() {
        return None;
    }
    let mut job = earlier.clone();
    job.run = run.into();
    job.reused_from = Some(origin.clone());
    job.submitted_at = now_ms();
    job.finished_at = Some(now_ms());
    engine.output.out(&format!(
        "[{name}] reused the result of run {origin} (inputs unchanged, {})\n",
        &hash[..12]
    ));
    record(engine, &job);
    Some(job)
}

async fn submit_and_follow(
    engine: &Engine<'_>,
    request: &RunRequest,
    workflow: &Workflow,
    deps: &[WorkflowJob],
    job: &mut WorkflowJob,
) -> Result<JobInfo, String> {
    let client = &engine.client;
    let code = client
        .upload_archive(request.repo.bytes.clone())
        .await
        .map_err(|e| e.to_string())?;
    let mut inputs = Vec::new();
    for dep in deps {
        if let Some(bytes) = packed_artifacts(&engine.artifacts, dep) {
            let sha = client
                .upload_archive(bytes)
                .await
                .map_err(|e| e.to_string())?;
            inputs.push(ArchiveMount {
                archive: sha,
                path: ".".into(),
                label: format!("artifacts of {}", dep.workflow),
            });
        }
    }
    let env_lookup = |name: &str| std::env::var(name).ok();
    let submission = spec::submission(
        workflow,
        &spec::JobContext {
            run: &request.run,
            token: format!("workflow/{}/{}", request.run, workflow.name),
            mode: request.mode,
            code: Some(code),
            inputs,
            env: &env_lookup,
            host_has_bash: Path::new("/bin/bash").exists(),
            pull_policy: request.pull_policy,
        },
    )
    .map_err(|e| e.message)?;
    let info = client
        .submit(&submission)
        .await
        .map_err(|e| e.to_string())?;
    job.runner_job = Some(info.id.clone());
    job.status = Status::Running;
    record(engine, job);
    engine
        .active
        .borrow_mut()
        .insert(workflow.name.clone(), info.id.clone());
    follow_log(engine, &request.run, &workflow.name, &info.id, true).await?;
    client.job(&info.id).await.map_err(|e| e.to_string())
}

/// Copies a runner job's log into state (printing it with the workflow's
/// name when `print`) until it is sealed.
pub async fn follow_log(
    engine: &Engine<'_>,
    run: &str,
    workflow: &str,
    job_id: &str,
    print: bool,
) -> Result<(), String> {
    let key = log_key(run, workflow);
    let last = engine
        .state
        .logs(&key, Some(job_id), None)
        .ok()
        .and_then(|l| l.last().cloned());
    let mut offset = last.as_ref().map_or(0, |l| l.offset);
    let seen = last.map(|l| l.offset);
    loop {
        let page = engine
            .client
            .logs(job_id, offset, Duration::from_secs(5))
            .await
            .map_err(|e| e.to_string())?;
        let lines: Vec<LogLine> = page
            .entries
            .iter()
            .filter(|e| seen.is_none_or(|s| e.offset > s))
            .map(|e| LogLine {
                job: key.clone(),
                submission: job_id.to_string(),
                offset: e.offset,
                timestamp: e.record.t,
                stream: match e.record.s {
                    LogStream::Stdout => "stdout",
                    LogStream::Stderr => "stderr",
                    LogStream::Runner => "runner",
                }
                .into(),
                text: e.record.m.clone(),
            })
            .collect();
        if !lines.is_empty() {
            let _ = engine.state.append_logs(&lines);
            if print {
                print_prefixed(engine.output, workflow, &lines);
            }
        }
        offset = page.next;
        if page.sealed {
            return Ok(());
        }
    }
}

/// A workflow's log lines with its name in front (one write per stream).
pub fn print_prefixed(output: &dyn Output, workflow: &str, lines: &[LogLine]) {
    let mut out = String::new();
    let mut err = String::new();
    for line in lines {
        let target = match line.stream.as_str() {
            "stdout" => &mut out,
            "stderr" => &mut err,
            _ => continue,
        };
        target.push_str(&format!("[{workflow}] {}\n", line.text));
    }
    if !out.is_empty() {
        output.out(&out);
    }
    if !err.is_empty() {
        output.err(&err);
    }
}

async fn save_artifacts(engine: &Engine<'_>, job: &mut WorkflowJob, info: &JobInfo) {
    let dir = artifact_dir(&engine.artifacts, job);
    let fetched = engine.client.artifacts(&info.id).await;
    let saved = fetched.map_err(|e| e.to_string()).and_then(|tar| {
        let _ = std::fs::remove_dir_all(&dir);
        dstack_runner::archive::unpack(&tar, &dir, u64::MAX).map_err(|e| e.to_string())
    });
    match saved {
        Ok(_) => {
            job.artifacts = serde_json::to_value(&info.artifacts).unwrap_or_default();
            job.artifacts_sha = packed_artifacts(&engine.artifacts, job)
                .map(|b| dstack_runner::archive::sha256_hex(&b));
        }
        Err(e) => {
            engine
                .output
                .out(&format!("[{}] artifacts not saved: {e}\n", job.workflow));
            if job.status == Status::Done {
                job.status = Status::Failed;
                job.reason = Some(format!("artifacts not saved: {e}"));
            }
        }
    }
}

/// The next free run name for a workflow: `<workflow>-<n>`.
pub fn next_run_name(
    state: &dyn StateStore,
    workflow: &str,
) -> Result<String, dstack_state::StateError> {
    let prefix = format!("{workflow}-");
    let highest = state
        .workflow_runs()?
        .iter()
        .filter_map(|r| r.name.strip_prefix(&prefix)?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    Ok(format!("{workflow}-{}", highest + 1))
}

/// The run's status from its jobs.
pub fn run_status(jobs: &BTreeMap<String, WorkflowJob>) -> Status {
    if jobs.values().all(|j| j.status == Status::Done) {
        Status::Done
    } else if jobs.values().any(|j| {
        j.status == Status::Terminated || j.reason.as_deref() == Some("the run was stopped")
    }) {
        Status::Terminated
    } else {
        Status::Failed
    }
}

/// Records the run's start.
pub fn start_run(
    state: &dyn StateStore,
    request: &RunRequest,
    target: &str,
) -> Result<WorkflowRun, dstack_state::StateError> {
    let run = WorkflowRun {
        name: request.run.clone(),
        workflow: target.into(),
        status: Status::Running,
        variables: serde_json::to_value(&request.variables).unwrap_or_default(),
        repo: serde_json::json!({
            "info": request.repo.info,
            "sha256": request.repo.sha256,
            "files": request.repo.files,
        }),
        created_at: now_ms(),
        finished_at: None,
    };
    state.put_workflow_run(&run)?;
    Ok(run)
}
