//! Start-up recovery: reload every job from the runner's directory. A job
//! that was not finished when the runner stopped (killed, crashed, host
//! rebooted) cannot be followed any more: whatever is left of it (process
//! group, container) is killed, its log gets a closing line and is sealed,
//! and it is recorded as failed with reason `runner_restarted`. Records,
//! logs and artifacts are kept; work trees of ended jobs are deleted, as a
//! job's end does. Every job folder is made private and its stored
//! submission loses any env values an older runner wrote ([`secrecy`]).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use nix::sys::signal::Signal;

use super::logs::{LogWriter, now_ms};
use super::store::{self, JobFiles};
use super::{Job, Shared, docker, process, secrecy};
use crate::api::{JobInfo, JobStatus, JobSubmission};

/// Loads the jobs on disk into `shared`, ending the unfinished ones.
pub async fn recover(shared: &Arc<Shared>) {
    let Ok(entries) = std::fs::read_dir(shared.layout.jobs()) else {
        return;
    };
    let mut loaded = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(submission) = store::read_json::<JobSubmission>(&dir.join(JobFiles::SUBMISSION))
        else {
            tracing::warn!(dir = %dir.display(), "skipping a job folder without a readable submission");
            continue;
        };
        if let Err(e) = scrub_job_dir(&dir, &submission) {
            tracing::warn!(dir = %dir.display(), "cannot make the job's files private: {e}");
        }
        let submission = secrecy::stored(&submission);
        let info = store::read_json::<JobInfo>(&dir.join(JobFiles::INFO))
            .unwrap_or_else(|_| JobInfo::submitted(&submission, now_ms()));
        loaded.push(Arc::new(Job::new(dir, submission, info)));
    }
    let docker = shared.docker.client().await.ok();
    let containers = match &docker {
        Some(d) => docker::own_containers(d, &shared.runner_id).await,
        None => Vec::new(),
    };
    for job in &loaded {
        if !job.status().is_finished() {
            end_interrupted(job, docker.as_ref()).await;
        }
        super::supervise::remove_work_tree(&job.dir).await;
    }
    // Containers of finished (or unknown) jobs are leftovers.
    if let Some(d) = &docker {
        for (id, _) in &containers {
            docker::remove(d, id).await;
        }
    }
    let mut jobs = shared.jobs.lock().unwrap_or_else(|p| p.into_inner());
    for job in loaded {
        jobs.insert(job.id.clone(), job);
    }
}

/// Makes one job folder private, and rewrites its submission without env
/// values when an older runner stored them.
fn scrub_job_dir(dir: &Path, sub: &JobSubmission) -> io::Result<()> {
    secrecy::private_dir(dir)?;
    let path = dir.join(super::store::JobFiles::SUBMISSION);
    if secrecy::holds_values(sub) {
        super::store::write_json(&path, &secrecy::stored(sub))
    } else {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(secrecy::FILE_MODE))
    }
}

async fn end_interrupted(job: &Job, docker: Option<&bollard::Docker>) {
    let info = job.info();
    let was = info.status.as_str();
    if let Some(pgid) = info.pgid
        && group_is_this_jobs(pgid, &job.id)
    {
        process::signal_group(pgid, Signal::SIGKILL);
    }
    if let (Some(container), Some(d)) = (&info.container, docker) {
        docker::signal(d, container, "SIGKILL").await;
    }
    let message = format!(
        "the runner stopped while this job was {was} (killed or crashed); the job was ended when the runner restarted"
    );
    if let Ok(mut writer) = LogWriter::open(&job.log_path(), job.log.clone()) {
        let _ = writer.note(format!("runner restarted: {message}"));
        let _ = writer.seal();
    }
    let _ = job.update(|i| {
        i.status = JobStatus::Failed;
        i.reason = Some("runner_restarted".into());
        i.message = Some(message);
        i.finished_at = Some(now_ms());
    });
}

/// A process group id may have been reused after the runner died: only a
/// group whose leader carries this job's id (or whose leader is gone, so
/// the id cannot have been reused while members live) is ours.
fn group_is_this_jobs(pgid: i32, job_id: &str) -> bool {
    match std::fs::read(format!("/proc/{pgid}/environ")) {
        Ok(environ) => {
            let marker = format!("DSTACK_JOB_ID={job_id}");
            environ
                .split(|&b| b == 0)
                .any(|var| var == marker.as_bytes())
        }
        Err(_) => process::group_alive(pgid),
    }
}
