//! `dstack stop RUN...`: every run is looked up before anything is asked or
//! stopped (a name that is not a run is an error at once), then each run's
//! jobs are told to stop and waited for, never longer than `--timeout` in
//! all: a run still ending then is reported with its status and what to do.

use std::sync::Arc;
use std::time::Duration;

use dstack_engine::apply::JobRuntime;
use tokio::time::Instant;

use super::jobs::{jobs_of, open, run_views, wait_all_finished};
use crate::context::{Project, ProjectOptions};
use crate::error::CliError;
use dstack_engine::runtime::sync::JobRef;

/// `dstack stop` switches.
pub struct StopOptions {
    /// Kill without the graceful stop.
    pub abort: bool,
    /// Do not ask.
    pub yes: bool,
    /// Give up waiting after this long.
    pub timeout: Duration,
}

/// A run to stop, as found in state.
enum Target {
    /// A 2022 workflow run.
    Workflow(String),
    /// A run and its jobs.
    Jobs(String, Vec<JobRef>),
}

/// `dstack stop RUN...`.
pub fn stop(options: &ProjectOptions, runs: &[String], stop: StopOptions) -> Result<i32, CliError> {
    let (project, runtime, rt) = open(options)?;
    let targets = runs
        .iter()
        .map(|run| find(&project, run))
        .collect::<Result<Vec<_>, _>>()?;
    let what = if stop.abort { "Abort" } else { "Stop" };
    if !stop.yes && !super::confirm::confirm(&format!("{what} {}?", runs.join(", ")))? {
        return Err(CliError::Declined);
    }
    let deadline = Instant::now() + stop.timeout;
    let mut failed = 0;
    for target in targets {
        failed += match target {
            Target::Workflow(run) => {
                let ask = super::workflows::stop(&project, &run, stop.abort);
                let asked = rt.block_on(async { tokio::time::timeout_at(deadline, ask).await });
                match asked {
                    Ok(result) => result?,
                    Err(_) => gave_up(&project, &run, &stop)?,
                }
            }
            Target::Jobs(run, jobs) => {
                stop_jobs(&project, &runtime, &rt, (&run, &jobs), &stop, deadline)?
            }
        };
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

fn find(project: &Project, run: &str) -> Result<Target, CliError> {
    if super::workflows::is_workflow_run(project.state.as_ref(), run)? {
        return Ok(Target::Workflow(run.to_string()));
    }
    Ok(Target::Jobs(run.to_string(), jobs_of(project, run)?))
}

/// Stops a run's unfinished jobs and waits for them until `deadline`;
/// how many could not be stopped (or are still ending).
fn stop_jobs(
    project: &Project,
    runtime: &Arc<dyn JobRuntime>,
    rt: &tokio::runtime::Runtime,
    (run, jobs): (&str, &[JobRef]),
    stop: &StopOptions,
    deadline: Instant,
) -> Result<usize, CliError> {
    let started = Instant::now();
    let work = async {
        let mut failed = 0;
        for job in jobs.iter().filter(|j| !j.finished()) {
            if let Err(e) = runtime.stop(&job.job_id, &job.instance, stop.abort).await {
                errln!("{}: cannot stop: {}", job.row.address, e.message);
                failed += 1;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let ended = wait_all_finished(project, runtime.as_ref(), run, left).await?;
        Ok::<_, CliError>((failed, ended))
    };
    // Timers need the runtime: the timeout is made inside it.
    let stopped = rt.block_on(async { tokio::time::timeout_at(deadline, work).await });
    match stopped {
        Ok(Ok((failed, true))) => {
            outln!(
                "run/{run}: {} ({:.1}s)",
                status_of(project, run)?,
                started.elapsed().as_secs_f64()
            )?;
            Ok(failed)
        }
        Ok(Ok((_, false))) | Err(_) => gave_up(project, run, stop),
        Ok(Err(e)) => Err(e),
    }
}

fn status_of(project: &Project, run: &str) -> Result<String, CliError> {
    Ok(run_views(project.state.as_ref())?
        .into_iter()
        .chain(super::workflows::run_views(project.state.as_ref())?)
        .find(|v| v.name == run)
        .map_or("unknown".into(), |v| v.status_message))
}

/// Says where a run is after `--timeout` and what to do; counts as a failure.
fn gave_up(project: &Project, run: &str, stop: &StopOptions) -> Result<usize, CliError> {
    let status = status_of(project, run)?;
    let waited = humantime::format_duration(stop.timeout);
    if stop.abort {
        errln!(
            "run/{run}: still {status} after {waited}, although killed (--abort): its runner may not be answering; `dstack logs {run} -d` shows the runner's side, `dstack ps` shows when it ends"
        );
    } else {
        errln!(
            "run/{run}: still {status} after {waited}: its jobs were asked to stop and have their `stop_duration` to end before they are killed; `dstack stop --abort {run}` kills them now, `dstack ps` shows when they end"
        );
    }
    Ok(1)
}

/// Stops `run` after Ctrl+C while attached to it, the way `dstack stop -y`
/// does (graceful, waiting up to a minute).
pub(super) fn stop_after_attach(
    project: &Project,
    runtime: &Arc<dyn JobRuntime>,
    rt: &tokio::runtime::Runtime,
    run: &str,
) -> Result<i32, CliError> {
    let jobs = jobs_of(project, run)?;
    let options = StopOptions {
        abort: false,
        yes: true,
        timeout: Duration::from_secs(60),
    };
    let deadline = rt.block_on(async { Instant::now() + options.timeout });
    let failed = stop_jobs(project, runtime, rt, (run, &jobs), &options, deadline)?;
    Ok(if failed > 0 { 1 } else { 0 })
}
