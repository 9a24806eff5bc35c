//! `type: service` (spec §2.4): a long-running HTTP endpoint with replicas,
//! autoscaling, probes, rate limits and an optional model endpoint.

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, Fields, FromYaml};
pub use super::replica_group::{ReplicaGroup, Router};
use super::replica_group::{read_replicas, replicas_schema};
use super::run::{RunCommon, read_commands, run_keys};
pub use super::service_endpoint::{GatewayRef, Https, ModelSpec};
pub use super::service_traffic::{Probe, ProbeHeader, RateLimit, RateLimitKey, Scaling};
use super::task::commands_missing;
use crate::diag::Diagnostic;
use crate::grammar::{PortMapping, Range, Template};
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
    #[schemars(schema_with = "replicas_schema")]
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

impl ServiceConfig {
    /// Cross-field rules of a service, in the order they are reported.
    fn check(&self, f: &Fields, cx: &mut Cx) {
        self.check_replicas_and_commands(f, cx);
        self.check_without_gateway(f, cx);
        self.check_rate_limits_and_probes(f, cx);
    }

    /// A replica range needs `scaling` and `scaling` a range; groups bring
    /// their own `scaling`/`commands`; without groups something must run.
    fn check_replicas_and_commands(&self, f: &Fields, cx: &mut Cx) {
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
    }

    /// `gateway: false` rules out plain HTTP, autoscaling and rate limits.
    fn check_without_gateway(&self, f: &Fields, cx: &mut Cx) {
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
    }

    /// Rate limit prefixes are unique; at most 10 probes.
    fn check_rate_limits_and_probes(&self, f: &Fields, cx: &mut Cx) {
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
