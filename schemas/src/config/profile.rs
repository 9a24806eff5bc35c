//! Profile parameters shared by runs, fleets and presets (spec §1):
//! where to run, spot policy, retries, timeouts, price caps, schedules.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, Fields, FromYaml};
use super::enums::{
    BackendType, CreationPolicy, RetryEvent, SpotPolicy, StartupOrder, StopCriteria,
};
use crate::diag::Diagnostic;
use crate::grammar::{Cron, Duration, IdleDuration, OffDuration};
use crate::money::Usd;
use crate::yaml::{Node, Value};

/// Every profile key, in spec order.
pub const PROFILE_KEYS: &[&str] = &[
    "backends",
    "regions",
    "availability_zones",
    "instance_types",
    "reservation",
    "spot_policy",
    "retry",
    "max_duration",
    "stop_duration",
    "max_price",
    "creation_policy",
    "idle_duration",
    "utilization_policy",
    "startup_order",
    "stop_criteria",
    "schedule",
    "fleets",
    "instances",
    "tags",
    "backend_options",
];

/// Profile parameters as written (unset fields are `None`).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema)]
pub struct ProfileParams {
    /// Backends to consider.
    pub backends: Option<Vec<BackendType>>,
    /// Regions to consider (case-insensitive).
    pub regions: Option<Vec<String>>,
    /// Availability zones to consider.
    pub availability_zones: Option<Vec<String>>,
    /// Instance types to consider (case-insensitive exact match).
    pub instance_types: Option<Vec<String>>,
    /// Capacity reservation to use.
    pub reservation: Option<String>,
    /// Spot or on-demand.
    pub spot_policy: Option<SpotPolicy>,
    /// Retry policy.
    pub retry: Option<Retry>,
    /// Longest time a job may run.
    pub max_duration: Option<OffDuration>,
    /// Graceful stop budget.
    pub stop_duration: Option<OffDuration>,
    /// Highest price per instance-hour.
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub max_price: Option<Usd>,
    /// Whether new instances may be provisioned.
    pub creation_policy: Option<CreationPolicy>,
    /// How long idle instances are kept.
    pub idle_duration: Option<IdleDuration>,
    /// Terminate jobs that leave GPUs idle.
    pub utilization_policy: Option<UtilizationPolicy>,
    /// Start order of multi-node jobs.
    pub startup_order: Option<StartupOrder>,
    /// When a multi-node run is done.
    pub stop_criteria: Option<StopCriteria>,
    /// Cron schedule.
    pub schedule: Option<Schedule>,
    /// Fleets the run may use.
    pub fleets: Option<Vec<EntityRef>>,
    /// Instances the run may use.
    pub instances: Option<Vec<InstanceSelector>>,
    /// Tags for cloud resources.
    pub tags: Option<BTreeMap<String, String>>,
    /// Per-backend options.
    pub backend_options: Option<Vec<BackendOptions>>,
}

impl ProfileParams {
    /// Reads the profile keys of `f`, skipping keys not listed in `keys`.
    pub fn read(f: &Fields, cx: &mut Cx, keys: &[&str]) -> Self {
        let on = |k: &str| keys.contains(&k);
        let mut p = ProfileParams {
            backends: on("backends").then(|| f.opt(cx, "backends")).flatten(),
            regions: on("regions").then(|| f.opt(cx, "regions")).flatten(),
            availability_zones: on("availability_zones")
                .then(|| f.opt(cx, "availability_zones"))
                .flatten(),
            instance_types: on("instance_types")
                .then(|| f.opt(cx, "instance_types"))
                .flatten(),
            reservation: on("reservation")
                .then(|| f.opt(cx, "reservation"))
                .flatten(),
            spot_policy: on("spot_policy")
                .then(|| f.opt(cx, "spot_policy"))
                .flatten(),
            retry: on("retry").then(|| f.opt(cx, "retry")).flatten(),
            max_duration: on("max_duration")
                .then(|| f.opt(cx, "max_duration"))
                .flatten(),
            stop_duration: on("stop_duration")
                .then(|| f.opt(cx, "stop_duration"))
                .flatten(),
            max_price: on("max_price").then(|| f.opt(cx, "max_price")).flatten(),
            creation_policy: on("creation_policy")
                .then(|| f.opt(cx, "creation_policy"))
                .flatten(),
            idle_duration: on("idle_duration")
                .then(|| f.opt(cx, "idle_duration"))
                .flatten(),
            utilization_policy: on("utilization_policy")
                .then(|| f.opt(cx, "utilization_policy"))
                .flatten(),
            startup_order: on("startup_order")
                .then(|| f.opt(cx, "startup_order"))
                .flatten(),
            stop_criteria: on("stop_criteria")
                .then(|| f.opt(cx, "stop_criteria"))
                .flatten(),
            schedule: on("schedule").then(|| f.opt(cx, "schedule")).flatten(),
            fleets: on("fleets").then(|| f.opt(cx, "fleets")).flatten(),
            instances: on("instances").then(|| f.opt(cx, "instances")).flatten(),
            tags: on("tags").then(|| f.opt(cx, "tags")).flatten(),
            backend_options: on("backend_options")
                .then(|| f.opt(cx, "backend_options"))
                .flatten(),
        };
        // `max_duration: true` means "the default", the same as leaving it out.
        for key in ["max_duration", "stop_duration"] {
            if matches!(f.value(key).map(|n| &n.value), Some(Value::Bool(true, _))) {
                match key {
                    "max_duration" => p.max_duration = None,
                    _ => p.stop_duration = None,
                }
            }
        }
        check_tags(f, cx, p.tags.as_ref());
        p
    }
}

fn check_tags(f: &Fields, cx: &mut Cx, tags: Option<&BTreeMap<String, String>>) {
    let (Some(tags), Some(node)) = (tags, f.value("tags")) else {
        return;
    };
    for entry in node.as_map().unwrap_or_default() {
        let key_ok = !entry.key.is_empty()
            && entry.key.len() <= 60
            && entry
                .key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !key_ok {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_tag",
                    format!("`{}` is not a valid tag key", entry.key),
                )
                .at(entry.key_span, "here")
                .help("tag keys are 1-60 letters, digits, `_` and `-`"),
            );
        }
        let value = tags.get(&entry.key).map_or("", String::as_str);
        let value_ok = value.len() <= 256
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " .:/=_-+@".contains(c));
        if !value_ok {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_tag",
                    format!("tag `{}` has an invalid value", entry.key),
                )
                .at(entry.value.span, "here")
                .help("tag values are up to 256 letters, digits, spaces and `.:/=_-+@`"),
            );
        }
    }
}

/// `retry: true`, `retry: false` or `retry: {on_events, duration}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Retry {
    /// `true` (all events, 1h) or `false` (no retry).
    Enabled(bool),
    /// Explicit events and window; missing parts take the defaults.
    Policy {
        /// Events that trigger a retry.
        #[serde(skip_serializing_if = "Option::is_none")]
        on_events: Option<Vec<RetryEvent>>,
        /// How long to keep retrying.
        #[serde(skip_serializing_if = "Option::is_none")]
        duration: Option<Duration>,
    },
}

impl FromYaml for Retry {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        if let Value::Bool(b, _) = node.value {
            return Some(Retry::Enabled(b));
        }
        let f = cx.fields(node, "retry", &["on_events", "duration"])?;
        let on_events: Option<Vec<RetryEvent>> = f.opt(cx, "on_events");
        if on_events.as_ref().is_some_and(Vec::is_empty) {
            cx.push(
                Diagnostic::error("dstack::config::invalid_retry", "`on_events` is empty")
                    .at(f.key_span("on_events"), "no events")
                    .help("list at least one of `no-capacity`, `interruption`, `error`, or set `retry: false`"),
            );
        }
        let duration = f.opt(cx, "duration");
        Some(Retry::Policy {
            on_events,
            duration,
        })
    }
}

/// `{min_gpu_utilization, time_window}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct UtilizationPolicy {
    /// Minimum GPU utilization in percent (0..100).
    pub min_gpu_utilization: u32,
    /// Window over which every sample must be below the minimum (at least 5m).
    pub time_window: Duration,
}

impl FromYaml for UtilizationPolicy {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "utilization_policy",
            &["min_gpu_utilization", "time_window"],
        )?;
        let min: Option<u32> = f.req(cx, "min_gpu_utilization");
        let window: Option<Duration> = f.req(cx, "time_window");
        if let (Some(m), Some(n)) = (min, f.value("min_gpu_utilization"))
            && m > 100
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::out_of_range",
                    format!("utilization {m} is above 100 percent"),
                )
                .at(n.span, "0..100"),
            );
            return None;
        }
        if let (Some(w), Some(n)) = (window, f.value("time_window"))
            && w.secs() < 300
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::out_of_range",
                    format!("time window {w} is shorter than 5m"),
                )
                .at(n.span, "at least 5m"),
            );
            return None;
        }
        Some(Self {
            min_gpu_utilization: min?,
            time_window: window?,
        })
    }
}

/// `schedule: {cron: "..." | ["...", ...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Schedule {
    /// One or more crontab lines.
    #[schemars(schema_with = "super::json::cron_schema")]
    pub cron: Vec<Cron>,
}

impl FromYaml for Schedule {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "schedule", &["cron"])?;
        let cron_node = match f.value("cron") {
            Some(n) => n,
            None => {
                cx.push(f.missing("cron"));
                return None;
            }
        };
        let cron = match &cron_node.value {
            Value::Seq(items) if items.is_empty() => {
                cx.push(
                    Diagnostic::error("dstack::config::invalid_cron", "`cron` list is empty")
                        .at(cron_node.span, "empty")
                        .help("give at least one schedule, e.g. `cron: \"0 3 * * *\"`"),
                );
                return None;
            }
            Value::Seq(_) => Vec::<Cron>::from_yaml(cron_node, cx)?,
            _ => vec![Cron::from_yaml(cron_node, cx)?],
        };
        Some(Self { cron })
    }
}

/// A reference to a fleet or gateway: `name` or `project/name` (written
/// back as that string).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntityRef {
    /// Owning project (imported entity), if not this one.
    pub project: Option<String>,
    /// Entity name.
    pub name: String,
}

impl EntityRef {
    fn parse(text: &str) -> Option<Self> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [name] if !name.is_empty() => Some(Self {
                project: None,
                name: name.to_string(),
            }),
            [project, name] if !project.is_empty() && !name.is_empty() => Some(Self {
                project: Some(project.to_string()),
                name: name.to_string(),
            }),
            _ => None,
        }
    }
}

impl Serialize for EntityRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for EntityRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EntityRef".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "string", "pattern": "^[^/]+(/[^/]+)?$" },
                { "type": "object", "additionalProperties": false, "required": ["name"], "properties": {
                    "project": { "type": "string" }, "name": { "type": "string" }
                } }
            ],
            "description": "`name` or `project/name`"
        })
    }
}

impl std::fmt::Display for EntityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.project {
            Some(p) => write!(f, "{p}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl FromYaml for EntityRef {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Str(s) => {
                let parsed = Self::parse(s);
                if parsed.is_none() {
                    cx.push(
                        Diagnostic::error(
                            "dstack::config::invalid_ref",
                            format!("`{s}` is not `name` or `project/name`"),
                        )
                        .at(node.span, "here"),
                    );
                }
                parsed
            }
            Value::Map(_) => {
                let f = cx.fields(node, "reference", &["project", "name"])?;
                let project = f.opt(cx, "project");
                let name = f.req(cx, "name")?;
                Some(Self { project, name })
            }
            _ => {
                cx.expected(node, "a name or `project/name`");
                None
            }
        }
    }
}

/// Which existing instances a run may use.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum InstanceSelector {
    /// By instance name (`fleet-0`).
    Name(String),
    /// `{name}`, `{hostname}` or `{fleet, instance}`.
    Fields {
        /// Instance name.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Host name or IP.
        #[serde(skip_serializing_if = "Option::is_none")]
        hostname: Option<String>,
        /// Fleet reference.
        #[serde(skip_serializing_if = "Option::is_none")]
        fleet: Option<EntityRef>,
        /// Instance number in the fleet.
        #[serde(skip_serializing_if = "Option::is_none")]
        instance: Option<u32>,
    },
}

impl FromYaml for InstanceSelector {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        if let Value::Str(s) = &node.value {
            return Some(Self::Name(s.clone()));
        }
        let f = cx.fields(
            node,
            "instance selector",
            &["name", "hostname", "fleet", "instance"],
        )?;
        let selector = Self::Fields {
            name: f.opt(cx, "name"),
            hostname: f.opt(cx, "hostname"),
            fleet: f.opt(cx, "fleet"),
            instance: f.opt(cx, "instance"),
        };
        let set = ["name", "hostname", "fleet"]
            .iter()
            .filter(|k| f.has(k))
            .count();
        if set != 1 || f.has("fleet") != f.has("instance") {
            cx.push(
                Diagnostic::error("dstack::config::invalid_selector", "an instance selector needs exactly one of `name`, `hostname`, or `fleet` with `instance`")
                    .at(node.span, "here"),
            );
            return None;
        }
        Some(selector)
    }
}

/// Per-backend options (only Vast.ai has some).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct BackendOptions {
    /// Backend these options are for.
    #[serde(rename = "type")]
    pub backend: BackendType,
    /// `score` or `price`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_order: Option<String>,
    /// 0..1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_reliability: Option<f64>,
    /// Minimum score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_score: Option<u32>,
}

impl FromYaml for BackendOptions {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "backend options",
            &["type", "offer_order", "min_reliability", "min_score"],
        )?;
        let backend: BackendType = f.req(cx, "type")?;
        if backend != BackendType::Vastai {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_backend_options",
                    format!("backend `{backend}` has no options"),
                )
                .at(f.key_span("type"), "only `vastai` has options"),
            );
            return None;
        }
        let offer_order = f.value("offer_order").and_then(|n| {
            super::convert::choice(n, cx, "offer order", &["score", "price"]).map(str::to_string)
        });
        let min_reliability: Option<f64> = f.opt(cx, "min_reliability");
        if let Some(r) = min_reliability
            && !(0.0..=1.0).contains(&r)
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::out_of_range",
                    "min_reliability must be between 0 and 1",
                )
                .at(f.key_span("min_reliability"), "here"),
            );
        }
        Some(Self {
            backend,
            offer_order,
            min_reliability,
            min_score: f.opt(cx, "min_score"),
        })
    }
}
