//! One job's life, from accepted to sealed: prepare (pull, unpack), start,
//! wait while honouring stop requests and `max_duration`, drain the
//! output, save artifacts, then seal the log and only then record the
//! final status, and finally delete the work tree. Executors differ only
//! in the steps they plug in here, through [`executor::Executor`].

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::Instant;

use super::executor::{self, Cleanup, Execution, Signals, Started};
use super::failure::Failure;
use super::logs::{LogSender, LogWriter, note, now_ms, spawn_writer};
use super::store::JobFiles;
use super::{Job, Shared, listen, process};
use crate::api::{JobStatus, StopRequest};

/// How long output may keep coming after the job's main process exited.
const DRAIN: Duration = Duration::from_secs(10);
/// Default time between the graceful stop signal and the kill.
const DEFAULT_GRACE: u64 = 10;

/// How a job ended.
struct Outcome {
    status: JobStatus,
    exit_code: Option<i32>,
    reason: &'static str,
    message: String,
}

impl Outcome {
    fn failed(f: Failure) -> Self {
        Self {
            status: JobStatus::Failed,
            exit_code: None,
            reason: f.reason,
            message: f.message,
        }
    }
}

/// Why the job is being stopped.
#[derive(Clone, Copy, PartialEq)]
enum StopCause {
    User { abort: bool },
    MaxDuration,
}

/// Supervises a job to its end. Never panics on job errors: every failure
/// ends as a sealed log and a final status with a reason.
pub async fn run(shared: Arc<Shared>, job: Arc<Job>) {
    let writer = match LogWriter::open(&job.log_path(), job.log.clone()) {
        Ok(w) => w,
        Err(e) => {
            let _ = job.update(|i| {
                i.status = JobStatus::Failed;
                i.reason = Some("executor_error".into());
                i.message = Some(format!("cannot open the job's log: {e}"));
                i.finished_at = Some(now_ms());
            });
            return;
        }
    };
    let (log, writer_task) = spawn_writer(writer);
    let mut cleanup: Option<Cleanup> = None;
    let outcome = execute(&shared, &job, &log, &mut cleanup).await;
    drop(log);
    let sealed = match writer_task.await {
        Ok(Ok(mut writer)) => {
            let _ = writer.note(outcome.message.clone());
            writer.seal().is_ok()
        }
        _ => false,
    };
    let finished = job.update(|i| {
        i.status = outcome.status;
        i.exit_code = outcome.exit_code;
        i.reason = Some(outcome.reason.to_string());
        i.message = Some(if sealed {
            outcome.message.clone()
        } else {
            format!("{} (the log could not be sealed)", outcome.message)
        });
        i.finished_at = Some(now_ms());
    });
    if let Err(e) = finished {
        tracing::error!(job = %job.id, "cannot record the job's end: {e}");
    }
    if let Some(cleanup) = cleanup {
        cleanup.await;
    }
    remove_work_tree(&job.dir).await;
}

/// Deletes a finished job's work tree (the unpacked project and whatever the
/// job wrote there): its artifacts were saved and its log sealed, so only
/// the job's record, log and artifacts stay. Without this every host job
/// would leave a copy of the project behind.
pub async fn remove_work_tree(job_dir: &std::path::Path) {
    let work = job_dir.join(JobFiles::WORK);
    let removed = tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&work) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err((work, e)),
        _ => Ok(()),
    })
    .await;
    if let Ok(Err((work, e))) = removed {
        tracing::warn!("cannot remove the work tree {}: {e}", work.display());
    }
}

async fn wait_for_stop(job: &Job) -> StopRequest {
    let mut rx = job.stop.subscribe();
    loop {
        if let Some(request) = *rx.borrow_and_update() {
            return request;
        }
        if rx.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

async fn execute(
    shared: &Arc<Shared>,
    job: &Arc<Job>,
    log: &LogSender,
    cleanup: &mut Option<Cleanup>,
) -> Outcome {
    let sub = &job.submission;
    let _ = log
        .send(note(format!(
            "job {} ({}) accepted by runner {} ({} executor)",
            sub.job_name,
            job.id,
            shared.runner_id,
            sub.executor.as_str()
        )))
        .await;
    let started = tokio::select! {
        s = executor::of(sub.executor).start(shared, job, log, cleanup) => s,
        request = wait_for_stop(job) => {
            return Outcome {
                status: if request.abort { JobStatus::Aborted } else { JobStatus::Terminated },
                exit_code: None,
                reason: if request.abort { "aborted_by_user" } else { "terminated_by_user" },
                message: "stopped before it started".into(),
            };
        }
    };
    let Started {
        mut execution,
        signals,
        pumps,
        ports,
        pgid,
    } = match started {
        Ok(s) => s,
        Err(f) => return Outcome::failed(f),
    };
    let _ = job.update(|i| {
        i.status = JobStatus::Running;
        i.started_at = Some(now_ms());
        i.ports = ports.clone();
        i.pgid = pgid;
    });
    let watcher = (pgid.is_some() && !ports.is_empty()).then(|| listen::watch(job.clone()));
    let (code, cause) = wait_or_stop(job, execution.as_mut(), signals.as_ref(), log).await;
    if let Some(w) = watcher {
        w.abort();
    }
    // Stragglers of the process group go when the main process is done.
    if let Some(pgid) = pgid {
        process::signal_group(pgid, Signal::SIGKILL);
    }
    let drained = tokio::time::timeout(DRAIN, futures_util::future::join_all(pumps)).await;
    if drained.is_err() {
        let _ = log
            .send(note(format!(
                "output still open {}s after the job exited; the rest is cut",
                DRAIN.as_secs()
            )))
            .await;
    }
    if !sub.artifacts.is_empty() {
        let dest = job.dir.join(JobFiles::ARTIFACTS);
        let saved = execution.save_artifacts(shared, job, &dest, log).await;
        let _ = job.update(|i| i.artifacts = saved);
    }
    outcome(code, cause)
}

fn outcome(code: i32, cause: Option<StopCause>) -> Outcome {
    match cause {
        Some(StopCause::User { abort: true }) => Outcome {
            status: JobStatus::Aborted,
            exit_code: Some(code),
            reason: "aborted_by_user",
            message: format!("aborted by user (killed; exit code {code})"),
        },
        Some(StopCause::User { abort: false }) => Outcome {
            status: JobStatus::Terminated,
            exit_code: Some(code),
            reason: "terminated_by_user",
            message: format!("stopped by user (exit code {code})"),
        },
        Some(StopCause::MaxDuration) => Outcome {
            status: JobStatus::Terminated,
            exit_code: Some(code),
            reason: "max_duration_exceeded",
            message: format!("stopped: max_duration exceeded (exit code {code})"),
        },
        None if code == 0 => Outcome {
            status: JobStatus::Done,
            exit_code: Some(0),
            reason: "done_by_runner",
            message: "exited with code 0".into(),
        },
        None => Outcome {
            status: JobStatus::Failed,
            exit_code: Some(code),
            reason: "container_exited_with_error",
            message: format!("exited with code {code}"),
        },
    }
}

/// Waits for exit; meanwhile a stop request or `max_duration` sends the
/// graceful signal, and the grace period's end the kill.
async fn wait_or_stop(
    job: &Job,
    execution: &mut dyn Execution,
    signals: &dyn Signals,
    log: &LogSender,
) -> (i32, Option<StopCause>) {
    let sub = &job.submission;
    let grace = Duration::from_secs(sub.stop_grace_secs.unwrap_or(DEFAULT_GRACE));
    // A duration too long for the clock is no deadline (never a panic).
    let deadline = sub
        .max_duration_secs
        .and_then(|s| after(Duration::from_secs(s)));
    let mut cause: Option<StopCause> = None;
    let mut kill_at: Option<Instant> = None;
    let mut stop_rx = job.stop.subscribe();
    let exit = execution.wait();
    tokio::pin!(exit);
    loop {
        let requested = *stop_rx.borrow_and_update();
        if let Some(request) = requested {
            let upgrade = match cause {
                None | Some(StopCause::MaxDuration) => true,
                Some(StopCause::User { abort }) => request.abort && !abort,
            };
            if upgrade {
                begin_stop(job, signals, log, request.abort, "stop requested", grace).await;
                cause = Some(StopCause::User {
                    abort: request.abort,
                });
                kill_at = if request.abort { None } else { after(grace) };
            }
        }
        tokio::select! {
            code = &mut exit => return (code, cause),
            changed = stop_rx.changed() => {
                if changed.is_err() {
                    // The job is being dropped; nothing more will ask.
                    return ((&mut exit).await, cause);
                }
            }
            _ = sleep_until(deadline), if cause.is_none() => {
                begin_stop(job, signals, log, false, "max_duration reached", grace).await;
                cause = Some(StopCause::MaxDuration);
                kill_at = after(grace);
            }
            _ = sleep_until(kill_at), if kill_at.is_some() => {
                let _ = log.send(note(format!("still running {}s after SIGTERM; killing it", grace.as_secs()))).await;
                signals.kill().await;
                kill_at = None;
            }
        }
    }
}

async fn begin_stop(
    job: &Job,
    signals: &dyn Signals,
    log: &LogSender,
    abort: bool,
    why: &str,
    grace: Duration,
) {
    let _ = job.update(|i| i.status = JobStatus::Terminating);
    if abort {
        let _ = log.send(note(format!("{why}: aborting (SIGKILL)"))).await;
        signals.kill().await;
    } else {
        let _ = log
            .send(note(format!(
                "{why}: SIGTERM sent; killing in {}s if still running",
                grace.as_secs()
            )))
            .await;
        signals.terminate().await;
    }
}

/// Now plus `d`, or `None` when that is past what the clock can hold.
fn after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Counts what was saved under each artifact path.
pub fn artifact_infos(dest: &std::path::Path, paths: &[String]) -> Vec<crate::api::ArtifactInfo> {
    paths
        .iter()
        .map(|p| {
            let (files, bytes) = count(&dest.join(p.trim_start_matches('/')));
            crate::api::ArtifactInfo {
                path: p.clone(),
                files,
                bytes,
            }
        })
        .collect()
}

fn count(path: &std::path::Path) -> (u64, u64) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return (0, 0);
    };
    if !meta.is_dir() {
        return (1, meta.len());
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| count(&e.path()))
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        })
        .unwrap_or((0, 0))
}
