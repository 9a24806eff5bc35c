//! [`Executor`] of Docker containers: see [`crate::daemon`]'s `docker`
//! module for the image, the container and its output.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bollard::Docker;

use super::{Cleanup, Execution, Executor, Signals, Started};
use crate::api::{ArtifactInfo, JobStatus, JobSubmission};
use crate::daemon::failure::Failure;
use crate::daemon::invalid::Invalid;
use crate::daemon::logs::LogSender;
use crate::daemon::logs::note;
use crate::daemon::supervise::artifact_infos;
use crate::daemon::{Job, Shared, docker};

/// Runs jobs in containers of the local engine.
pub struct DockerExecutor;

#[async_trait]
impl Executor for DockerExecutor {
    fn check(&self, sub: &JobSubmission) -> Result<(), Invalid> {
        if sub.image.as_deref().is_none_or(str::is_empty) {
            return Err(Invalid::NoImage);
        }
        Ok(())
    }

    async fn start(
        &self,
        shared: &Arc<Shared>,
        job: &Arc<Job>,
        log: &LogSender,
        cleanup: &mut Option<Cleanup>,
    ) -> Result<Started, Failure> {
        let sub = &job.submission;
        let d = shared.docker.client().await.map_err(|e| {
            Failure::executor(format!(
                "Docker is not reachable ({e}); start it (e.g. `bash .ci/docker-up`) or run the job without `image:` on the host"
            ))
        })?;
        let _ = job.update(|i| i.status = JobStatus::Pulling);
        let image = sub.image.clone().unwrap_or_default();
        docker::ensure_image(&d, &image, sub.pull_policy, log).await?;
        let id = docker::create(shared, &d, job, log).await?;
        let (d2, id2) = (d.clone(), id.clone());
        *cleanup = Some(Box::pin(async move { docker::remove(&d2, &id2).await }));
        let _ = job.update(|i| i.container = Some(id.clone()));
        // Attached before the start so no output waits for a log-file
        // read. The note goes out before the start (a follower has it and
        // is waiting again when the first output line comes); the stream
        // is read only after it, so the note still comes first in the log.
        let output = docker::attach(&d, &id).await?;
        let _ = log
            .send(note(format!(
                "starting container {} from {image}",
                &id[..12.min(id.len())]
            )))
            .await;
        let ports = docker::start(&d, &id, !sub.ports.is_empty()).await?;
        let pump = docker::pump_logs(output, log.clone());
        let container = Container { docker: d, id };
        Ok(Started {
            execution: Box::new(container.clone()),
            signals: Arc::new(container),
            pumps: vec![pump],
            ports,
            pgid: None,
        })
    }
}

/// A started container.
#[derive(Clone)]
struct Container {
    docker: Docker,
    id: String,
}

#[async_trait]
impl Execution for Container {
    async fn wait(&mut self) -> i32 {
        docker::wait(&self.docker, &self.id).await
    }

    async fn save_artifacts(
        &self,
        shared: &Shared,
        job: &Job,
        dest: &Path,
        log: &LogSender,
    ) -> Vec<ArtifactInfo> {
        let sub = &job.submission;
        docker::collect_artifacts(&self.docker, &self.id, sub, dest, shared.unpack_limit, log)
            .await;
        artifact_infos(dest, &sub.artifacts)
    }
}

#[async_trait]
impl Signals for Container {
    async fn terminate(&self) {
        docker::signal(&self.docker, &self.id, "SIGTERM").await;
    }

    async fn kill(&self) {
        docker::signal(&self.docker, &self.id, "SIGKILL").await;
    }
}
