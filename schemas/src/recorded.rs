//! The typed shape of a recorded row's `data`, one struct per resource kind:
//! what apply, sync and providers write there and what the planner, engine
//! and CLI read back. Each keeps the keys it does not know in `extra`, so a
//! row rewritten through these types loses nothing a provider recorded.
//! The JSON shape is the one rows held before the types existed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where an instance's dstack-runner listens and the token it wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerEndpoint {
    /// `http://IP:PORT`.
    pub url: String,
    /// Bearer token of the runner's API.
    pub token: String,
}

/// One SSH server on the way to an instance: the host itself or a jump
/// host, with the host key pinned on first use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshHop {
    /// Host name or address.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Private key file (absolute path on the machine that connects).
    pub identity_file: String,
    /// The host key recorded on first connect (an OpenSSH public-key
    /// line); a host presenting another key is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
}

/// How an instance is reached over SSH (SSH fleet hosts, and cloud
/// instances once their runner is installed over SSH): the host, the jump
/// hosts outermost first, and the loopback port its runner listens on
/// (reached through a tunnel, never over the network).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshAccess {
    /// The host itself.
    pub host: SshHop,
    /// `proxy_jump` hosts, in the order they are connected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jumps: Vec<SshHop>,
    /// The runner's port on the host's loopback.
    pub runner_port: u16,
}

/// An instance's data: its runner endpoint and the backend's own facts
/// (IPs, zone, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceData {
    /// The runner on the instance, when its backend runs one. With `ssh`
    /// set, only its token is used: the runner is reached through a tunnel
    /// to `ssh.runner_port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<RunnerEndpoint>,
    /// How the host is reached over SSH, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshAccess>,
    /// Everything else the backend recorded.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A volume attached to an instance for a job (detached when it stops).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedVolume {
    /// Volume name.
    #[serde(default)]
    pub name: Option<String>,
    /// Backend that attached it.
    #[serde(default)]
    pub backend: Option<String>,
    /// The backend's volume id.
    #[serde(default)]
    pub volume_id: Option<String>,
    /// The backend's instance id it is attached to.
    #[serde(default)]
    pub instance_id: Option<String>,
}

/// What the runtime reported about a job (message, ports, timestamps, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobRuntimeData {
    /// The runner's last note about the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Published ports, as the runner lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Value>,
    /// When the runner accepted it (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<i64>,
    /// Everything else the runtime recorded.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl JobRuntimeData {
    /// The published ports, `[]` when none are recorded.
    pub fn ports_or_empty(&self) -> Value {
        self.ports
            .clone()
            .unwrap_or_else(|| Value::Array(Vec::new()))
    }
}

/// A job's data: where apply placed it and what its runtime reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobData {
    /// The instance address it was placed on.
    #[serde(default)]
    pub instance: Option<String>,
    /// Its submission number (0 first).
    #[serde(default)]
    pub submission: Option<u32>,
    /// Exit code, once finished.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Why it ended.
    #[serde(default)]
    pub reason: Option<String>,
    /// What the runtime reported.
    #[serde(default)]
    pub runtime: JobRuntimeData,
    /// The runner job id a rolling replacement still has to stop.
    #[serde(default)]
    pub previous: Option<String>,
    /// Volumes attached for it.
    #[serde(default)]
    pub attached: Vec<AttachedVolume>,
    /// Whether state holds the job's whole log (sync sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_sealed: Option<bool>,
    /// Everything else recorded.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A volume's data: how the runner mounts it, whether dstack only
/// registered it, and the backend's facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeData {
    /// The path the runner mounts (volumes of backends that give one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_source: Option<String>,
    /// Registered, not created: a delete forgets it and leaves it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    /// Everything else the backend recorded.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A gateway's data: its public IP and the backend's facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GatewayData {
    /// Public IP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Everything else the backend recorded.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Decodes a row's `data` as `T`; `null`, a non-object or a misfit gives
/// `T::default()` (rows written before a key existed read as empty).
pub fn decode<T: Default + for<'de> Deserialize<'de>>(data: &Value) -> T {
    if !data.is_object() {
        return T::default();
    }
    T::deserialize(data).unwrap_or_default()
}

/// The JSON a row stores for `data`.
pub fn encode<T: Serialize>(data: &T) -> Value {
    serde_json::to_value(data).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_job_row_of_today_decodes_and_re_encodes_every_key() {
        let row = json!({
            "instance": "fleet/f/instance/0",
            "submission": 2,
            "exit_code": 1,
            "reason": "container_exited_with_error",
            "runtime": {"executor": "docker", "message": "exited", "ports": [{"port": 80}],
                        "submitted_at": 5, "started_at": 6, "finished_at": null,
                        "repo": {"sha256": "ab"}},
            "previous": null,
            "attached": [{"name": "v", "backend": "aws", "volume_id": "vol-1", "instance_id": "i-1"}],
            "logs_sealed": true,
            "custom": {"kept": 1}
        });
        let data: JobData = decode(&row);
        assert_eq!(data.instance.as_deref(), Some("fleet/f/instance/0"));
        assert_eq!(data.submission, Some(2));
        assert_eq!(data.exit_code, Some(1));
        assert_eq!(data.runtime.message.as_deref(), Some("exited"));
        assert_eq!(data.attached[0].volume_id.as_deref(), Some("vol-1"));
        assert_eq!(data.logs_sealed, Some(true));
        assert_eq!(encode(&data), row);
    }

    #[test]
    fn an_instance_row_keeps_its_runner_and_the_backend_keys() {
        let row = json!({"public_ip": "1.2.3.4", "zone": "a",
                         "runner": {"url": "http://1.2.3.4:10999", "token": "t"}});
        let data: InstanceData = decode(&row);
        assert_eq!(
            data.runner,
            Some(RunnerEndpoint {
                url: "http://1.2.3.4:10999".into(),
                token: "t".into()
            })
        );
        assert_eq!(encode(&data), row);
    }

    #[test]
    fn null_and_misfit_data_read_as_empty() {
        assert_eq!(decode::<JobData>(&Value::Null), JobData::default());
        assert_eq!(
            decode::<JobData>(&json!({"exit_code": "x"})),
            JobData::default()
        );
        let volume: VolumeData = decode(&json!({"external": true, "observed": {"a": 1}}));
        assert_eq!(volume.external, Some(true));
        assert_eq!(volume.extra["observed"], json!({"a": 1}));
    }
}
