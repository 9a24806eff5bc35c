//! `type: service` (spec §2.4): a long-running HTTP endpoint with replicas,
//! autoscaling, probes, rate limits and an optional model endpoint.

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, Fields, FromYaml, choice, count_range};
use super::enums::{ProbeMethod, RouterType, ScalingMetric, SpotPolicy};
use super::limits::{Counted, check_written_count};
use super::profile::EntityRef;
use super::resources::Resources;
use super::run::{RunCommon, check_template, read_commands, run_keys};
use super::task::commands_missing;
use crate::diag::Diagnostic;
use crate::grammar::{Duration, GroupName, PortMapping, Range, Template};
use crate::yaml::{Node, Value};

/// An HTTP service.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ServiceConfig {
    /// Shared run fields.
    #[serde(flatten)]
    pub common: RunCommon,
    /// The port the app listens on (container side).
    pub port: PortMapping,
    /// Shell commands, run in order.
    pub commands: Option<Vec<Template>>,
    /// Gateway: `true` (default gateway), `false` (none) or a name.
    pub gateway: Option<GatewayRef>,
    /// Strip the proxy prefix (without a gateway).
    pub strip_prefix: Option<bool>,
    /// OpenAI-compatible model endpoint.
    #[serde(default)]
    #[schemars(schema_with = "super::json::or_string::<ModelSpec>")]
    pub model: Option<ModelSpec>,
    /// HTTPS: `true`, `false` or `auto`.
    pub https: Option<Https>,
    /// Require a dstack token.
    pub auth: Option<bool>,
    /// Number of replicas or a range (then `scaling` is required).
    #[serde(default)]
    #[schemars(schema_with = "super::json::replicas_schema")]
    pub replicas: Option<Range<u32>>,
    /// Autoscaling.
    pub scaling: Option<Scaling>,
    /// Rate limits (gateway only).
    pub rate_limits: Option<Vec<RateLimit>>,
    /// Readiness probes.
    pub probes: Option<Vec<Probe>>,
    /// Heterogeneous replica groups (instead of `replicas`).
    pub groups: Option<Vec<ReplicaGroup>>,
}

impl FromYaml for ServiceConfig {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let keys = run_keys(&[
            "port",
            "commands",
            "gateway",
            "strip_prefix",
            "model",
            "https",
            "auth",
            "replicas",
            "scaling",
            "rate_limits",
            "probes",
            "groups",
        ]);
        let f = cx.fields(node, "service", &keys)?;
        let before = cx.error_count();
        let common = RunCommon::read(&f, cx, "service");
        let port = read_service_port(&f, cx);
        // A list under `replicas` is the older spelling of `groups`.
        let replicas_is_list = matches!(f.value("replicas").map(|n| &n.value), Some(Value::Seq(_)));
        let (replicas, groups) = if replicas_is_list {
            f.exclusive(cx, "replicas", "groups");
            (None, f.opt::<Vec<ReplicaGroup>>(cx, "replicas"))
        } else {
            (read_replicas(&f, cx, "replicas"), f.opt(cx, "groups"))
        };
        let service = ServiceConfig {
            commands: read_commands(&f, cx, "commands"),
            gateway: f.opt(cx, "gateway"),
            strip_prefix: f.opt(cx, "strip_prefix"),
            model: f.opt(cx, "model"),
            https: f.opt(cx, "https"),
            auth: f.opt(cx, "auth"),
            replicas,
            scaling: f.opt(cx, "scaling"),
            rate_limits: f.opt(cx, "rate_limits"),
            probes: f.opt(cx, "probes"),
            groups,
            common,
            port: port.unwrap_or(PortMapping::same(80)),
        };
        service.check(&f, cx);
        (cx.error_count() == before && port.is_some()).then_some(service)
    }
}

fn read_service_port(f: &Fields, cx: &mut Cx) -> Option<PortMapping> {
    let node = f.value("port");
    if node.is_some_and(|n| matches!(&n.value, Value::Str(s) if s.trim().starts_with('*'))) {
        cx.push(
            Diagnostic::error(
                "dstack::config::invalid_port",
                "a service port cannot be `*:PORT`",
            )
            .at(node.map_or(f.node().span, |n| n.span), "here")
            .help("give the container port, e.g. `port: 8000`"),
        );
        return None;
    }
    f.req(cx, "port")
}

fn read_replicas(f: &Fields, cx: &mut Cx, key: &str) -> Option<Range<u32>> {
    let node = f.value(key)?;
    // Over the limit is an error, but the range is still read: `scaling` has one.
    check_written_count(cx, node, Counted::Replicas);
    let range = count_range(node, cx, "replica count")?;
    if range.max.is_none() {
        cx.push(
            Diagnostic::error(
                "dstack::config::invalid_replicas",
                "replica range needs a maximum",
            )
            .at(node.span, "no upper bound")
            .help(format!("write e.g. `{}..4`", range.min.unwrap_or(0))),
        );
        return None;
    }
    Some(Range {
        min: Some(range.min.unwrap_or(0)),
        max: range.max,
    })
}

impl ServiceConfig {
    fn check(&self, f: &Fields, cx: &mut Cx) {
        let autoscaled = self.replicas.is_some_and(|r| r.min != r.max);
        if autoscaled && self.scaling.is_none() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::missing_scaling",
                    "a replica range needs `scaling`",
                )
                .at(super::run::value_span(f, "replicas"), "autoscaled replicas")
                .help("add `scaling: {metric: rps, target: 10}`, or fix the replica count"),
            );
        }
        if !autoscaled && self.scaling.is_some() && self.groups.is_none() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::forbidden_field",
                    "`scaling` needs a replica range",
                )
                .at(f.key_span("scaling"), "no range to scale in")
                .help("set `replicas: 1..4` (for example), or remove `scaling`"),
            );
        }
        if self.groups.is_some() {
            for key in ["scaling", "commands"] {
                super::run::forbid(f, cx, key, "with replica groups, each group has its own");
            }
            if let Some(groups) = &self.groups {
                self.check_groups(f, cx, groups);
            }
        } else if commands_missing(f, self.commands.as_deref()) && self.common.image.is_none() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::missing_commands",
                    "either `commands` or `image` must be set",
                )
                .at(f.key_span("type"), "this service has nothing to run")
                .help(
                    "add `commands:` that start the server, or an `image:` whose entrypoint does",
                ),
            );
        }
        if self.gateway == Some(GatewayRef::Enabled(false)) {
            let without_gateway = [
                (
                    "https",
                    self.https == Some(Https::Enabled(false)),
                    "plain HTTP needs a gateway",
                ),
                (
                    "scaling",
                    self.scaling.is_some(),
                    "autoscaling needs a gateway",
                ),
                (
                    "rate_limits",
                    self.rate_limits.as_ref().is_some_and(|r| !r.is_empty()),
                    "rate limits need a gateway",
                ),
            ];
            for (key, set, why) in without_gateway {
                if set {
                    cx.push(
                        Diagnostic::error(
                            "dstack::config::needs_gateway",
                            format!("`{key}` cannot be used with `gateway: false`"),
                        )
                        .at(f.key_span(key), why)
                        .also(f.key_span("gateway"), "gateway disabled here"),
                    );
                }
            }
        }
        if let Some(limits) = &self.rate_limits {
            let mut seen: Vec<&str> = Vec::new();
            for limit in limits {
                if seen.contains(&limit.prefix.as_str()) {
                    cx.push(
                        Diagnostic::error(
                            "dstack::config::duplicate_prefix",
                            format!("rate limit prefix `{}` is listed twice", limit.prefix),
                        )
                        .at(f.key_span("rate_limits"), "here"),
                    );
                }
                seen.push(&limit.prefix);
            }
        }
        if let (Some(probes), Some(node)) = (&self.probes, f.value("probes"))
            && probes.len() > 10
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::too_many_probes",
                    "at most 10 probes are allowed",
                )
                .at(node.span, "here"),
            );
        }
    }

    fn check_groups(&self, f: &Fields, cx: &mut Cx, groups: &[ReplicaGroup]) {
        let key = if f.has("groups") {
            "groups"
        } else {
            "replicas"
        };
        let span = f.key_span(key);
        if groups.is_empty() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_groups",
                    "replica groups list is empty",
                )
                .at(span, "here"),
            );
        }
        let routers = groups.iter().filter(|g| g.router.is_some()).count();
        if routers > 1 {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_groups",
                    "at most one replica group can be a router",
                )
                .at(span, "here"),
            );
        }
        for (i, g) in groups.iter().enumerate() {
            let name = g.name.as_ref().map_or(i.to_string(), |n| n.to_string());
            if g.router.is_some() && g.replicas != Range::exact(1) {
                cx.push(
                    Diagnostic::error(
                        "dstack::config::invalid_groups",
                        format!("router group `{name}` must have exactly 1 replica"),
                    )
                    .at(span, "here"),
                );
            }
            if g.commands.is_none() && g.image.is_none() && self.common.image.is_none() {
                cx.push(
                    Diagnostic::error(
                        "dstack::config::missing_commands",
                        format!("replica group `{name}` has no `commands` or `image`"),
                    )
                    .at(span, "nothing to run"),
                );
            }
            for (field, service_level, group_level) in [
                ("image", self.common.image.is_some(), g.image.is_some()),
                ("python", self.common.python.is_some(), g.python.is_some()),
                ("docker", self.common.docker.is_some(), g.docker.is_some()),
                ("nvcc", self.common.nvcc.is_some(), g.nvcc.is_some()),
                (
                    "spot_policy",
                    self.common.profile.spot_policy.is_some(),
                    g.spot_policy.is_some(),
                ),
                (
                    "reservation",
                    self.common.profile.reservation.is_some(),
                    g.reservation.is_some(),
                ),
            ] {
                if service_level && group_level {
                    cx.push(
                        Diagnostic::error(
                            "dstack::config::conflicting_fields",
                            format!("`{field}` is set on the service and on group `{name}`"),
                        )
                        .at(f.key_span(field), "service level")
                        .help(format!("set `{field}` in one place only")),
                    );
                }
            }
        }
    }
}

/// `gateway: true | false | name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum GatewayRef {
    /// `true`: the default gateway; `false`: no gateway.
    Enabled(bool),
    /// A gateway by name.
    Named(EntityRef),
}

impl FromYaml for GatewayRef {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Bool(b, _) => Some(Self::Enabled(*b)),
            _ => EntityRef::from_yaml(node, cx).map(Self::Named),
        }
    }
}

/// `https: true | false | auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Https {
    /// On or off.
    Enabled(bool),
    /// Decided by the gateway.
    Auto,
}

impl Serialize for Https {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Enabled(b) => s.serialize_bool(*b),
            Self::Auto => s.serialize_str("auto"),
        }
    }
}

impl JsonSchema for Https {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Https".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "anyOf": [{ "type": "boolean" }, { "const": "auto" }] })
    }
}

impl FromYaml for Https {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Bool(b, _) => Some(Self::Enabled(*b)),
            _ => choice(node, cx, "https setting", &["auto"]).map(|_| Self::Auto),
        }
    }
}

/// The model a service serves.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ModelSpec {
    /// Always `chat`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Model name as clients send it.
    pub name: String,
    /// `openai` or `tgi`.
    pub format: String,
    /// URL prefix of the OpenAI API (openai format).
    pub prefix: Option<String>,
    /// Chat template (tgi format).
    pub chat_template: Option<String>,
    /// End-of-sequence token (tgi format).
    pub eos_token: Option<String>,
}

impl FromYaml for ModelSpec {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        if let Value::Str(name) = &node.value {
            return Some(Self {
                kind: "chat".into(),
                name: name.clone(),
                format: "openai".into(),
                prefix: Some("/v1".into()),
                chat_template: None,
                eos_token: None,
            });
        }
        let f = cx.fields(
            node,
            "model",
            &[
                "type",
                "name",
                "format",
                "prefix",
                "chat_template",
                "eos_token",
            ],
        )?;
        let kind = f
            .value("type")
            .and_then(|n| choice(n, cx, "model type", &["chat"]))
            .unwrap_or("chat");
        let format = f
            .value("format")
            .and_then(|n| choice(n, cx, "model format", &["openai", "tgi"]))
            .unwrap_or("openai");
        let name = f.req(cx, "name")?;
        let spec = Self {
            kind: kind.into(),
            name,
            format: format.into(),
            prefix: f
                .opt(cx, "prefix")
                .or_else(|| (format == "openai").then(|| "/v1".to_string())),
            chat_template: f.opt(cx, "chat_template"),
            eos_token: f.opt(cx, "eos_token"),
        };
        if format == "openai" {
            for key in ["chat_template", "eos_token"] {
                super::run::forbid(&f, cx, key, "only the `tgi` format takes it");
            }
        } else {
            super::run::forbid(&f, cx, "prefix", "only the `openai` format takes it");
        }
        Some(spec)
    }
}

/// `scaling: {metric: rps, target, window, scale_up_delay, scale_down_delay}`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Scaling {
    /// Metric to scale on.
    pub metric: ScalingMetric,
    /// Target value per replica.
    pub target: f64,
    /// Averaging window (30s, 60s or 300s).
    pub window: Option<Duration>,
    /// Delay before scaling up.
    pub scale_up_delay: Option<Duration>,
    /// Delay before scaling down.
    pub scale_down_delay: Option<Duration>,
}

impl FromYaml for Scaling {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "scaling",
            &[
                "metric",
                "target",
                "window",
                "scale_up_delay",
                "scale_down_delay",
            ],
        )?;
        let metric = f.req(cx, "metric");
        let target: Option<f64> = f.req(cx, "target");
        if let Some(t) = target
            && t <= 0.0
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::out_of_range",
                    "scaling target must be greater than 0",
                )
                .at(f.key_span("target"), "here"),
            );
            return None;
        }
        let window: Option<Duration> = f.opt(cx, "window");
        if let Some(w) = window
            && ![30, 60, 300].contains(&w.secs())
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_value",
                    format!("scaling window {w} is not 30s, 60s or 300s"),
                )
                .at(f.key_span("window"), "here"),
            );
        }
        Some(Self {
            metric: metric?,
            target: target?,
            window,
            scale_up_delay: f.opt(cx, "scale_up_delay"),
            scale_down_delay: f.opt(cx, "scale_down_delay"),
        })
    }
}

/// One rate limit rule.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RateLimit {
    /// URL prefix (longest match wins; default `/`).
    #[serde(default)]
    pub prefix: String,
    /// What requests are counted by: `ip_address` (default) or a header name.
    #[serde(default)]
    pub key: RateLimitKey,
    /// Requests per second.
    pub rps: f64,
    /// Burst size (default 0).
    #[serde(default)]
    pub burst: u32,
}

/// How rate-limited requests are grouped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RateLimitKey {
    /// By client IP.
    #[default]
    IpAddress,
    /// By a request header.
    Header {
        /// Header name.
        header: String,
    },
}

impl FromYaml for RateLimit {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "rate limit", &["prefix", "key", "rps", "burst"])?;
        let prefix: String = f.opt(cx, "prefix").unwrap_or_else(|| "/".into());
        if !prefix.starts_with('/') {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_value",
                    "rate limit prefix must start with `/`",
                )
                .at(f.key_span("prefix"), "here"),
            );
        }
        let key = match f.value("key") {
            Some(n) => {
                let kf = cx.fields(n, "rate limit key", &["type", "header"])?;
                match kf
                    .value("type")
                    .and_then(|t| choice(t, cx, "rate limit key type", &["ip_address", "header"]))
                {
                    Some("ip_address") => Some(RateLimitKey::IpAddress),
                    Some(_) => kf
                        .req::<String>(cx, "header")
                        .map(|header| RateLimitKey::Header { header }),
                    None => None,
                }
            }
            None => Some(RateLimitKey::IpAddress),
        };
        let rps: Option<f64> = f.req(cx, "rps");
        if let Some(r) = rps
            && r < 1.0 / 60.0
        {
            cx.push(
                Diagnostic::error("dstack::config::out_of_range", "rps must be at least 1/60")
                    .at(f.key_span("rps"), "here"),
            );
        }
        Some(Self {
            prefix,
            key: key?,
            rps: rps?,
            burst: f.opt(cx, "burst").unwrap_or(0),
        })
    }
}

/// An HTTP readiness probe.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Probe {
    /// Always `http`.
    #[serde(rename = "type")]
    pub kind: String,
    /// URL path (starts with `/`).
    pub url: Option<Template>,
    /// HTTP method.
    pub method: Option<ProbeMethod>,
    /// Request headers.
    pub headers: Option<Vec<ProbeHeader>>,
    /// Request body.
    pub body: Option<Template>,
    /// Request timeout.
    pub timeout: Option<Duration>,
    /// Time between probes.
    pub interval: Option<Duration>,
    /// Successes needed to be ready.
    pub ready_after: Option<u32>,
    /// Stop probing once ready.
    pub until_ready: Option<bool>,
}

/// A probe request header.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProbeHeader {
    /// Header name.
    pub name: String,
    /// Header value (may use `${{ env.X }}`).
    pub value: Template,
}

impl FromYaml for ProbeHeader {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "probe header", &["name", "value"])?;
        let name = f.req(cx, "name");
        let value: Option<Template> = f.req(cx, "value");
        if let (Some(v), Some(n)) = (&value, f.value("value")) {
            check_template(cx, n, v, &["env"], "probe headers");
        }
        Some(Self {
            name: name?,
            value: value?,
        })
    }
}

impl FromYaml for Probe {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "probe",
            &[
                "type",
                "url",
                "method",
                "headers",
                "body",
                "timeout",
                "interval",
                "ready_after",
                "until_ready",
            ],
        )?;
        let kind = f
            .value("type")
            .and_then(|n| choice(n, cx, "probe type", &["http"]))
            .unwrap_or("http");
        let url: Option<Template> = f.opt(cx, "url");
        if let (Some(u), Some(n)) = (&url, f.value("url")) {
            check_template(cx, n, u, &["env"], "probe url");
            if !u.to_string().starts_with('/') {
                cx.push(
                    Diagnostic::error(
                        "dstack::config::invalid_value",
                        "probe url must start with `/`",
                    )
                    .at(n.span, "here"),
                );
            }
        }
        let method: Option<ProbeMethod> = f.opt(cx, "method");
        let body: Option<Template> = f.opt(cx, "body");
        if body.is_some() && matches!(method, Some(ProbeMethod::Get | ProbeMethod::Head)) {
            cx.push(
                Diagnostic::error(
                    "dstack::config::conflicting_fields",
                    "a GET or HEAD probe cannot have a body",
                )
                .at(f.key_span("body"), "body")
                .also(f.key_span("method"), "method"),
            );
        }
        let ready_after: Option<u32> = f.opt(cx, "ready_after");
        if ready_after == Some(0) {
            cx.push(
                Diagnostic::error(
                    "dstack::config::out_of_range",
                    "ready_after must be at least 1",
                )
                .at(f.key_span("ready_after"), "here"),
            );
        }
        Some(Self {
            kind: kind.into(),
            url,
            method,
            headers: f.opt(cx, "headers"),
            body,
            timeout: f.opt(cx, "timeout"),
            interval: f.opt(cx, "interval"),
            ready_after,
            until_ready: f.opt(cx, "until_ready"),
        })
    }
}

/// One group of replicas in a heterogeneous service.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(transform = super::json::replica_group_transform)]
pub struct ReplicaGroup {
    /// Group name (default: its index).
    pub name: Option<GroupName>,
    /// Replica count or range (also spelt `count`).
    pub replicas: Range<u32>,
    /// Autoscaling of this group.
    pub scaling: Option<Scaling>,
    /// Resources of each replica (not inherited).
    pub resources: Option<Resources>,
    /// Spot policy of this group.
    pub spot_policy: Option<SpotPolicy>,
    /// Reservation of this group.
    pub reservation: Option<String>,
    /// Commands of this group.
    pub commands: Option<Vec<Template>>,
    /// Image of this group.
    pub image: Option<String>,
    /// Python version of this group.
    #[serde(default)]
    #[schemars(schema_with = "super::json::string_or_number")]
    pub python: Option<String>,
    /// nvcc image.
    pub nvcc: Option<bool>,
    /// Docker-in-Docker.
    pub docker: Option<bool>,
    /// Privileged containers.
    pub privileged: Option<bool>,
    /// Router of this group.
    pub router: Option<Router>,
}

/// `router: {type: sglang | dynamo}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Router {
    /// Router kind.
    #[serde(rename = "type")]
    pub kind: RouterType,
}

impl FromYaml for Router {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "router", &["type"])?;
        f.req(cx, "type").map(|kind| Self { kind })
    }
}

impl FromYaml for ReplicaGroup {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "replica group",
            &[
                "name",
                "replicas",
                "count",
                "scaling",
                "resources",
                "spot_policy",
                "reservation",
                "commands",
                "image",
                "python",
                "nvcc",
                "docker",
                "privileged",
                "router",
            ],
        )?;
        f.exclusive(cx, "replicas", "count");
        let key = if f.has("count") { "count" } else { "replicas" };
        let replicas = if f.has(key) {
            read_replicas(&f, cx, key)
        } else {
            cx.push(f.missing("count"));
            None
        };
        let group = Self {
            name: f.opt(cx, "name"),
            replicas: replicas.unwrap_or(Range::exact(1)),
            scaling: f.opt(cx, "scaling"),
            resources: f.opt(cx, "resources"),
            spot_policy: f.opt(cx, "spot_policy"),
            reservation: f.opt(cx, "reservation"),
            commands: read_commands(&f, cx, "commands"),
            image: f.opt(cx, "image"),
            python: f
                .opt::<super::convert::LooseString>(cx, "python")
                .map(|s| s.0),
            nvcc: f.opt(cx, "nvcc"),
            docker: f.opt(cx, "docker"),
            privileged: f.opt(cx, "privileged"),
            router: f.opt(cx, "router"),
        };
        if group.privileged == Some(false) && group.docker == Some(true) {
            f.exclusive(cx, "privileged", "docker");
        }
        if group.replicas.min != group.replicas.max && group.scaling.is_none() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::missing_scaling",
                    "a replica range needs `scaling`",
                )
                .at(f.key_span(key), "autoscaled replicas"),
            );
        }
        replicas.map(|_| group)
    }
}
