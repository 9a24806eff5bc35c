//! The recorded-state data model. Plain values; no IO.

use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::money::Usd;
use dstack_schemas::recorded::{self, GatewayData, InstanceData, JobData, VolumeData};
use dstack_schemas::status::Status;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One managed resource as recorded after the last provider call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedResource {
    /// Identity.
    pub address: ResourceAddr,
    /// The normalised spec it was created or last updated from (no secrets).
    pub spec: serde_json::Value,
    /// Fingerprint of `spec` (see the planner's diff).
    pub fingerprint: String,
    /// Backend that holds it (`local`, `aws`, `fake`), if any.
    pub provider: Option<String>,
    /// The backend's id (`i-0abc...`, a directory, a job id).
    pub provider_id: Option<String>,
    /// Lifecycle status (`creating`, `active`, `running`, `done`, `failed`, ...).
    pub status: Status,
    /// Price per hour when created.
    pub price_per_hour: Option<Usd>,
    /// The offer it was created from (backend, region, instance type, ...).
    pub offer: Option<serde_json::Value>,
    /// Backend data (IPs, zone, runner endpoint, exit code, ...).
    pub data: serde_json::Value,
    /// When first recorded (ms since epoch).
    pub created_at: i64,
    /// When last changed (ms since epoch).
    pub updated_at: i64,
    /// Bumped on every write; saved plans record the versions they read.
    pub version: u64,
}

impl RecordedResource {
    /// A fresh record with version 0 (the store assigns the real version).
    pub fn new(address: ResourceAddr, spec: serde_json::Value, fingerprint: String) -> Self {
        let now = now_ms();
        Self {
            address,
            spec,
            fingerprint,
            provider: None,
            provider_id: None,
            status: Status::Creating,
            price_per_hour: None,
            offer: None,
            data: serde_json::Value::Null,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// The kind of the address.
    pub fn kind(&self) -> ResourceKind {
        self.address.kind()
    }

    /// A job row's data, typed (empty for rows without it).
    pub fn job_data(&self) -> JobData {
        recorded::decode(&self.data)
    }

    /// An instance row's data, typed.
    pub fn instance_data(&self) -> InstanceData {
        recorded::decode(&self.data)
    }

    /// A volume row's data, typed.
    pub fn volume_data(&self) -> VolumeData {
        recorded::decode(&self.data)
    }

    /// A gateway row's data, typed.
    pub fn gateway_data(&self) -> GatewayData {
        recorded::decode(&self.data)
    }

    /// Stores typed data as the row's JSON `data`.
    pub fn set_data<T: Serialize>(&mut self, data: &T) {
        self.data = recorded::encode(data);
    }
}

/// A resource `dstack state rm` removed from state on purpose: it still
/// exists, and the tag sweep lists it as an orphan but never adopts it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forgotten {
    /// The address it had.
    pub address: ResourceAddr,
    /// Backend that holds it.
    pub provider: String,
    /// The backend's id.
    pub provider_id: String,
    /// When it was forgotten (ms).
    pub forgotten_at: i64,
}

/// What a write expects to find (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// No row at the address.
    Absent,
    /// A row with exactly this version.
    Version(u64),
    /// Whatever is there.
    Any,
}

impl Expected {
    /// Checks the version found at `address` (`None`: no row) against this
    /// expectation; every store judges writes with this one rule.
    pub fn check(
        self,
        address: &ResourceAddr,
        current: Option<u64>,
    ) -> Result<(), crate::StateError> {
        let ok = match (self, current) {
            (Self::Any, _) | (Self::Absent, None) => true,
            (Self::Version(v), Some(c)) => v == c,
            _ => false,
        };
        if ok {
            return Ok(());
        }
        Err(crate::StateError::Conflict {
            address: address.clone(),
            expected: match self {
                Self::Absent => "no row".into(),
                Self::Version(v) => format!("version {v}"),
                Self::Any => "any".into(),
            },
            found: current.map_or("no row".into(), |v| format!("version {v}")),
        })
    }
}

/// An intent before a provider call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIntent {
    /// The apply this belongs to.
    pub apply_id: String,
    /// The resource acted on.
    pub address: ResourceAddr,
    /// `create`, `update`, `delete`, `submit`, `stop`, ...
    pub operation: String,
    /// Idempotency token passed to the provider (and as a tag).
    pub token: String,
    /// Backend called.
    pub provider: Option<String>,
    /// What is being created (spec, fingerprint, offer), for adoption after a crash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

/// How an intent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentOutcome {
    /// The call succeeded and the state row was written.
    Done,
    /// The call failed; nothing was created.
    Failed,
    /// Found after a crash and adopted into state.
    Adopted,
    /// Found after a crash not to have taken effect.
    Abandoned,
}

impl IntentOutcome {
    /// The stored word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Adopted => "adopted",
            Self::Abandoned => "abandoned",
        }
    }

    /// Parses the stored word.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "done" => Self::Done,
            "failed" => Self::Failed,
            "adopted" => Self::Adopted,
            "abandoned" => Self::Abandoned,
            _ => return None,
        })
    }
}

/// A journal row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Row id.
    pub id: i64,
    /// What was about to happen.
    #[serde(flatten)]
    pub intent: NewIntent,
    /// When written.
    pub started_at: i64,
    /// When completed, if it was.
    pub finished_at: Option<i64>,
    /// How it ended.
    pub outcome: Option<IntentOutcome>,
    /// Error or note.
    pub detail: Option<String>,
}

/// One apply, start to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyRecord {
    /// Apply id.
    pub id: String,
    /// Plan id applied.
    pub plan_id: String,
    /// Who ran it.
    pub holder: String,
    /// `apply` or `destroy`.
    pub operation: String,
    /// Start (ms).
    pub started_at: i64,
    /// End (ms), if it ended.
    pub finished_at: Option<i64>,
    /// `succeeded`, `partial`, `failed`, `interrupted`; none while running.
    pub outcome: Option<String>,
    /// Counts and notes (JSON).
    pub summary: serde_json::Value,
}

/// Who wants the lock, for what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    /// `user@host`.
    pub holder: String,
    /// Process id of the holder (to break locks of dead processes on this host).
    pub pid: u32,
    /// Host name of the holder.
    pub host: String,
    /// `apply`, `destroy`, `state rm`, ...
    pub operation: String,
}

impl LockRequest {
    /// A request for this process.
    pub fn for_this_process(operation: &str) -> Self {
        let host = hostname();
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Self {
            holder: format!("{user}@{host}"),
            pid: std::process::id(),
            host,
            operation: operation.into(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "localhost".into())
}

/// The held lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Lock id (needed by `dstack state unlock ID`).
    pub id: String,
    /// The request that took it.
    #[serde(flatten)]
    pub request: LockRequest,
    /// Since when (ms).
    pub created_at: i64,
}

/// One line of a job's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Job address (`run/NAME/job/N`, or a workflow job's key), as text.
    pub job: String,
    /// The submission it belongs to: the runner's job id. Each time a job
    /// runs again it is a new submission with a log of its own.
    pub submission: String,
    /// Byte offset in the runner's log of that submission.
    pub offset: u64,
    /// Time (ms).
    pub timestamp: i64,
    /// `stdout`, `stderr`, `runner`.
    pub stream: String,
    /// The text, without trailing newline.
    pub text: String,
}

/// One submission of a job: one run of it on a runner, with its own log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSubmission {
    /// Job address (or workflow job key), as text.
    pub job: String,
    /// The runner's job id.
    pub id: String,
    /// Its place among the job's submissions: 0 for the first.
    pub number: u32,
    /// The instance whose runner holds the log, when known.
    pub instance: Option<String>,
    /// Whether state holds the whole log (the runner sealed it and every
    /// line was copied).
    pub sealed: bool,
    /// When first recorded (ms).
    pub recorded_at: i64,
}

/// A run of 2022-format workflows (`dstack run WORKFLOW`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRun {
    /// Run name (`<workflow>-<n>`).
    pub name: String,
    /// The workflow asked for (its deps run too).
    pub workflow: String,
    /// `running`, `done`, `failed`, `terminated`.
    pub status: Status,
    /// Variables each workflow got, by workflow.
    pub variables: serde_json::Value,
    /// The repo it ran on (git facts, archive hash).
    pub repo: serde_json::Value,
    /// Started (ms).
    pub created_at: i64,
    /// Ended (ms).
    pub finished_at: Option<i64>,
}

/// One workflow's job within a [`WorkflowRun`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowJob {
    /// Run name.
    pub run: String,
    /// Workflow name.
    pub workflow: String,
    /// Hash of everything the job's result depends on (spec, variables,
    /// repo, deps' artifacts): equal hashes give equal results.
    pub input_hash: String,
    /// `waiting`, `submitted`, `running`, `done`, `failed`, `terminated`,
    /// `skipped`; `done` also for a job reused from an earlier run.
    pub status: Status,
    /// Exit code, once exited.
    pub exit_code: Option<i32>,
    /// Termination reason or why it was skipped.
    pub reason: Option<String>,
    /// The runner's job id.
    pub runner_job: Option<String>,
    /// Instance it ran on.
    pub instance: Option<String>,
    /// Saved artifacts: `[{path, files, bytes}]`.
    pub artifacts: serde_json::Value,
    /// Hash of the artifacts' archive (dependents' input).
    pub artifacts_sha: Option<String>,
    /// The run whose job this one reuses (inputs were equal).
    pub reused_from: Option<String>,
    /// Submitted (ms).
    pub submitted_at: i64,
    /// Ended (ms).
    pub finished_at: Option<i64>,
}

/// What `ResourceStore::list_run_statuses` (in `store`) keeps of a
/// spec: a run's `type` (when it is a string), nothing of a job's.
pub fn status_spec(
    kind: dstack_schemas::addr::ResourceKind,
    spec: &serde_json::Value,
) -> serde_json::Value {
    match (kind, spec.get("type").and_then(|t| t.as_str())) {
        (dstack_schemas::addr::ResourceKind::Run, Some(t)) => serde_json::json!({ "type": t }),
        _ => serde_json::json!({}),
    }
}

/// The keys of a job's `data` that `ResourceStore::list_run_statuses`
/// (in `store`) leaves out: its
/// history, attachments and runner timestamps (status listings read the
/// instance, exit code, reason, runner message and ports).
pub const STATUS_DATA_DROPPED: &[&str] = &[
    "$.submission",
    "$.previous",
    "$.attached",
    "$.logs_sealed",
    "$.runtime.executor",
    "$.runtime.submitted_at",
    "$.runtime.started_at",
    "$.runtime.finished_at",
];

/// A job's `data` without [`STATUS_DATA_DROPPED`].
pub fn status_data(data: &serde_json::Value) -> serde_json::Value {
    let mut data = data.clone();
    for path in STATUS_DATA_DROPPED {
        let mut keys: Vec<&str> = path.trim_start_matches("$.").split('.').collect();
        let Some(last) = keys.pop() else { continue };
        let parent = keys.iter().try_fold(&mut data, |v, k| v.get_mut(*k));
        if let Some(serde_json::Value::Object(map)) = parent {
            map.shift_remove(last);
        }
    }
    data
}
