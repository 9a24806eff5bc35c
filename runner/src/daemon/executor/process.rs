//! [`Executor`] of host processes: see [`crate::daemon`]'s `process`
//! module for the work tree, the environment and the process group.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use nix::sys::signal::Signal;

use super::{Cleanup, Execution, Executor, Signals, Started};
use crate::api::{ArtifactInfo, JobSubmission};
use crate::daemon::failure::Failure;
use crate::daemon::invalid::Invalid;
use crate::daemon::logs::LogSender;
use crate::daemon::logs::note;
use crate::daemon::store::{self, JobFiles};
use crate::daemon::supervise::artifact_infos;
use crate::daemon::{Job, Shared, process};

/// Runs jobs as host process groups.
pub struct ProcessExecutor;

#[async_trait]
impl Executor for ProcessExecutor {
    fn check(&self, sub: &JobSubmission) -> Result<(), Invalid> {
        process::unsupported(sub).map_or(Ok(()), |why| Err(Invalid::Executor(why)))
    }

    async fn start(
        &self,
        shared: &Arc<Shared>,
        job: &Arc<Job>,
        log: &LogSender,
        _cleanup: &mut Option<Cleanup>,
    ) -> Result<Started, Failure> {
        let sub = &job.submission;
        let prepared = process::prepare(shared, job, log)?;
        let cwd = prepared.cwd.clone();
        let started = process::start(sub, prepared, log)?;
        let _ = log
            .send(note(format!(
                "started `{}` (process group {})",
                sub.command.join(" "),
                started.pgid
            )))
            .await;
        Ok(Started {
            execution: Box::new(HostProcess {
                child: started.child,
                cwd,
            }),
            signals: Arc::new(Group(started.pgid)),
            pumps: started.pumps,
            ports: started.ports,
            pgid: Some(started.pgid),
        })
    }
}

/// A started host process.
struct HostProcess {
    child: tokio::process::Child,
    cwd: PathBuf,
}

#[async_trait]
impl Execution for HostProcess {
    async fn wait(&mut self) -> i32 {
        process::wait(&mut self.child).await
    }

    async fn save_artifacts(
        &self,
        _shared: &Shared,
        job: &Job,
        dest: &Path,
        log: &LogSender,
    ) -> Vec<ArtifactInfo> {
        let work = job.dir.join(JobFiles::WORK);
        for path in &job.submission.artifacts {
            let source = process::host_path(&work, &self.cwd, path);
            let target = dest.join(path.trim_start_matches('/'));
            let text = match store::copy_tree(&source, &target) {
                Ok((files, bytes)) => {
                    format!("artifact {path}: saved {files} files, {bytes} bytes")
                }
                Err(e) => format!("artifact {path}: not saved ({}: {e})", source.display()),
            };
            let _ = log.send(note(text)).await;
        }
        artifact_infos(dest, &job.submission.artifacts)
    }
}

/// A job's process group.
struct Group(i32);

#[async_trait]
impl Signals for Group {
    async fn terminate(&self) {
        process::signal_group(self.0, Signal::SIGTERM);
    }

    async fn kill(&self) {
        process::signal_group(self.0, Signal::SIGKILL);
    }
}
