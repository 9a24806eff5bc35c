//! `JobRuntime`: how apply starts and stops jobs (through the runner on an
//! instance in production, a fake in tests). The apply engine records what
//! the runtime reports; it does not know how jobs run.

use dstack_schemas::status::JobStatus;
use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::config::Configuration;
use dstack_schemas::recorded::{InstanceData, JobRuntimeData, VolumeData};
use dstack_schemas::spec::JobSpec;

pub use super::runtime_error::{RuntimeError, RuntimeErrorKind};

/// Where a job goes.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceTarget {
    /// Instance address (`fleet/local/instance/0` for this machine).
    pub address: ResourceAddr,
    /// Backend of the instance.
    pub provider: Option<String>,
    /// Backend id.
    pub provider_id: Option<String>,
    /// Backend data (host name, runner endpoint and token, ...).
    pub data: InstanceData,
}

pub use dstack_planner::recorded::job_instance;

/// The instance at `address` as the runtime needs it: this machine for the
/// `local` fleet, else the recorded row's backend, id and data.
pub fn instance_target(
    state: &dyn dstack_state::StateStore,
    address: &ResourceAddr,
) -> Result<InstanceTarget, String> {
    if address == &ResourceAddr::Instance(dstack_planner::desired::LOCAL_FLEET.into(), 0) {
        return Ok(InstanceTarget {
            address: address.clone(),
            provider: Some("local".into()),
            provider_id: Some("local".into()),
            data: InstanceData::default(),
        });
    }
    let row = state
        .get(address)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{address} is not recorded (was its creation skipped?)"))?;
    Ok(InstanceTarget {
        address: address.clone(),
        data: row.instance_data(),
        provider: row.provider,
        provider_id: row.provider_id,
    })
}

/// A volume mounted into a job.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumeTarget {
    /// Volume name.
    pub name: String,
    /// Backend id (for `local`: the directory).
    pub provider_id: Option<String>,
    /// Backend data.
    pub data: VolumeData,
}

/// Everything needed to start one job.
#[derive(Debug, Clone)]
pub struct JobLaunch {
    /// Job address.
    pub address: ResourceAddr,
    /// The job.
    pub job: JobSpec,
    /// The run's normalised configuration, with secrets still as references.
    pub config: Configuration,
    /// Where.
    pub instance: InstanceTarget,
    /// Network volumes by name.
    pub volumes: Vec<VolumeTarget>,
    /// Environment values resolved at apply time (inherited `NAME`s).
    pub env: BTreeMap<String, String>,
    /// Idempotency token of this submission.
    pub token: String,
    /// Submission number (0 first; a replaced job increments it).
    pub submission: u32,
    /// Directory of the configuration file (for `files:` and the repo).
    pub config_dir: std::path::PathBuf,
}

/// What the runtime says about a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    /// Runtime job id.
    pub id: String,
    /// As the runner says.
    pub status: JobStatus,
    /// Exit code, when finished.
    pub exit_code: Option<i32>,
    /// Why it ended, when it did.
    pub reason: Option<String>,
    /// Runtime data (message, ports, timestamps, ...).
    pub data: JobRuntimeData,
}

/// A line of a job's log as a runtime serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeLogLine {
    /// Byte offset in the job's log (resume after it).
    pub offset: u64,
    /// Unix ms.
    pub timestamp: i64,
    /// `out`, `err` or `sys`.
    pub stream: String,
    /// The text.
    pub text: String,
}

/// A page of a job's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeLogPage {
    /// Lines from the requested offset.
    pub lines: Vec<RuntimeLogLine>,
    /// Offset to ask for next.
    pub next: u64,
    /// The log is complete (the job has ended and everything is here).
    pub sealed: bool,
}

/// Starts and stops jobs.
#[async_trait]
pub trait JobRuntime: Send + Sync {
    /// Runtime name (recorded as the job's provider).
    fn name(&self) -> &str;

    /// Starts a job (idempotent by `launch.token`).
    async fn submit(&self, launch: &JobLaunch) -> Result<JobState, RuntimeError>;

    /// Stops a job; `abort` skips the graceful stop. `Ok` when already ended.
    async fn stop(
        &self,
        job_id: &str,
        instance: &InstanceTarget,
        abort: bool,
    ) -> Result<JobState, RuntimeError>;

    /// The job's current state.
    async fn status(
        &self,
        job_id: &str,
        instance: &InstanceTarget,
    ) -> Result<JobState, RuntimeError>;

    /// The job's log from `offset`, waiting up to `wait` for new lines.
    /// Runtimes without logs answer an empty, sealed page.
    async fn logs(
        &self,
        job_id: &str,
        instance: &InstanceTarget,
        offset: u64,
        wait: std::time::Duration,
    ) -> Result<RuntimeLogPage, RuntimeError> {
        let _ = (job_id, instance, wait);
        Ok(RuntimeLogPage {
            lines: Vec::new(),
            next: offset,
            sealed: true,
        })
    }
}

/// A runtime that "runs" jobs instantly: each ends `done` (or `running`
/// when `long_running`). For planner tests and benchmarks.
#[derive(Default)]
pub struct FakeRuntime {
    long_running: bool,
    jobs: Mutex<BTreeMap<String, JobState>>,
}

impl FakeRuntime {
    /// Jobs finish at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Jobs keep running until stopped.
    pub fn long_running() -> Self {
        Self {
            long_running: true,
            ..Self::default()
        }
    }
}

#[async_trait]
impl JobRuntime for FakeRuntime {
    fn name(&self) -> &str {
        "fake-runtime"
    }

    async fn submit(&self, launch: &JobLaunch) -> Result<JobState, RuntimeError> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let id = format!(
            "job-{}",
            launch.token.chars().rev().take(8).collect::<String>()
        );
        let state = jobs.entry(id.clone()).or_insert_with(|| JobState {
            id: id.clone(),
            status: if self.long_running {
                JobStatus::Running
            } else {
                JobStatus::Done
            },
            exit_code: (!self.long_running).then_some(0),
            reason: None,
            data: JobRuntimeData::default(),
        });
        Ok(state.clone())
    }

    async fn stop(
        &self,
        job_id: &str,
        _instance: &InstanceTarget,
        _abort: bool,
    ) -> Result<JobState, RuntimeError> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        let state = jobs.entry(job_id.to_string()).or_insert_with(|| JobState {
            id: job_id.to_string(),
            status: JobStatus::Terminated,
            exit_code: None,
            reason: Some("stopped".into()),
            data: JobRuntimeData::default(),
        });
        if state.status == JobStatus::Running {
            state.status = JobStatus::Terminated;
            state.reason = Some("stopped".into());
        }
        Ok(state.clone())
    }

    async fn status(
        &self,
        job_id: &str,
        _instance: &InstanceTarget,
    ) -> Result<JobState, RuntimeError> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(job_id)
            .cloned()
            .ok_or_else(|| RuntimeError::not_found(format!("no job {job_id}")))
    }
}
