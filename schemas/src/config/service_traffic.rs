//! How a service handles load: `scaling:` (autoscaling rule), `rate_limits:`
//! and `probes:` (HTTP readiness checks).

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, FromYaml, choice};
use super::enums::{ProbeMethod, ScalingMetric};
use super::run::check_template;
use crate::diag::Diagnostic;
use crate::grammar::{Duration, Template};
use crate::yaml::Node;

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
