//! The executors behind one trait: what the supervisor and the submit
//! check need of a place jobs run, so neither dispatches on the executor's
//! kind. [`Executor`] checks a submission and starts a job; the started job
//! is an [`Execution`] (wait for its exit, save its artifacts) and a
//! [`Signals`] (graceful stop, kill), kept apart so the supervisor can
//! signal while it waits. Implementations: [`process::ProcessExecutor`]
//! (a host process group) and [`docker::DockerExecutor`] (a container).

pub mod docker;
pub mod process;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use super::failure::Failure;
use super::invalid::Invalid;
use super::logs::LogSender;
use super::{Job, Shared};
use crate::api::{ArtifactInfo, ExecutorKind, JobSubmission, PortBinding};

/// What to run once the job's log is sealed (e.g. removing its container),
/// handed over as soon as there is something to clean up, so it runs even
/// when the start fails or is abandoned half-way.
pub type Cleanup = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A place jobs run.
#[async_trait]
pub trait Executor: Send + Sync {
    /// Why this executor cannot run a submission (checked at submit).
    fn check(&self, sub: &JobSubmission) -> Result<(), Invalid>;

    /// Prepares (image, work tree, archives) and starts the job.
    async fn start(
        &self,
        shared: &Arc<Shared>,
        job: &Arc<Job>,
        log: &LogSender,
        cleanup: &mut Option<Cleanup>,
    ) -> Result<Started, Failure>;
}

/// A started job.
pub struct Started {
    /// Its main process.
    pub execution: Box<dyn Execution>,
    /// How to signal it.
    pub signals: Arc<dyn Signals>,
    /// Tasks copying its output into the log (done once it is drained).
    pub pumps: Vec<tokio::task::JoinHandle<()>>,
    /// Its published ports.
    pub ports: Vec<PortBinding>,
    /// Its host process group (host processes).
    pub pgid: Option<i32>,
}

/// A started job's main process.
#[async_trait]
pub trait Execution: Send {
    /// Waits for the exit; its code (signals as `128 + signal`).
    async fn wait(&mut self) -> i32;

    /// Saves the artifact paths of the exited job under `dest`.
    async fn save_artifacts(
        &self,
        shared: &Shared,
        job: &Job,
        dest: &Path,
        log: &LogSender,
    ) -> Vec<ArtifactInfo>;
}

/// Signals a started job.
#[async_trait]
pub trait Signals: Send + Sync {
    /// The graceful stop (SIGTERM).
    async fn terminate(&self);
    /// The kill (SIGKILL).
    async fn kill(&self);
}

/// The executor of a kind.
pub fn of(kind: ExecutorKind) -> &'static dyn Executor {
    match kind {
        ExecutorKind::Process => &process::ProcessExecutor,
        ExecutorKind::Docker => &docker::DockerExecutor,
    }
}
