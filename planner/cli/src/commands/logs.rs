//! `dstack logs RUN`: a job's log as state holds it, then the rest from its
//! runner (copied into state as it is shown). Each submission of a job (each
//! time it ran) has a log of its own: the latest is shown unless
//! `--submission N` (0 is the first) asks for an earlier one.

use std::time::Duration;

use dstack_state::{LogLine, LogSubmission, StateStore};

use crate::context::ProjectOptions;
use crate::error::CliError;
use dstack_engine::runtime::sync::{self, JobRef, LogSource};

use super::jobs::{jobs_of, open, pick};
use super::since::keep_since;

/// What `dstack logs` was asked for.
pub struct LogsOptions {
    /// Run name.
    pub run: String,
    /// Keep printing until the job ends.
    pub follow: bool,
    /// Which job.
    pub job: super::jobs::JobPick,
    /// Only lines at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Submission number (0 is the first); the latest when `None`.
    pub submission: Option<u32>,
    /// Also print the runner's own lines.
    pub diagnose: bool,
}

/// Prints log lines: output to stdout, errors to stderr, the runner's own
/// lines (only with `diagnose`) to stderr; one write per stream per batch.
pub fn print_lines(lines: &[LogLine], diagnose: bool) {
    let mut out = String::new();
    let mut err = String::new();
    for line in lines {
        let (buffer, prefix) = match line.stream.as_str() {
            "stdout" => (&mut out, ""),
            "stderr" => (&mut err, ""),
            _ if diagnose => (&mut err, "[runner] "),
            _ => continue,
        };
        buffer.push_str(prefix);
        buffer.push_str(&line.text);
        buffer.push('\n');
    }
    // A failure to write stdout is remembered by `crate::output` (the
    // command's exit code says it); followers stop on `output::failure()`.
    if !out.is_empty() {
        let _ =
            crate::output::write_out_bytes(out.as_bytes()).and_then(|()| crate::output::flush());
    }
    if !err.is_empty() {
        crate::output::write_err_bytes(err.as_bytes());
    }
}

/// Prints what state holds of a submission's log (the lines at or after
/// `since`, all when `None`).
pub fn print_stored(
    state: &dyn StateStore,
    source: &LogSource,
    diagnose: bool,
    since: Option<i64>,
) -> Result<(), CliError> {
    let lines = state.logs(&source.job, Some(&source.submission), None)?;
    print_lines(&keep_since(&lines, since), diagnose);
    Ok(())
}

/// "0", "0 and 1", "0 to 4": the submission numbers a job has.
fn numbers(count: usize) -> String {
    match count {
        0 => "none".into(),
        1 => "only 0".into(),
        2 => "0 and 1".into(),
        n => format!("0 to {}", n - 1),
    }
}

/// The submission asked for, and whether state holds all of its log.
fn pick_submission(
    state: &dyn StateStore,
    job: &JobRef,
    number: Option<u32>,
) -> Result<(LogSource, bool), CliError> {
    let current = job.log_source();
    let current_sealed = job.row.job_data().logs_sealed == Some(true);
    let Some(number) = number else {
        return Ok((current, current_sealed));
    };
    // Recorded before listing, so the current one has its number even if
    // nothing looked at it yet (a read-only state lists what it has).
    let _ = sync::record_submission(state, &current);
    let all: Vec<LogSubmission> = state.submissions(&current.job)?;
    let Some(chosen) = all.get(number as usize) else {
        return Err(CliError::Usage(format!(
            "{} has no submission {number}; it has {} (0 is the first)",
            current.job,
            numbers(all.len())
        )));
    };
    if chosen.id == current.submission {
        return Ok((current, current_sealed || chosen.sealed));
    }
    // An earlier submission: its runner may still hold what state lacks.
    let instance = chosen
        .instance
        .as_deref()
        .and_then(|i| i.parse().ok())
        .and_then(|i| sync::instance_target(state, &i).ok());
    let sealed = chosen.sealed || instance.is_none();
    let source = LogSource {
        job: current.job,
        submission: chosen.id.clone(),
        instance: instance.unwrap_or(current.instance),
    };
    Ok((source, sealed))
}

/// `dstack logs RUN`.
pub fn logs(options: &ProjectOptions, args: LogsOptions) -> Result<i32, CliError> {
    let (project, runtime, rt) = open(options)?;
    let state = project.state.as_ref();
    if super::workflows::is_workflow_run(state, &args.run)? {
        return super::workflows::logs(
            &project,
            runtime.as_ref(),
            &rt,
            &args.run,
            args.follow,
            args.diagnose,
        );
    }
    let jobs = jobs_of(&project, &args.run)?;
    let job = pick(&jobs, args.job)?;
    let (source, sealed) = pick_submission(state, job, args.submission)?;
    print_stored(state, &source, args.diagnose, args.since)?;
    if sealed {
        return Ok(0);
    }
    let wait = if args.follow {
        Duration::from_secs(5)
    } else {
        Duration::ZERO
    };
    let mut printer = |l: &[LogLine]| print_lines(&keep_since(l, args.since), args.diagnose);
    let copied = rt.block_on(async {
        tokio::select! {
            r = sync::copy_logs(state, runtime.as_ref(), &source, wait, &mut printer) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    if let Some(Err(e)) = copied {
        errln!(
            "warning: the rest of the log is on the runner, which cannot be asked now: {}",
            e.message
        );
    }
    Ok(0)
}
