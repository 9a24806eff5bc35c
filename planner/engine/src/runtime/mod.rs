//! The job runtime of the project: the runner on each instance. For the
//! `local` fleet that is the runner this CLI starts under `.dstack/runner/`;
//! a cloud instance names its runner (URL and token) in its recorded data;
//! an instance with recorded SSH access (SSH fleet hosts) is reached
//! through a pooled SSH tunnel to its runner's loopback port.
//! Also: bringing job statuses and logs from runners into state.

pub mod code;
pub mod local;
pub mod ports;
pub mod remote;
pub mod submission;
pub mod submission_error;
pub mod sync;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::apply::{
    InstanceTarget, JobLaunch, JobRuntime, JobState, RuntimeError, RuntimeErrorKind,
    RuntimeLogLine, RuntimeLogPage,
};
use async_trait::async_trait;
use dstack_runner::api::{ArchiveMount, JobInfo};
use dstack_runner::{ClientError, RunnerClient};
use tokio::sync::Mutex;

use crate::Output;
use dstack_schemas::recorded::SshAccess;
use dstack_ssh::{PoolOptions, SshError};
use local::LocalRunner;
use remote::{RemoteRunners, ssh_target};
use submission::{LocalMode, SubmissionInput, build_submission};

/// Name the runtime records as the provider of jobs.
pub const RUNTIME_NAME: &str = "runner";

/// What the composition root decides for a project's runtime.
pub struct RuntimeSettings {
    /// The project directory (a run's repo defaults to it).
    pub project_dir: PathBuf,
    /// The project's `.dstack` directory (the local runner lives under it).
    pub dot_dstack: PathBuf,
    /// How jobs of the `local` fleet run.
    pub mode: LocalMode,
    /// When Docker pulls images.
    pub pull_policy: dstack_runner::api::PullPolicy,
    /// Where a local volume with a relative recorded id lives (the local
    /// backend's rule).
    pub local_volume_dir: Box<dyn Fn(&str) -> PathBuf + Send + Sync>,
    /// Where warnings (files left out of a packed repo) go.
    pub output: Arc<dyn Output>,
}

/// Runs jobs through `dstack-runner`s.
pub struct RunnerRuntime {
    project_dir: PathBuf,
    mode: LocalMode,
    local: LocalRunner,
    /// Runners reached over SSH: one pooled connection per host.
    remote: RemoteRunners,
    pull_policy: dstack_runner::api::PullPolicy,
    local_volume_dir: Box<dyn Fn(&str) -> PathBuf + Send + Sync>,
    output: Arc<dyn Output>,
    /// Repos packed during this process, by directory.
    packed: Mutex<HashMap<PathBuf, Arc<code::PackedRepo>>>,
}

impl RunnerRuntime {
    /// The runtime of a project.
    pub fn new(settings: RuntimeSettings) -> Self {
        Self {
            project_dir: settings.project_dir,
            mode: settings.mode,
            local: LocalRunner::new(&settings.dot_dstack),
            remote: RemoteRunners::new(PoolOptions::default()),
            pull_policy: settings.pull_policy,
            local_volume_dir: settings.local_volume_dir,
            output: settings.output,
            packed: Mutex::new(HashMap::new()),
        }
    }

    /// The same runtime reaching SSH hosts with `options` (connect
    /// timeout, keep-alives, reconnect backoff) instead of the defaults.
    pub fn with_ssh_options(mut self, options: PoolOptions) -> Self {
        self.remote = RemoteRunners::new(options);
        self
    }

    /// The pooled SSH connections to remote runners.
    pub fn remote(&self) -> &RemoteRunners {
        &self.remote
    }

    /// A client of the runner of an instance (starting the local one if
    /// needed; through an SSH tunnel when the instance records SSH access).
    pub async fn client(&self, instance: &InstanceTarget) -> Result<RunnerClient, RuntimeError> {
        if is_local(instance) {
            return self.local.ensure().await.map_err(RuntimeError::local);
        }
        if let Some(access) = &instance.data.ssh {
            return self.remote_client(instance, access).await;
        }
        match &instance.data.runner {
            Some(endpoint) => Ok(RunnerClient::new(&endpoint.url, &endpoint.token)),
            None => Err(RuntimeError::new(
                RuntimeErrorKind::Config,
                format!(
                    "{} records no runner endpoint (its backend `{}` does not run dstack-runner)",
                    instance.address,
                    instance.provider.as_deref().unwrap_or("?")
                ),
            )),
        }
    }

    async fn remote_client(
        &self,
        instance: &InstanceTarget,
        access: &SshAccess,
    ) -> Result<RunnerClient, RuntimeError> {
        let token = instance.data.runner.as_ref().map(|r| r.token.as_str());
        let token = token.ok_or_else(|| {
            RuntimeError::new(
                RuntimeErrorKind::State,
                format!(
                    "{} records SSH access but no runner token (re-apply its fleet)",
                    instance.address
                ),
            )
        })?;
        let target = ssh_target(access).map_err(|e| {
            RuntimeError::new(
                RuntimeErrorKind::State,
                format!("{}: {e}", instance.address),
            )
        })?;
        let unreachable = |e: SshError| ssh_error(instance, e);
        self.remote.reach(&target).await.map_err(unreachable)?;
        self.remote
            .client(&target, access.runner_port, token)
            .await
            .map_err(unreachable)
    }

    async fn upload_repo(
        &self,
        client: &RunnerClient,
        launch: &JobLaunch,
    ) -> Result<Arc<code::PackedRepo>, RuntimeError> {
        let dir = code::repo_dir(&launch.config, &launch.config_dir, &self.project_dir)
            .map_err(|e| RuntimeError::new(RuntimeErrorKind::Config, e))?;
        let repo = {
            let mut packed = self.packed.lock().await;
            match packed.get(&dir) {
                Some(p) => p.clone(),
                None => {
                    let d = dir.clone();
                    let out = self.output.clone();
                    let repo = tokio::task::spawn_blocking(move || code::pack_repo(&d, &*out))
                        .await
                        .map_err(worker_error)?
                        .map_err(RuntimeError::local)?;
                    let repo = Arc::new(repo);
                    packed.insert(dir.clone(), repo.clone());
                    repo
                }
            }
        };
        client
            .upload_archive(repo.bytes.clone())
            .await
            .map_err(client_error)?;
        Ok(repo)
    }

    async fn upload_files(
        &self,
        client: &RunnerClient,
        launch: &JobLaunch,
    ) -> Result<Vec<ArchiveMount>, RuntimeError> {
        let mut out = Vec::new();
        let mappings = launch
            .config
            .run_common()
            .and_then(|c| c.files.clone())
            .unwrap_or_default();
        for mapping in mappings {
            let dir = launch.config_dir.clone();
            let m = mapping.clone();
            let warn = self.output.clone();
            let (bytes, path) =
                tokio::task::spawn_blocking(move || code::pack_file_mapping(&m, &dir, &*warn))
                    .await
                    .map_err(worker_error)?
                    .map_err(RuntimeError::local)?;
            let sha = client.upload_archive(bytes).await.map_err(client_error)?;
            out.push(ArchiveMount {
                archive: sha,
                path,
                label: format!("files: {}", mapping.local),
            });
        }
        Ok(out)
    }
}

/// True for the instance that is this machine.
pub fn is_local(instance: &InstanceTarget) -> bool {
    instance.provider.as_deref() == Some("local")
}

fn secret(name: &str) -> Option<String> {
    std::env::var(format!("{}{name}", local::SECRET_PREFIX)).ok()
}

/// The one mapping of an SSH failure on the way to an instance's runner:
/// the instance cannot be reached (a changed host key included: it is
/// never accepted).
fn ssh_error(instance: &InstanceTarget, e: SshError) -> RuntimeError {
    RuntimeError::new(
        RuntimeErrorKind::Unreachable,
        format!("{} is unreachable: {e}", instance.address),
    )
}

/// The one mapping of a runner client's failure to a runtime failure.
fn client_error(e: ClientError) -> RuntimeError {
    let kind = match &e {
        ClientError::Unreachable { .. } => RuntimeErrorKind::Unreachable,
        ClientError::Api { .. } if e.is_not_found() => RuntimeErrorKind::NotFound,
        ClientError::Api { .. } => RuntimeErrorKind::Rejected,
        ClientError::Protocol { .. } => RuntimeErrorKind::Protocol,
    };
    RuntimeError::new(kind, e.to_string())
}

/// A packing task on the blocking pool panicked or was cancelled.
fn worker_error(e: tokio::task::JoinError) -> RuntimeError {
    RuntimeError::new(RuntimeErrorKind::Internal, e.to_string())
}

/// A runner's job as the planner records it.
pub fn job_state(info: &JobInfo) -> JobState {
    JobState {
        id: info.id.clone(),
        status: info.status,
        exit_code: info.exit_code,
        reason: info.reason.clone(),
        data: dstack_schemas::recorded::decode(&serde_json::json!({
            "executor": info.executor.as_str(),
            "message": info.message,
            "ports": info.ports,
            "submitted_at": info.submitted_at,
            "started_at": info.started_at,
            "finished_at": info.finished_at,
        })),
    }
}

#[async_trait]
impl JobRuntime for RunnerRuntime {
    fn name(&self) -> &str {
        RUNTIME_NAME
    }

    async fn submit(&self, launch: &JobLaunch) -> Result<JobState, RuntimeError> {
        let client = self.client(&launch.instance).await?;
        let repo = self.upload_repo(&client, launch).await?;
        let files = self.upload_files(&client, launch).await?;
        let submission = build_submission(&SubmissionInput {
            launch,
            mode: self.mode,
            local: is_local(&launch.instance),
            own_host: launch.instance.data.ssh.is_some(),
            code: Some(repo.sha256.clone()),
            files,
            secret: &secret,
            host_has_bash: std::path::Path::new("/bin/bash").exists(),
            pull_policy: self.pull_policy,
            repo_env: repo.info.env(),
            local_volume_dir: &*self.local_volume_dir,
        })
        .map_err(|e| RuntimeError::new(RuntimeErrorKind::Config, e.message))?;
        let info = client.submit(&submission).await.map_err(client_error)?;
        let mut state = job_state(&info);
        state.data.extra.insert(
            "repo".into(),
            serde_json::json!({
                "info": repo.info,
                "sha256": repo.sha256,
                "files": repo.files,
            }),
        );
        Ok(state)
    }

    async fn stop(
        &self,
        job_id: &str,
        instance: &InstanceTarget,
        abort: bool,
    ) -> Result<JobState, RuntimeError> {
        let client = self.client(instance).await?;
        let info = client.stop(job_id, abort).await.map_err(client_error)?;
        Ok(job_state(&info))
    }

    async fn status(
        &self,
        job_id: &str,
        instance: &InstanceTarget,
    ) -> Result<JobState, RuntimeError> {
        let client = self.client(instance).await?;
        let info = client.job(job_id).await.map_err(client_error)?;
        Ok(job_state(&info))
    }

    async fn logs(
        &self,
        job_id: &str,
        instance: &InstanceTarget,
        offset: u64,
        wait: Duration,
    ) -> Result<RuntimeLogPage, RuntimeError> {
        let client = self.client(instance).await?;
        let page = client
            .logs(job_id, offset, wait)
            .await
            .map_err(client_error)?;
        Ok(RuntimeLogPage {
            lines: page
                .entries
                .into_iter()
                .map(|e| RuntimeLogLine {
                    offset: e.offset,
                    timestamp: e.record.t,
                    stream: e.record.s.as_str().to_string(),
                    text: e.record.m,
                })
                .collect(),
            next: page.next,
            sealed: page.sealed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dstack_runner::api::ApiError;

    fn api(status: u16, word: &str) -> ClientError {
        ClientError::Api {
            url: "http://runner".into(),
            status,
            error: ApiError {
                error: word.into(),
                message: "no".into(),
            },
        }
    }

    #[test]
    fn each_client_failure_maps_to_its_runtime_kind() {
        let unreachable = ClientError::Unreachable {
            url: "http://runner".into(),
            reason: "connection refused".into(),
        };
        let protocol = ClientError::Protocol {
            url: "http://runner".into(),
            reason: "HTTP 404 without a runner's error document".into(),
        };
        for (error, kind) in [
            (unreachable, RuntimeErrorKind::Unreachable),
            (api(404, "not_found"), RuntimeErrorKind::NotFound),
            (api(409, "conflict"), RuntimeErrorKind::Rejected),
            (api(401, "unauthorized"), RuntimeErrorKind::Rejected),
            (protocol, RuntimeErrorKind::Protocol),
        ] {
            let text = error.to_string();
            let mapped = client_error(error);
            assert_eq!(mapped.kind, kind, "{text}");
            assert_eq!(mapped.message, text, "the message is the client's own");
        }
    }
}
