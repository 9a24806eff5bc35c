//! `dstack attach RUN` (and the end of `dstack apply`): follow a run's log
//! (from now, or from the start with `--logs`) and show where its ports
//! are, until it ends (exit code: the job's), the reader of the log goes
//! away, or Ctrl+C (which asks whether to stop the run or leave it running).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dstack_engine::apply::JobRuntime;
use dstack_schemas::status::Status;
use dstack_state::StateStore;

use super::confirm::{AfterInterrupt, ask_stop};
use super::jobs::{JobPick, jobs_of, open, pick, run_views, wait_all_finished};
use super::logs::{print_lines, print_stored};
use super::since::keep_since;
use crate::context::{Project, ProjectOptions};
use crate::error::CliError;
use dstack_engine::runtime::ports;
use dstack_engine::runtime::sync::{self, JobRef};

/// Longest wait for a job's ports to be listened on before saying where
/// they will be.
const PORT_WAIT: Duration = Duration::from_secs(30);

/// How to follow a run's log.
#[derive(Debug, Clone, Copy)]
pub struct Follow {
    /// Print the log so far first (otherwise: only lines from now on).
    pub replay: bool,
    /// Print the lines from this time on first (ms since the epoch).
    pub since: Option<i64>,
    /// Also print the runner's own lines.
    pub diagnose: bool,
}

/// `dstack attach RUN`.
pub fn attach_command(
    options: &ProjectOptions,
    run: &str,
    job: JobPick,
    follow: Follow,
) -> Result<i32, CliError> {
    let (project, runtime, rt) = open(options)?;
    attach(&project, &runtime, &rt, run, job, follow)
}

/// Follows a run: prints its ports once known and the job's log as it
/// comes, until the run ends (exit code: the job's) or Ctrl+C (detaches;
/// the run goes on).
pub fn attach(
    project: &Project,
    runtime: &Arc<dyn JobRuntime>,
    rt: &tokio::runtime::Runtime,
    run: &str,
    job_pick: JobPick,
    how: Follow,
) -> Result<i32, CliError> {
    let diagnose = how.diagnose;
    let jobs = jobs_of(project, run)?;
    let job = pick(&jobs, job_pick)?.clone();
    let source = job.log_source();
    // A finished job has no "from now": its whole log is what there is.
    let since = match (how.replay || job.finished(), how.since) {
        (_, Some(since)) => Some(since),
        (true, None) => None,
        (false, None) => super::since::millis(Some(std::time::SystemTime::now())),
    };
    print_stored(project.state.as_ref(), &source, diagnose, since)?;
    let started = Instant::now();
    let followed = rt.block_on(async {
        let ports = announce_ports(project.state.as_ref(), runtime.as_ref(), &job);
        let follow = async {
            loop {
                match sync::copy_logs(
                    project.state.as_ref(),
                    runtime.as_ref(),
                    &source,
                    Duration::from_secs(5),
                    &mut |l| print_lines(&keep_since(l, since), diagnose),
                )
                .await
                {
                    Ok(true) => return Ok(()),
                    // Nobody reads the log any more: stop following (the
                    // run goes on; the exit code says why we stopped).
                    Ok(false) if crate::output::failure().is_some() => return Ok(()),
                    Ok(false) => {}
                    Err(e) => return Err(e),
                }
            }
        };
        tokio::select! {
            r = follow => Some(r),
            _ = ports => None,
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    match followed {
        None => match ask_stop(run) {
            AfterInterrupt::Stop => super::stop::stop_after_attach(project, runtime, rt, run),
            AfterInterrupt::Leave => {
                errln!(
                    "Detached from run/{run}; it keeps running. `dstack logs {run} -f` follows it, `dstack stop {run}` stops it."
                );
                Ok(0)
            }
        },
        Some(Err(e)) => {
            errln!("error: lost the log of {}: {}", job.row.address, e.message);
            Err(CliError::JobExit(dstack_schemas::exit_codes::UNEXPECTED))
        }
        Some(Ok(())) => {
            if let Some(failed) = crate::output::failure() {
                return Err(CliError::Output(failed));
            }
            rt.block_on(wait_all_finished(
                project,
                runtime.as_ref(),
                run,
                Duration::from_secs(60),
            ))?;
            finish_report(project, run, started)
        }
    }
}

/// Prints where a job's ports are reachable once it runs and each port is
/// listened on (or [`PORT_WAIT`] passed); never returns (so it never ends
/// the `select!` it runs in).
async fn announce_ports(state: &dyn StateStore, runtime: &dyn JobRuntime, job: &JobRef) {
    let since = Instant::now();
    loop {
        let job = sync::reload(state, job);
        if let Ok(row) = sync::refresh_job(state, runtime, &job).await {
            let ports = row
                .job_data()
                .runtime
                .ports
                .and_then(|p| p.as_array().cloned())
                .unwrap_or_default();
            // A job no longer running has no port to reach.
            if !matches!(
                row.status,
                Status::Submitted | Status::Pulling | Status::Running
            ) {
                break;
            }
            // Ports are recorded as the job starts: a running job without
            // them has none.
            if ports.is_empty() && row.status == Status::Running {
                break;
            }
            let address = job.row.address.to_string();
            let patient = since.elapsed() < PORT_WAIT;
            if !ports.is_empty()
                && let Some(lines) = ports::announcement(&address, &ports, patient)
            {
                for line in lines {
                    errln!("{line}");
                }
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    std::future::pending::<()>().await
}

fn finish_report(project: &Project, run: &str, started: Instant) -> Result<i32, CliError> {
    let views = run_views(project.state.as_ref())?;
    let Some(view) = views.into_iter().find(|v| v.name == run) else {
        return Ok(0);
    };
    let secs = started.elapsed().as_secs_f64();
    let first_bad = view.jobs.iter().find(|j| j.status != Status::Done);
    match first_bad {
        None => {
            errln!("run/{run}: {} in {secs:.1}s", view.status_message);
            Ok(0)
        }
        Some(job) => {
            let why = job
                .message
                .clone()
                .unwrap_or_else(|| job.status_message.clone());
            errln!("run/{run}: {} ({why})", job.status);
            let code = job.exit_code.filter(|&c| c != 0).map_or(1, |c| c as i32);
            Err(CliError::JobExit(code))
        }
    }
}
