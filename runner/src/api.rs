//! The runner's HTTP API: every value that crosses it, and the paths.
//! The daemon and the client both use these types, so they cannot drift.
//!
//! | method | path | body → reply |
//! |---|---|---|
//! | GET | `/api/health` | → [`Health`] |
//! | HEAD/PUT | `/api/archives/{sha256}` | tar.gz bytes (verified against the name) |
//! | POST | `/api/jobs` | [`JobSubmission`] → [`JobInfo`] (idempotent by `token`) |
//! | GET | `/api/jobs` | → `[JobInfo]` |
//! | GET | `/api/jobs/{id}` | → [`JobInfo`] |
//! | GET | `/api/jobs/{id}/logs?offset=&wait_ms=&limit=` | → [`LogPage`] (long poll) |
//! | POST | `/api/jobs/{id}/stop` | [`StopRequest`] → [`JobInfo`] |
//! | GET | `/api/jobs/{id}/artifacts` | → tar.gz of the saved artifacts |
//! | DELETE | `/api/jobs/{id}` | removes a finished job and its files |
//!
//! Every request carries `Authorization: Bearer <token>`; errors are
//! [`ApiError`] bodies with a non-2xx status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of this API; the client refuses a runner speaking another.
pub const API_VERSION: u32 = 1;

/// Default TCP port of a runner on a cloud instance.
pub const DEFAULT_PORT: u16 = 10999;

/// Where a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    /// A container of the local Docker engine.
    Docker,
    /// A plain process group on the host.
    Process,
}

impl ExecutorKind {
    /// The lowercase word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Process => "process",
        }
    }
}

/// When the Docker executor pulls the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    /// Only when the host does not have it.
    #[default]
    Missing,
    /// Every time (the host's copy may be stale).
    Always,
    /// Never: a missing image fails the job.
    Never,
}

impl PullPolicy {
    /// From the word used in `.dstack/backends.yml`.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "missing" => Some(Self::Missing),
            "always" => Some(Self::Always),
            "never" => Some(Self::Never),
            _ => None,
        }
    }
}

/// A port the job listens on and where the host publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    /// Port inside the job.
    pub container: u16,
    /// Port on the host's loopback (`None`: the same number if free, else any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<u16>,
}

/// A host path mounted into the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Host path (a volume's directory or an instance path).
    pub source: String,
    /// Absolute path in the job.
    pub target: String,
    /// Mounted read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// An uploaded archive unpacked into the job before it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveMount {
    /// SHA-256 of the tar.gz, as uploaded to `/api/archives/{sha256}`.
    pub archive: String,
    /// Where to unpack: relative paths are under the working directory.
    pub path: String,
    /// What it is (`repo`, `files`, `artifacts of prepare`), for logs.
    #[serde(default)]
    pub label: String,
}

/// Resource limits of a job (`None`: no limit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// CPUs (fractions allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Memory in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Shared memory (`/dev/shm`) in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_mb: Option<u64>,
    /// GPUs to hand to the job (NVIDIA, when the host has them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<u32>,
}

/// Everything a runner needs to run one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSubmission {
    /// Idempotency token: a second submission with it returns the same job.
    pub token: String,
    /// Run name (for people and labels).
    pub run_name: String,
    /// Job name, e.g. `train-0-0`.
    pub job_name: String,
    /// Docker or host process.
    pub executor: ExecutorKind,
    /// Image (Docker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// When to pull the image.
    #[serde(default)]
    pub pull_policy: PullPolicy,
    /// argv; empty runs the image's own entrypoint (Docker only).
    pub command: Vec<String>,
    /// Environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory; relative to the job's repo directory. `None`:
    /// the repo directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `user[:group]` (Docker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Privileged container.
    #[serde(default)]
    pub privileged: bool,
    /// Ports to publish on the host's loopback.
    #[serde(default)]
    pub ports: Vec<PortRequest>,
    /// Host paths to mount.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Archives unpacked before start (repo, files, artifacts of deps).
    #[serde(default)]
    pub archives: Vec<ArchiveMount>,
    /// Paths (relative to the working directory) saved when the job ends.
    #[serde(default)]
    pub artifacts: Vec<String>,
    /// Ended as `terminated` (`max_duration_exceeded`) after this long running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_secs: Option<u64>,
    /// Time between the graceful stop signal and the kill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_secs: Option<u64>,
}

/// Lifecycle of a job on a runner (defined with the other statuses).
pub use dstack_schemas::status::JobStatus;

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// Port in the job.
    pub container: u16,
    /// Host address.
    pub host_ip: String,
    /// Host port.
    pub host: u16,
    /// Where the socket reaching the job is bound (`0.0.0.0:8000`,
    /// `127.0.0.1:8000`), once the runner has seen it. For a Docker job
    /// the published port; for a host process whatever it bound itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

/// A saved artifact path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    /// Path as requested.
    pub path: String,
    /// Files saved under it.
    pub files: u64,
    /// Bytes saved.
    pub bytes: u64,
}

/// What a runner knows about a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    /// Job id on this runner (derived from the token).
    pub id: String,
    /// Submission token.
    pub token: String,
    /// Run name.
    pub run_name: String,
    /// Job name.
    pub job_name: String,
    /// Executor.
    pub executor: ExecutorKind,
    /// Status.
    pub status: JobStatus,
    /// Exit code, once exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Termination reason (dstack's words: `done_by_runner`,
    /// `container_exited_with_error`, `terminated_by_user`,
    /// `aborted_by_user`, `max_duration_exceeded`, `executor_error`,
    /// `creating_container_error`, `runner_restarted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A sentence for people about how it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Unix ms.
    pub submitted_at: i64,
    /// Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    /// Published ports.
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    /// Bytes of log written so far.
    #[serde(default)]
    pub log_bytes: u64,
    /// The log is complete and durable.
    #[serde(default)]
    pub sealed: bool,
    /// Artifacts saved (when finished).
    #[serde(default)]
    pub artifacts: Vec<ArtifactInfo>,
    /// Host process group (process executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid: Option<i32>,
    /// Container id (Docker executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl JobInfo {
    /// A job just accepted (or one whose record was lost).
    pub fn submitted(submission: &JobSubmission, now_ms: i64) -> Self {
        Self {
            id: job_id_for_token(&submission.token),
            token: submission.token.clone(),
            run_name: submission.run_name.clone(),
            job_name: submission.job_name.clone(),
            executor: submission.executor,
            status: JobStatus::Submitted,
            exit_code: None,
            reason: None,
            message: None,
            submitted_at: now_ms,
            started_at: None,
            finished_at: None,
            ports: Vec::new(),
            log_bytes: 0,
            sealed: false,
            artifacts: Vec::new(),
            pgid: None,
            container: None,
        }
    }
}

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogStream {
    /// Standard output.
    #[serde(rename = "out")]
    Stdout,
    /// Standard error.
    #[serde(rename = "err")]
    Stderr,
    /// The runner itself (pulling, exit, stop).
    #[serde(rename = "sys")]
    Runner,
}

impl LogStream {
    /// `out`, `err` or `sys`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Stdout => "out",
            Self::Stderr => "err",
            Self::Runner => "sys",
        }
    }
}

/// One line of a job's log as stored (one JSON object per line on disk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Unix ms.
    pub t: i64,
    /// Stream.
    pub s: LogStream,
    /// Text, without the line break.
    pub m: String,
}

/// A log line and its byte offset in the job's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Byte offset of the line (stable; resume with `offset`).
    pub offset: u64,
    /// The line.
    #[serde(flatten)]
    pub record: LogRecord,
}

/// A page of log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    /// Lines from the requested offset.
    pub entries: Vec<LogEntry>,
    /// Offset to ask for next.
    pub next: u64,
    /// The log is complete and `next` is its end.
    pub sealed: bool,
}

/// How to stop a job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRequest {
    /// Kill at once, skipping the graceful stop.
    #[serde(default)]
    pub abort: bool,
}

/// The runner's self-description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `dstack-runner` version.
    pub version: String,
    /// [`API_VERSION`].
    pub api: u32,
    /// Id fixed when the runner's directory was created.
    pub runner_id: String,
    /// Process id.
    pub pid: u32,
    /// Executors available now.
    pub executors: Vec<ExecutorKind>,
    /// Docker engine version, when reachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<String>,
    /// Why Docker is not available, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_error: Option<String>,
    /// NVIDIA GPUs (`nvidia-smi -L`).
    #[serde(default)]
    pub gpus: Vec<String>,
    /// Jobs not finished.
    pub active_jobs: usize,
}

/// An error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine word: `unauthorized`, `not_found`, `bad_request`,
    /// `conflict`, `unavailable`, `internal`.
    pub error: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// The job id a token maps to (`j` + 16 hex digits of its SHA-256).
pub fn job_id_for_token(token: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(token.as_bytes());
    format!("j{}", &hex::encode(hash)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_stable_and_distinct() {
        assert_eq!(job_id_for_token("a"), job_id_for_token("a"));
        assert_ne!(job_id_for_token("a"), job_id_for_token("b"));
        assert_eq!(job_id_for_token("a").len(), 17);
    }

    #[test]
    fn log_entries_flatten_the_record() {
        let entry = LogEntry {
            offset: 7,
            record: LogRecord {
                t: 1,
                s: LogStream::Stderr,
                m: "x".into(),
            },
        };
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(json, r#"{"offset":7,"t":1,"s":"err","m":"x"}"#);
        assert_eq!(serde_json::from_str::<LogEntry>(&json).unwrap(), entry);
    }
}
