//! `type: gateway` (spec §2.7): an ingress for services, with a domain and TLS.

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, FromYaml, choice};
use super::enums::BackendType;
use super::run::check_template;
use crate::diag::Diagnostic;
use crate::grammar::{ResourceName, Template};
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;

/// A gateway.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct GatewayConfig {
    /// Gateway name.
    pub name: Option<ResourceName>,
    /// Make this the project's default gateway.
    pub default: Option<bool>,
    /// Backend to run it on.
    pub backend: BackendType,
    /// Region.
    pub region: String,
    /// Instance type (backend default if unset).
    pub instance_type: Option<String>,
    /// Wildcard domain for services.
    pub domain: Option<Template>,
    /// Give it a public IP.
    pub public_ip: Option<bool>,
    /// TLS certificate; `Some(Certificate::None)` when explicitly `null`.
    pub certificate: Option<Certificate>,
    /// Number of gateway instances.
    pub replicas: Option<u32>,
    /// Tags for cloud resources.
    pub tags: Option<BTreeMap<String, String>>,
}

/// TLS certificate source.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(tag = "type", rename_all = "kebab-case")]
pub enum Certificate {
    /// Let's Encrypt (default).
    LetsEncrypt,
    /// AWS Certificate Manager.
    Acm {
        /// Certificate ARN.
        arn: String,
    },
    /// No HTTPS (`certificate: null`).
    #[schemars(skip)]
    None,
}

impl Serialize for Certificate {
    /// `{type: lets-encrypt}`, `{type: acm, arn}`, or `null` for none.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::LetsEncrypt => serde_json::json!({ "type": "lets-encrypt" }).serialize(s),
            Self::Acm { arn } => serde_json::json!({ "type": "acm", "arn": arn }).serialize(s),
            Self::None => s.serialize_none(),
        }
    }
}

impl FromYaml for Certificate {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "certificate", &["type", "arn"])?;
        let kind = f
            .value("type")
            .and_then(|n| choice(n, cx, "certificate type", &["lets-encrypt", "acm"]));
        match kind {
            Some("acm") => f.req(cx, "arn").map(|arn| Self::Acm { arn }),
            Some(_) => {
                super::run::forbid(&f, cx, "arn", "only `acm` certificates have an ARN");
                Some(Self::LetsEncrypt)
            }
            None => {
                if !f.has("type") {
                    cx.push(f.missing("type"));
                }
                None
            }
        }
    }
}

impl FromYaml for GatewayConfig {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "gateway",
            &[
                "type",
                "name",
                "default",
                "backend",
                "region",
                "instance_type",
                "domain",
                "public_ip",
                "certificate",
                "replicas",
                "tags",
            ],
        )?;
        let certificate = match f.entry("certificate") {
            Some(e) if e.value.value == Value::Null => Some(Certificate::None),
            _ => f.opt(cx, "certificate"),
        };
        let domain: Option<Template> = f.opt(cx, "domain");
        if let (Some(d), Some(n)) = (&domain, f.value("domain")) {
            check_template(cx, n, d, &["run.project_name"], "domain");
        }
        let backend = f.req(cx, "backend");
        let region = f
            .req::<super::convert::LooseString>(cx, "region")
            .map(|s| s.0);
        let replicas: Option<u32> = f.opt(cx, "replicas");
        if replicas == Some(0) {
            cx.push(
                Diagnostic::error(
                    "dstack::config::out_of_range",
                    "a gateway needs at least 1 replica",
                )
                .at(f.key_span("replicas"), "here"),
            );
        }
        if let Some(t) = f.value("instance_type").and_then(|n| n.as_str())
            && t.is_empty()
        {
            cx.push(
                Diagnostic::error("dstack::config::invalid_value", "`instance_type` is empty")
                    .at(f.key_span("instance_type"), "here"),
            );
        }
        Some(GatewayConfig {
            name: f.opt(cx, "name"),
            default: f.opt(cx, "default"),
            backend: backend?,
            region: region?,
            instance_type: f.opt(cx, "instance_type"),
            domain,
            public_ip: f.opt(cx, "public_ip"),
            certificate,
            replicas,
            tags: f.opt(cx, "tags"),
        })
    }
}
