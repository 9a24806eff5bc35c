//! The runner daemon: an HTTP server (axum) that accepts jobs, runs each
//! under a supervisor task with the Docker or the process executor, keeps
//! their logs durable and serves them. Its directory is the only state: a
//! restarted runner reloads every job from disk and ends the ones it was
//! running when it stopped (see [`recover`]).
//!
//! Leaves at the bottom: `secrecy` (file modes, stored submissions) under
//! `store` and `logs`, and `failure` (why a job could not run) under the
//! executors and the supervisor; the supervisor drives the executors.

pub mod cli;
mod docker;
mod executor;
mod failure;
mod http;
mod invalid;
mod listen;
pub mod logs;
mod process;
mod recover;
mod secrecy;
pub mod store;
mod supervise;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::api::{JobInfo, JobStatus, JobSubmission, StopRequest};
use logs::LogProgress;
use store::{JobFiles, Layout};

/// How a runner is started.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Its directory (jobs, logs, archives, artifacts).
    pub dir: PathBuf,
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// The token clients must present.
    pub token: String,
    /// Most bytes an archive may unpack to.
    pub unpack_limit: u64,
}

/// What a running runner publishes in `<dir>/runner.json` once it listens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerEndpoint {
    /// Process id.
    pub pid: u32,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// `dstack-runner` version.
    pub version: String,
    /// Runner id.
    pub runner_id: String,
}

/// File name of the endpoint file.
pub const ENDPOINT_FILE: &str = "runner.json";

/// One job known to the runner.
pub(crate) struct Job {
    pub id: String,
    pub dir: PathBuf,
    pub submission: JobSubmission,
    info: Mutex<JobInfo>,
    pub log: watch::Sender<LogProgress>,
    pub stop: watch::Sender<Option<StopRequest>>,
}

impl Job {
    fn new(dir: PathBuf, submission: JobSubmission, info: JobInfo) -> Self {
        let progress = LogProgress {
            len: info.log_bytes,
            sealed: info.sealed,
        };
        Self {
            id: info.id.clone(),
            dir,
            submission,
            info: Mutex::new(info),
            log: watch::channel(progress).0,
            stop: watch::channel(None).0,
        }
    }

    /// The job as clients see it now (live log length).
    pub fn info(&self) -> JobInfo {
        let mut info = self.info.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let progress = *self.log.borrow();
        info.log_bytes = progress.len;
        info.sealed = progress.sealed;
        info
    }

    /// Changes the job's info and writes it to disk before returning.
    pub fn update(&self, change: impl FnOnce(&mut JobInfo)) -> std::io::Result<JobInfo> {
        let mut info = self.info.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut info);
        let progress = *self.log.borrow();
        info.log_bytes = progress.len;
        info.sealed = progress.sealed;
        store::write_json(&self.dir.join(JobFiles::INFO), &*info)?;
        Ok(info.clone())
    }

    pub fn status(&self) -> JobStatus {
        self.info.lock().unwrap_or_else(|p| p.into_inner()).status
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(JobFiles::LOG)
    }
}

/// What every handler and supervisor shares.
pub(crate) struct Shared {
    pub layout: Layout,
    pub runner_id: String,
    pub token: String,
    pub unpack_limit: u64,
    pub jobs: Mutex<BTreeMap<String, Arc<Job>>>,
    pub docker: docker::engine::Engine,
    pub gpus: Vec<String>,
    pub supervisors: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    pub fn job(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn all_jobs(&self) -> Vec<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn spawn_supervisor(self: &Arc<Self>, job: Arc<Job>) {
        let shared = self.clone();
        let handle = tokio::spawn(async move { supervise::run(shared, job).await });
        let mut all = self.supervisors.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|h| !h.is_finished());
        all.push(handle);
    }
}

/// NVIDIA GPUs of this host (`nvidia-smi -L`), empty without them.
pub fn detect_gpus() -> Vec<String> {
    std::process::Command::new("nvidia-smi")
        .arg("-L")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with("GPU "))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the daemon until SIGTERM or SIGINT; then stops its jobs gracefully
/// (sealing their logs) and returns.
pub async fn serve(config: RunnerConfig) -> std::io::Result<()> {
    let layout = Layout::create(&config.dir)?;
    let runner_id = layout.runner_id()?;
    let shared = Arc::new(Shared {
        layout,
        runner_id,
        token: config.token.clone(),
        unpack_limit: config.unpack_limit,
        jobs: Mutex::new(BTreeMap::new()),
        docker: docker::engine::Engine::default(),
        gpus: detect_gpus(),
        supervisors: Mutex::new(Vec::new()),
    });
    recover::recover(&shared).await;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let endpoint = RunnerEndpoint {
        pid: std::process::id(),
        url: format!("http://{addr}"),
        version: env!("CARGO_PKG_VERSION").to_string(),
        runner_id: shared.runner_id.clone(),
    };
    let endpoint_path = config.dir.join(ENDPOINT_FILE);
    store::write_json(&endpoint_path, &endpoint)?;
    tracing::info!(url = %endpoint.url, dir = %config.dir.display(), "runner listening");
    let app = http::router(shared.clone());
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    stop_everything(&shared).await;
    if store::read_json::<RunnerEndpoint>(&endpoint_path).is_ok_and(|e| e.pid == endpoint.pid) {
        let _ = std::fs::remove_file(&endpoint_path);
    }
    served
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// On shutdown: every running job is asked to stop; those still running
/// after a short grace are killed, so every log is sealed before exit.
async fn stop_everything(shared: &Arc<Shared>) {
    let request = |abort: bool| {
        for job in shared.all_jobs() {
            if !job.status().is_finished() {
                job.stop.send_replace(Some(StopRequest { abort }));
            }
        }
    };
    request(false);
    let handles: Vec<_> =
        std::mem::take(&mut *shared.supervisors.lock().unwrap_or_else(|p| p.into_inner()));
    let mut all = Box::pin(futures_util::future::join_all(handles));
    if tokio::time::timeout(std::time::Duration::from_secs(10), &mut all)
        .await
        .is_err()
    {
        request(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(20), all).await;
    }
}

/// Reads `<dir>/runner.json` of a runner directory.
pub fn read_endpoint(dir: &Path) -> std::io::Result<RunnerEndpoint> {
    store::read_json(&dir.join(ENDPOINT_FILE))
}
