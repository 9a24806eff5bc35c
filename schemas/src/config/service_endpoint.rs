//! How a service is reached: `gateway:` (which gateway, if any), `https:`
//! and `model:` (the OpenAI-compatible endpoint it serves).

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, FromYaml, choice};
use super::profile::EntityRef;
use super::run::forbid;
use crate::yaml::{Node, Value};

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
                forbid(&f, cx, key, "only the `tgi` format takes it");
            }
        } else {
            forbid(&f, cx, "prefix", "only the `openai` format takes it");
        }
        Some(spec)
    }
}
