//! `dstack run WORKFLOW`, `dstack artifacts`, and the workflow side of
//! `ps`, `logs` and `stop`.

use dstack_schemas::status::Status;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dstack_engine::apply::JobRuntime;
use dstack_schemas::config::{ConfigDocument, Workflow, load_config, load_config_with};
use dstack_schemas::yaml::Limits;
use dstack_state::{StateStore, WorkflowJob, now_ms};

use super::jobs::{JobView, RunView, status_message};
use crate::context::{Project, ProjectOptions};
use crate::error::CliError;
use crate::output::Terminal;
use crate::render::{color_enabled, diagnostic_text};
use dstack_engine::runtime::code::pack_repo;
use dstack_engine::runtime::local::LocalRunner;
use dstack_engine::runtime::submission::LocalMode;
use dstack_engine::workflows::dag::Dag;
use dstack_engine::workflows::{self, Engine, RunRequest, artifact_dir, artifact_root, dag};

fn read_document(
    path: &Path,
    variables: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Option<ConfigDocument>, CliError> {
    let Some(bytes) = dstack_engine::files::read_optional(path).map_err(CliError::file)? else {
        return Ok(None);
    };
    let name = path.display().to_string();
    let loaded = if variables.is_empty() {
        load_config(&name, &bytes)
    } else {
        load_config_with(&name, &bytes, &Limits::default(), variables)
    };
    let color = color_enabled();
    for d in &loaded.diagnostics {
        errln!("{}", diagnostic_text(&loaded.file, d, color));
    }
    if loaded.has_errors() {
        return Err(CliError::InvalidConfig);
    }
    Ok(loaded.document)
}

/// Default variables of `.dstack/variables.yaml` overlaid with `--var`s.
fn variables(
    project: &Project,
    overrides: &[(String, String)],
    workflows: &[String],
) -> Result<BTreeMap<String, BTreeMap<String, String>>, CliError> {
    let path = project.dot_dstack().join("variables.yaml");
    let mut vars = match read_document(&path, &BTreeMap::new())? {
        Some(ConfigDocument::Variables(v)) => v.variables,
        Some(_) => {
            return Err(CliError::Usage(format!(
                "{} does not hold `variables:`",
                path.display()
            )));
        }
        None => BTreeMap::new(),
    };
    for (key, value) in overrides {
        let mut used = false;
        for w in workflows {
            let entry = vars.entry(w.clone()).or_default();
            if entry.contains_key(key) {
                entry.insert(key.clone(), value.clone());
                used = true;
            }
        }
        if !used {
            // Not declared: it still fills `${{ key }}` in the run's workflows.
            for w in workflows {
                vars.entry(w.clone())
                    .or_default()
                    .insert(key.clone(), value.clone());
            }
        }
    }
    Ok(vars)
}

type LoadedWorkflows = (
    dstack_schemas::config::WorkflowsFile,
    dstack_schemas::config::spans::SpanIndex,
    dstack_schemas::diag::SourceFile,
);

/// Reads `.dstack/workflows.yaml` with variables filled in; diagnostics
/// are printed when `print`.
fn workflows_file(
    project: &Project,
    vars: &BTreeMap<String, BTreeMap<String, String>>,
    print: bool,
) -> Result<LoadedWorkflows, CliError> {
    let path = project.dot_dstack().join("workflows.yaml");
    let bytes = dstack_engine::files::read_regular(&path).map_err(|e| match e {
        dstack_engine::files::FileError::Missing(_) => CliError::Usage(format!(
            "{} does not exist; `dstack run` runs the workflows defined there",
            path.display()
        )),
        e => CliError::file(e),
    })?;
    let name = path.display().to_string();
    let loaded = load_config_with(&name, &bytes, &Limits::default(), vars);
    if print {
        let color = color_enabled();
        for d in &loaded.diagnostics {
            errln!("{}", diagnostic_text(&loaded.file, d, color));
        }
    }
    match loaded.document {
        Some(ConfigDocument::Workflows(w)) if !loaded.has_errors() => {
            Ok((w, loaded.spans, loaded.file))
        }
        _ if loaded.has_errors() => Err(CliError::InvalidConfig),
        _ => Err(CliError::Usage(format!(
            "{} does not hold `workflows:`",
            path.display()
        ))),
    }
}

/// `dstack run WORKFLOW [--var NAME=VALUE]...`.
pub fn run(
    options: &ProjectOptions,
    target: &str,
    overrides: &[(String, String)],
    parallelism: usize,
) -> Result<i32, CliError> {
    let project = Project::open_to_change(options, None)?;
    let (graph, by_name, vars) = needed_workflows(&project, target, overrides)?;
    let rt = tokio::runtime::Runtime::new()?;
    let repo = pack_repo(&project.dir, &Terminal).map_err(CliError::Usage)?;
    let client = rt
        .block_on(LocalRunner::new(&project.dot_dstack()).ensure())
        .map_err(|e| CliError::Unexpected(anyhow::anyhow!(e)))?;
    let run_name = workflows::next_run_name(project.state.as_ref(), target)?;
    let request = RunRequest {
        run: run_name.clone(),
        variables: graph
            .order
            .iter()
            .map(|w| (w.clone(), vars.get(w).cloned().unwrap_or_default()))
            .collect(),
        dag: graph,
        workflows: by_name,
        mode: LocalMode::from_word(&project.backends.local.runtime),
        repo,
        pull_policy: dstack_runner::api::PullPolicy::from_word(&project.backends.local.pull_policy)
            .unwrap_or_default(),
        parallelism,
    };
    let mut record = workflows::start_run(project.state.as_ref(), &request, target)?;
    outln!(
        "Run {run_name}: {} ({} files of {}, {})",
        request.dag.order.join(" → "),
        request.repo.files,
        request.repo.info.dir,
        &request.repo.sha256[..12]
    )?;
    let started = Instant::now();
    let engine = Engine::new(
        project.state.as_ref(),
        client,
        artifact_root(&project.dot_dstack()),
        &Terminal,
    );
    let interrupt = async {
        // A failed signal handler means no Ctrl+C: the run is never interrupted.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let jobs = rt.block_on(workflows::execute(&engine, &request, interrupt));
    record.status = workflows::run_status(&jobs);
    record.finished_at = Some(now_ms());
    project.state.put_workflow_run(&record)?;
    print_summary(&run_name, record.status, started, &request, &jobs)?;
    run_exit(record.status, &request, &jobs)
}

/// The workflows `target` needs (itself and what it depends on), in run
/// order, read with every variable filled, and those variables.
fn needed_workflows(
    project: &Project,
    target: &str,
    overrides: &[(String, String)],
) -> Result<(Dag, BTreeMap<String, Workflow>, Variables), CliError> {
    // Names first (quietly), then the real read with every variable filled.
    let names: Vec<String> = match workflows_file(project, &BTreeMap::new(), false) {
        Ok((file, _, _)) => file.workflows.into_iter().map(|w| w.name).collect(),
        Err(_) => Vec::new(),
    };
    let vars = variables(project, overrides, &names)?;
    let (filled, spans, file) = workflows_file(project, &vars, true)?;
    let graph = dag::closure(&filled, &spans, target).map_err(|diags| {
        let color = color_enabled();
        for d in &diags {
            errln!("{}", diagnostic_text(&file, d, color));
        }
        CliError::InvalidConfig
    })?;
    let by_name: BTreeMap<String, Workflow> = filled
        .workflows
        .into_iter()
        .filter(|w| graph.order.contains(&w.name))
        .map(|w| (w.name.clone(), w))
        .collect();
    Ok((graph, by_name, vars))
}

/// Each workflow's variables, by workflow name.
type Variables = BTreeMap<String, BTreeMap<String, String>>;

/// The lines after a run: its status and time, then one line per job
/// (ran, reused or why not, and its artifact files).
fn print_summary(
    run_name: &str,
    status: Status,
    started: Instant,
    request: &RunRequest,
    jobs: &BTreeMap<String, WorkflowJob>,
) -> Result<(), CliError> {
    outln!()?;
    outln!(
        "Run {run_name} {} in {:.1}s:",
        status,
        started.elapsed().as_secs_f64()
    )?;
    for name in &request.dag.order {
        let job = &jobs[name];
        let how = match (&job.reused_from, job.status) {
            (Some(from), _) => format!("reused from {from}"),
            (None, Status::Done) => "ran".into(),
            (None, _) => job
                .reason
                .clone()
                .unwrap_or_else(|| status_message(job.status, job.exit_code.map(i64::from), None)),
        };
        let files: u64 = job
            .artifacts
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["files"].as_u64())
            .sum();
        outln!(
            "  {name:<16} {:<10} {how}{}",
            job.status,
            if files > 0 {
                format!(", {files} artifact files")
            } else {
                String::new()
            }
        )?;
    }
    Ok(())
}

/// The exit code of a run: 0 when done, an interruption, or the first
/// failed job's exit code (1 when none has one).
fn run_exit(
    status: Status,
    request: &RunRequest,
    jobs: &BTreeMap<String, WorkflowJob>,
) -> Result<i32, CliError> {
    match status {
        Status::Done => Ok(0),
        Status::Terminated => Err(CliError::Interrupted),
        _ => {
            let code = request
                .dag
                .order
                .iter()
                .filter_map(|n| jobs[n].exit_code)
                .find(|&c| c != 0)
                .unwrap_or(1);
            Err(CliError::JobExit(code))
        }
    }
}

/// True when `name` is a workflow run.
pub fn is_workflow_run(state: &dyn StateStore, name: &str) -> Result<bool, CliError> {
    Ok(state.workflow_run(name)?.is_some())
}

/// Workflow runs as `ps` shows them.
pub fn run_views(state: &dyn StateStore) -> Result<Vec<RunView>, CliError> {
    let mut out = Vec::new();
    for run in state.workflow_runs()? {
        let jobs: Vec<JobView> = state
            .workflow_jobs(&run.name)?
            .into_iter()
            .map(|j| JobView {
                address: format!("workflow/{}/{}", j.run, j.workflow),
                status_message: match &j.reused_from {
                    Some(from) => format!("reused ({from})"),
                    None => {
                        status_message(j.status, j.exit_code.map(i64::from), j.reason.as_deref())
                    }
                },
                status: j.status,
                exit_code: j.exit_code.map(i64::from),
                reason: j.reason,
                message: None,
                instance: j.instance,
                ports: serde_json::json!([]),
            })
            .collect();
        let status = run.status;
        out.push(RunView {
            name: run.name,
            kind: "workflow".into(),
            status_message: status.to_string(),
            status,
            backend: "local".into(),
            price_per_hour: Some(0.0),
            submitted_at: run.created_at,
            jobs,
        });
    }
    Ok(out)
}

/// `dstack logs RUN` of a workflow run: each job's log in graph order.
pub fn logs(
    project: &Project,
    _runtime: &dyn JobRuntime,
    rt: &tokio::runtime::Runtime,
    run: &str,
    follow: bool,
    diagnose: bool,
) -> Result<i32, CliError> {
    let jobs = project.state.workflow_jobs(run)?;
    let client = rt.block_on(LocalRunner::new(&project.dot_dstack()).running());
    for job in jobs {
        let origin = job.reused_from.clone().unwrap_or(job.run.clone());
        let key = workflows::log_key(&origin, &job.workflow);
        let lines = project.state.logs(&key, None, None)?;
        if diagnose {
            for line in lines.iter().filter(|l| l.stream == "runner") {
                errln!("[{}] [runner] {}", job.workflow, line.text);
            }
        }
        workflows::print_prefixed(&Terminal, &job.workflow, &lines);
        let unfinished = !job.status.is_final();
        if let (true, true, Some(client), Some(id)) = (follow, unfinished, &client, &job.runner_job)
        {
            let engine = Engine::new(
                project.state.as_ref(),
                client.clone(),
                artifact_root(&project.dot_dstack()),
                &Terminal,
            );
            if let Err(e) = rt.block_on(workflows::follow_log(
                &engine,
                &origin,
                &job.workflow,
                id,
                true,
            )) {
                errln!("warning: {e}");
            }
        }
    }
    Ok(0)
}

/// `dstack stop RUN` of a workflow run: stops its running jobs; the
/// `dstack run` that drives it then skips the rest. Returns failures.
pub async fn stop(project: &Project, run: &str, abort: bool) -> Result<usize, CliError> {
    let client = LocalRunner::new(&project.dot_dstack())
        .ensure()
        .await
        .map_err(|e| CliError::Unexpected(anyhow::anyhow!(e)))?;
    let mut failed = 0;
    for job in project.state.workflow_jobs(run)? {
        if job.status.is_final() {
            continue;
        }
        if let Some(id) = &job.runner_job {
            match client.stop(id, abort).await {
                Ok(_) => outln!("workflow/{run}/{}: stop requested", job.workflow)?,
                Err(e) => {
                    errln!("workflow/{run}/{}: {e}", job.workflow);
                    failed += 1;
                }
            }
        }
    }
    Ok(failed)
}

/// `dstack artifacts list RUN`.
pub fn artifacts_list(options: &ProjectOptions, run: &str, json: bool) -> Result<i32, CliError> {
    let project = Project::open(options)?;
    let jobs = run_jobs(&project, run)?;
    let root = artifact_root(&project.dot_dstack());
    let mut rows = Vec::new();
    for job in &jobs {
        let dir = artifact_dir(&root, job);
        for entry in job.artifacts.as_array().into_iter().flatten() {
            rows.push(serde_json::json!({
                "workflow": job.workflow,
                "path": entry["path"],
                "files": entry["files"],
                "bytes": entry["bytes"],
                "stored_at": dir.join(entry["path"].as_str().unwrap_or("")).display().to_string(),
                "reused_from": job.reused_from,
            }));
        }
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(anyhow::Error::from)?
        )?;
        return Ok(0);
    }
    if rows.is_empty() {
        outln!("Run {run} saved no artifacts.")?;
        return Ok(0);
    }
    outln!(
        "{:<16} {:<24} {:>6} {:>10}",
        "WORKFLOW",
        "PATH",
        "FILES",
        "BYTES"
    )?;
    for r in rows {
        outln!(
            "{:<16} {:<24} {:>6} {:>10}",
            r["workflow"].as_str().unwrap_or(""),
            r["path"].as_str().unwrap_or(""),
            r["files"].as_u64().unwrap_or(0),
            r["bytes"].as_u64().unwrap_or(0)
        )?;
    }
    Ok(0)
}

fn run_jobs(project: &Project, run: &str) -> Result<Vec<dstack_state::WorkflowJob>, CliError> {
    if project.state.workflow_run(run)?.is_none() {
        return Err(CliError::Usage(format!(
            "there is no workflow run named {run}; `dstack ps -a` lists runs"
        )));
    }
    Ok(project.state.workflow_jobs(run)?)
}

/// `dstack artifacts download RUN [-w WORKFLOW] [-o DIR]`.
pub fn artifacts_download(
    options: &ProjectOptions,
    run: &str,
    workflow: Option<&str>,
    out: Option<&Path>,
) -> Result<i32, CliError> {
    let project = Project::open(options)?;
    let jobs = run_jobs(&project, run)?;
    let root = artifact_root(&project.dot_dstack());
    let out: PathBuf = out.map_or_else(|| PathBuf::from(run), Path::to_path_buf);
    let mut copied = 0;
    for job in jobs
        .iter()
        .filter(|j| workflow.is_none_or(|w| w == j.workflow))
    {
        let dir = artifact_dir(&root, job);
        if !dir.is_dir() {
            continue;
        }
        let (files, bytes) =
            dstack_runner::daemon::store::copy_tree(&dir, &out.join(&job.workflow)).map_err(
                |e| CliError::Unexpected(anyhow::anyhow!("cannot copy {}: {e}", dir.display())),
            )?;
        outln!(
            "{}: {files} files, {bytes} bytes → {}",
            job.workflow,
            out.join(&job.workflow).display()
        )?;
        copied += 1;
    }
    if copied == 0 {
        return Err(CliError::Usage(match workflow {
            Some(w) => format!("workflow {w} of run {run} saved no artifacts"),
            None => format!("run {run} saved no artifacts"),
        }));
    }
    Ok(0)
}
