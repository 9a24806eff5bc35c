//! `type: fleet` (spec §2.5): cloud fleets (`nodes`) and SSH fleets
//! (`ssh_config`) that runs land on.

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, Fields, FromYaml};
use super::enums::Placement;
use super::env_list::EnvList;
use super::grammar_values::count_range;
use super::limits::{Counted, check_written_count};
use super::profile::ProfileParams;
use super::resources::Resources;
use crate::diag::Diagnostic;
use crate::grammar::{Range, ResourceName};
use crate::yaml::{Node, Value};

/// Profile keys a cloud fleet accepts.
pub const FLEET_PROFILE_KEYS: &[&str] = &[
    "reservation",
    "backends",
    "regions",
    "availability_zones",
    "instance_types",
    "spot_policy",
    "retry",
    "max_price",
    "idle_duration",
    "tags",
    "backend_options",
];

/// A pool of instances.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FleetConfig {
    /// Fleet name.
    pub name: Option<ResourceName>,
    /// `any` or `cluster`.
    pub placement: Option<Placement>,
    /// Split each instance into this many shares.
    pub blocks: Option<Blocks>,
    /// Cloud fleet size.
    pub nodes: Option<FleetNodes>,
    /// Resources of each instance.
    pub resources: Option<Resources>,
    /// SSH fleet hosts.
    pub ssh_config: Option<SshConfig>,
    /// Environment for SSH fleet hosts.
    #[serde(skip_serializing_if = "env_is_empty")]
    #[schemars(with = "Option<EnvList>")]
    pub env: EnvList,
    /// Profile parameters (the fleet subset).
    #[serde(flatten)]
    pub profile: ProfileParams,
}

fn env_is_empty(env: &EnvList) -> bool {
    env.0.is_empty()
}

/// How many instances a cloud fleet has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct FleetNodes {
    /// Instances kept at all times.
    pub min: u32,
    /// Instances created at first apply (default: `min`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<u32>,
    /// Most instances (none: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

impl FleetNodes {
    /// Instances to have right after apply.
    pub fn initial(&self) -> u32 {
        self.target.unwrap_or(self.min)
    }
}

impl std::fmt::Display for FleetNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let range = Range {
            min: Some(self.min),
            max: self.max,
        };
        match self.target {
            Some(t) if t != self.min => write!(f, "{range} (target {t})"),
            _ => write!(f, "{range}"),
        }
    }
}

impl JsonSchema for FleetNodes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FleetNodes".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "examples": ["2", "0..4", "1.."] },
                { "type": "object", "additionalProperties": false, "properties": {
                    "min": { "type": ["integer", "null"], "minimum": 0 },
                    "target": { "type": ["integer", "null"], "minimum": 0 },
                    "max": { "type": ["integer", "null"], "minimum": 0 }
                } }
            ],
            "description": "instances: `2`, `0..4`, or `{min, target, max}`"
        })
    }
}

impl FromYaml for FleetNodes {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        if !check_written_count(cx, node, Counted::FleetNodes) {
            return None;
        }
        let (range, target) = match &node.value {
            Value::Map(entries) if entries.iter().any(|e| e.key == "target") => {
                let f = cx.fields(node, "nodes", &["min", "target", "max"])?;
                let min: Option<u32> = f.opt(cx, "min");
                let max: Option<u32> = f.opt(cx, "max");
                let target: Option<u32> = f.opt(cx, "target");
                (Range { min, max }, target)
            }
            _ => (count_range(node, cx, "node count")?, None),
        };
        let nodes = FleetNodes {
            min: range.min.unwrap_or(0),
            target,
            max: range.max,
        };
        let t = nodes.initial();
        if nodes.max.is_some_and(|max| nodes.min > max)
            || nodes.max.is_some_and(|max| t > max)
            || t < nodes.min
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_nodes",
                    "fleet nodes must satisfy min ≤ target ≤ max",
                )
                .at(
                    node.span,
                    format!(
                        "min {} target {t} max {}",
                        nodes.min,
                        nodes.max.map_or("∞".into(), |m| m.to_string())
                    ),
                ),
            );
            return None;
        }
        Some(nodes)
    }
}

/// `blocks: N | auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Blocks {
    /// A fixed number of shares.
    Count(u32),
    /// As many as CPUs or GPUs allow.
    Auto(AutoBlocks),
}

/// The word `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub enum AutoBlocks {
    /// `auto`.
    #[serde(rename = "auto")]
    Auto,
}

impl FromYaml for Blocks {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        if node.as_str() == Some("auto") {
            return Some(Self::Auto(AutoBlocks::Auto));
        }
        let n = u32::from_yaml(node, cx)?;
        if n == 0 {
            cx.push(
                Diagnostic::error(
                    "dstack::config::out_of_range",
                    "`blocks` must be at least 1",
                )
                .at(node.span, "here"),
            );
            return None;
        }
        Some(Self::Count(n))
    }
}

/// `ssh_config:` of an SSH fleet.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SshConfig {
    /// Default SSH user.
    pub user: Option<String>,
    /// Default SSH port.
    pub port: Option<u16>,
    /// Default private key path.
    pub identity_file: Option<String>,
    /// Jump host.
    pub proxy_jump: Option<ProxyJump>,
    /// Hosts of the fleet.
    #[schemars(schema_with = "super::json::list_of_or_string::<SshHost>")]
    pub hosts: Vec<SshHost>,
    /// Private network (`ip/mask`) used between hosts.
    pub network: Option<String>,
}

/// A jump host.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProxyJump {
    /// Host name or IP.
    pub hostname: String,
    /// Port.
    pub port: Option<u16>,
    /// User.
    pub user: Option<String>,
    /// Private key path.
    pub identity_file: Option<String>,
}

/// One host of an SSH fleet: `hostname` or a mapping.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SshHost {
    /// Host name or IP.
    pub hostname: String,
    /// Port.
    pub port: Option<u16>,
    /// User.
    pub user: Option<String>,
    /// Private key path.
    pub identity_file: Option<String>,
    /// Jump host.
    pub proxy_jump: Option<ProxyJump>,
    /// Private IP.
    pub internal_ip: Option<String>,
    /// Shares of this host.
    pub blocks: Option<Blocks>,
}

impl FromYaml for ProxyJump {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "proxy_jump",
            &["hostname", "port", "user", "identity_file"],
        )?;
        Some(Self {
            hostname: f.req(cx, "hostname")?,
            port: f.opt(cx, "port"),
            user: f.opt(cx, "user"),
            identity_file: f.opt(cx, "identity_file"),
        })
    }
}

impl FromYaml for SshHost {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        if let Value::Str(hostname) = &node.value {
            return Some(Self {
                hostname: hostname.clone(),
                port: None,
                user: None,
                identity_file: None,
                proxy_jump: None,
                internal_ip: None,
                blocks: None,
            });
        }
        let f = cx.fields(
            node,
            "SSH host",
            &[
                "hostname",
                "port",
                "user",
                "identity_file",
                "proxy_jump",
                "internal_ip",
                "blocks",
            ],
        )?;
        Some(Self {
            hostname: f.req(cx, "hostname")?,
            port: f.opt(cx, "port"),
            user: f.opt(cx, "user"),
            identity_file: f.opt(cx, "identity_file"),
            proxy_jump: f.opt(cx, "proxy_jump"),
            internal_ip: f.opt(cx, "internal_ip"),
            blocks: f.opt(cx, "blocks"),
        })
    }
}

impl FromYaml for SshConfig {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "ssh_config",
            &[
                "user",
                "port",
                "identity_file",
                "proxy_jump",
                "hosts",
                "network",
            ],
        )?;
        let config = Self {
            user: f.opt(cx, "user"),
            port: f.opt(cx, "port"),
            identity_file: f.opt(cx, "identity_file"),
            proxy_jump: f.opt(cx, "proxy_jump"),
            hosts: f.req(cx, "hosts")?,
            network: f.opt(cx, "network"),
        };
        if config.hosts.is_empty() {
            cx.push(
                Diagnostic::error("dstack::config::invalid_hosts", "`hosts` is empty")
                    .at(f.key_span("hosts"), "no hosts"),
            );
        }
        let with_ip = config
            .hosts
            .iter()
            .filter(|h| h.internal_ip.is_some())
            .count();
        if with_ip != 0 && with_ip != config.hosts.len() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_hosts",
                    "`internal_ip` must be set on all hosts or none",
                )
                .at(f.key_span("hosts"), "here"),
            );
        }
        if with_ip != 0 && config.network.is_some() {
            f.exclusive(cx, "hosts", "network");
        }
        Some(config)
    }
}

impl FromYaml for FleetConfig {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let mut keys = vec![
            "type",
            "name",
            "placement",
            "blocks",
            "nodes",
            "resources",
            "ssh_config",
            "env",
        ];
        keys.extend_from_slice(FLEET_PROFILE_KEYS);
        let f = cx.fields(node, "fleet", &keys)?;
        let fleet = FleetConfig {
            name: f.opt(cx, "name"),
            placement: f.opt(cx, "placement"),
            blocks: f.opt(cx, "blocks"),
            nodes: f.opt(cx, "nodes"),
            resources: f.opt(cx, "resources"),
            ssh_config: f.opt(cx, "ssh_config"),
            env: f.opt(cx, "env").unwrap_or_default(),
            profile: ProfileParams::read(&f, cx, FLEET_PROFILE_KEYS),
        };
        fleet.check_flavour(&f, cx);
        Some(fleet)
    }
}

impl FleetConfig {
    /// True for an SSH fleet.
    pub fn is_ssh(&self) -> bool {
        self.ssh_config.is_some()
    }

    fn check_flavour(&self, f: &Fields, cx: &mut Cx) {
        match (f.has("nodes"), f.has("ssh_config")) {
            (false, false) => cx.push(
                Diagnostic::error("dstack::config::fleet_flavour", "a fleet needs `nodes` (cloud) or `ssh_config` (SSH hosts)")
                    .at(f.key_span("type"), "neither set")
                    .help("add `nodes: 1` for a cloud fleet, or `ssh_config: {hosts: [...]}` for your own machines"),
            ),
            (true, true) => {
                f.exclusive(cx, "nodes", "ssh_config");
            }
            (true, false) => {
                if f.has("env") {
                    cx.push(
                        Diagnostic::error("dstack::config::fleet_flavour", "`env` is supported for SSH fleets only")
                            .at(f.key_span("env"), "cloud fleet")
                            .help("set environment variables on the runs instead"),
                    );
                }
            }
            (false, true) => {
                let cloud_only = FLEET_PROFILE_KEYS.iter().chain(["resources"].iter()).copied();
                for key in cloud_only {
                    if f.has(key) {
                        cx.push(
                            Diagnostic::error("dstack::config::fleet_flavour", format!("`{key}` applies to cloud fleets, not SSH fleets"))
                                .at(f.key_span(key), "SSH fleet")
                                .help(format!("remove `{key}`; SSH hosts are used as they are")),
                        );
                    }
                }
            }
        }
    }
}
