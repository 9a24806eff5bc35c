//! Normalised specs of the resources that are not configurations
//! themselves: fleet instances and run jobs. (Fleets, volumes, gateways and
//! runs are specified by their normalised [`crate::config::Configuration`].)

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One instance of a fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InstanceSpec {
    /// Fleet name.
    pub fleet: String,
    /// Index in the fleet.
    pub index: u32,
    /// For SSH fleets: the host (`user@host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Created for this run (elastic fleets grow for runs); idle timeouts apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_run: Option<String>,
}

/// One job of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobSpec {
    /// Run name.
    pub run: String,
    /// Job number (0 is the master).
    pub index: u32,
    /// Node group or replica group name.
    pub group: String,
    /// Replica number (services) or 0.
    pub replica: u32,
    /// Rank among the run's nodes (tasks) or 0.
    pub node_rank: u32,
    /// Fingerprint of what the job runs (image, commands, env, resources...);
    /// a change replaces the job.
    pub deployment: String,
}
