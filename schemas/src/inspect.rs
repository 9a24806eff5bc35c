//! The JSON documents of the inspection commands (`fleet`, `volume`,
//! `gateway` `list|get --json`, `ps --json`, `run get --json`): typed,
//! versioned like the plan (`format_version`), with checked-in schemas in
//! `schemas/json/` (`dstack schema fleets`, ...).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The format version of every inspection document. The major part changes
/// only when a field is removed or changes meaning.
pub const INSPECT_FORMAT_VERSION: &str = "1.0";

/// Names of the inspection schemas, as `dstack schema NAME` takes them.
pub const INSPECT_SCHEMA_NAMES: &[&str] = &["resources", "resource", "runs", "run"];

/// `dstack fleet|volume|gateway [list] --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceListDoc {
    /// [`INSPECT_FORMAT_VERSION`].
    pub format_version: String,
    /// `fleet`, `volume` or `gateway`.
    pub kind: String,
    /// Every recorded resource of that kind, newest first.
    pub items: Vec<ResourceView>,
}

/// `dstack fleet|volume|gateway get NAME --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceDoc {
    /// [`INSPECT_FORMAT_VERSION`].
    pub format_version: String,
    /// The resource.
    pub resource: ResourceView,
}

/// A fleet, volume or gateway as recorded in state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceView {
    /// Its name.
    pub name: String,
    /// Its address (`fleet/NAME`, `volume/NAME`, `gateway/NAME`).
    pub address: String,
    /// `fleet`, `volume` or `gateway`.
    pub kind: String,
    /// Lifecycle status (`active`, `creating`, ...).
    pub status: String,
    /// Backend that holds it (a fleet's: that of its instances).
    pub backend: Option<String>,
    /// Region (a fleet's: that of its instances).
    pub region: Option<String>,
    /// The backend's id.
    pub provider_id: Option<String>,
    /// Price per hour (a fleet's: the sum of its instances').
    pub price_per_hour: Option<f64>,
    /// When first recorded (ms since epoch).
    pub created_at: i64,
    /// The spec it was created from (secret-free).
    pub spec: serde_json::Value,
    /// Backend data (IPs, zone, size, ...).
    pub data: serde_json::Value,
    /// A fleet's instances (empty for volumes and gateways).
    pub instances: Vec<InstanceView>,
    /// Fleets and runs that use a volume or gateway (by address).
    pub used_by: Vec<String>,
}

/// One instance of a fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InstanceView {
    /// Its number in the fleet (`fleet delete NAME -i NUM`).
    pub num: u32,
    /// Its address (`fleet/NAME/instance/N`).
    pub address: String,
    /// `active`, `creating`, ... and `busy` while a job runs on it.
    pub status: String,
    /// Backend.
    pub backend: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Instance type.
    pub instance_type: Option<String>,
    /// CPUs, memory, GPUs, e.g. `4xCPU, 16GB, 1xA10G (24GB)`.
    pub resources: Option<String>,
    /// Spot (`true`) or on-demand (`false`), when known.
    pub spot: Option<bool>,
    /// Price per hour.
    pub price_per_hour: Option<f64>,
    /// The backend's id.
    pub provider_id: Option<String>,
    /// Jobs placed on it that have not finished (by address).
    pub jobs: Vec<String>,
}

/// `dstack ps --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunListDoc {
    /// [`INSPECT_FORMAT_VERSION`].
    pub format_version: String,
    /// The runs selected (`-a`, `-n`), newest first.
    pub runs: Vec<RunView>,
}

/// `dstack run get NAME --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunDoc {
    /// [`INSPECT_FORMAT_VERSION`].
    pub format_version: String,
    /// The run.
    pub run: RunView,
    /// Its spec as recorded, with registry passwords and literal values of
    /// secret-looking variables redacted (`${{ secrets.NAME }}` references
    /// are kept: they hold no secret).
    pub spec: serde_json::Value,
}

/// A run with its jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunView {
    /// Run name.
    pub name: String,
    /// `task`, `service`, `dev-environment` or `workflow`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Status as its jobs say.
    pub status: String,
    /// What people see (`exited (0)`, `stopped`, ...).
    pub status_message: String,
    /// Why it ended (the first job's termination reason), once it has.
    pub reason: Option<String>,
    /// Backend of its (first) instance.
    pub backend: String,
    /// Price per hour of its (first) instance, when known.
    pub price_per_hour: Option<f64>,
    /// Submission time (ms since epoch).
    pub submitted_at: i64,
    /// Its jobs.
    pub jobs: Vec<JobView>,
}

/// One job of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobView {
    /// `run/NAME/job/N`.
    pub address: String,
    /// Status word.
    pub status: String,
    /// What people see.
    pub status_message: String,
    /// Exit code, once exited.
    pub exit_code: Option<i64>,
    /// Termination reason.
    pub reason: Option<String>,
    /// A sentence about how it ended.
    pub message: Option<String>,
    /// Where it runs (`fleet/NAME/instance/N`).
    pub instance: Option<String>,
    /// Backend of that instance.
    pub backend: Option<String>,
    /// Region of that instance.
    pub region: Option<String>,
    /// Resources of that instance.
    pub resources: Option<String>,
    /// Price per hour of that instance.
    pub price_per_hour: Option<f64>,
    /// Published ports, as the runner reports them.
    pub ports: serde_json::Value,
    /// Every submission (each time the job ran), oldest first.
    pub submissions: Vec<SubmissionView>,
}

/// One submission of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubmissionView {
    /// 0 for the first (`dstack logs --submission N`).
    pub number: u32,
    /// The runner's job id.
    pub id: String,
    /// The instance whose runner ran it.
    pub instance: Option<String>,
    /// When recorded (ms since epoch).
    pub submitted_at: i64,
    /// State holds its whole log.
    pub log_complete: bool,
}

/// The JSON Schema of an inspection document (see [`INSPECT_SCHEMA_NAMES`]).
pub fn inspect_schema_for(name: &str) -> Option<serde_json::Value> {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    Some(
        match name {
            "resources" => generator.into_root_schema_for::<ResourceListDoc>(),
            "resource" => generator.into_root_schema_for::<ResourceDoc>(),
            "runs" => generator.into_root_schema_for::<RunListDoc>(),
            "run" => generator.into_root_schema_for::<RunDoc>(),
            _ => return None,
        }
        .to_value(),
    )
}
