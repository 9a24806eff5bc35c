//! `type: preset` (spec §2.8): a model-serving benchmark goal for dstack's
//! agent. Validated and kept; dstack-rs does not plan presets yet.

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, Fields, FromYaml, choice};
use super::env_list::EnvList;
use super::profile::{PROFILE_KEYS, ProfileParams};
use super::service::GatewayRef;
use crate::diag::Diagnostic;
use crate::grammar::ResourceName;
use crate::yaml::{Node, Value};

/// A serving preset.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(transform = super::json::preset_transform)]
pub struct PresetConfig {
    /// Preset name.
    pub name: Option<ResourceName>,
    /// Exact model repo.
    pub repo: Option<String>,
    /// Base model (the agent picks a variant).
    pub base: Option<String>,
    /// Display name of the model (`model: {name}`).
    #[serde(skip)]
    pub model_name: Option<String>,
    /// Benchmark prompt text, or `{path}`.
    pub prompt: Option<String>,
    /// Minimum context length.
    pub min_context_length: Option<u64>,
    /// Maximum time to first token (ms).
    pub max_ttft: Option<u64>,
    /// Benchmark trials.
    pub trials: Option<u64>,
    /// Simultaneous requests.
    pub concurrency: Option<u64>,
    /// Input tokens per request.
    pub input_tokens: Option<u64>,
    /// Output tokens per request.
    pub output_tokens: Option<u64>,
    /// Shared prefix tokens.
    pub shared_prefix_tokens: Option<u64>,
    /// Dataset (`random`).
    pub dataset: Option<String>,
    /// Run a baseline.
    pub baseline: Option<bool>,
    /// Previous preset ids.
    pub previous: Option<Vec<String>>,
    /// Gateway.
    pub gateway: Option<GatewayRef>,
    /// Environment passed to runs.
    #[serde(skip_serializing_if = "env_is_empty")]
    #[schemars(with = "Option<EnvList>")]
    pub env: EnvList,
    /// Profile parameters.
    #[serde(flatten)]
    pub profile: ProfileParams,
}

fn env_is_empty(env: &EnvList) -> bool {
    env.0.is_empty()
}

const PRESET_KEYS: &[&str] = &[
    "type",
    "name",
    "model",
    "base",
    "repo",
    "prompt",
    "min_context_length",
    "max_ttft",
    "trials",
    "concurrency",
    "input_tokens",
    "output_tokens",
    "shared_prefix_tokens",
    "dataset",
    "baseline",
    "previous",
    "gateway",
    "env",
];

/// `repo`, `base` and the model name, from the top-level keys or `model:`
/// (a repo string or a `{repo, name, base}` mapping).
fn read_model(f: &Fields, cx: &mut Cx) -> (Option<String>, Option<String>, Option<String>) {
    let (mut repo, mut base, mut model_name) = (f.opt(cx, "repo"), f.opt(cx, "base"), None);
    f.exclusive(cx, "base", "repo");
    f.exclusive(cx, "model", "base");
    f.exclusive(cx, "model", "repo");
    if let Some(model) = f.value("model") {
        match &model.value {
            Value::Str(s) => repo = Some(s.clone()),
            _ => {
                if let Some(mf) = cx.fields(model, "model", &["repo", "name", "base"]) {
                    repo = mf.opt(cx, "repo");
                    base = mf.opt(cx, "base");
                    model_name = mf.opt(cx, "name");
                }
            }
        }
    }
    (repo, base, model_name)
}

/// `prompt:` as text (at most 10000 characters) or `{path}` (kept as `@path`).
fn read_prompt(f: &Fields, cx: &mut Cx) -> Option<String> {
    match f.value("prompt") {
        Some(n) if matches!(n.value, Value::Map(_)) => cx
            .fields(n, "prompt", &["path"])
            .and_then(|pf| pf.req::<String>(cx, "path"))
            .map(|p| format!("@{p}")),
        Some(n) => {
            let text = String::from_yaml(n, cx);
            if text.as_ref().is_some_and(|t| t.len() > 10_000) {
                cx.push(
                    Diagnostic::error(
                        "dstack::config::too_long",
                        "prompt is longer than 10000 characters",
                    )
                    .at(n.span, "here"),
                );
            }
            text
        }
        None => None,
    }
}

impl FromYaml for PresetConfig {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let mut keys = PRESET_KEYS.to_vec();
        keys.extend_from_slice(PROFILE_KEYS);
        let f = cx.fields(node, "preset", &keys)?;
        let (repo, base, model_name) = read_model(&f, cx);
        let prompt = read_prompt(&f, cx);
        let dataset = f
            .value("dataset")
            .and_then(|n| choice(n, cx, "dataset", &["random"]).map(str::to_string));
        let preset = PresetConfig {
            name: f.opt(cx, "name"),
            repo,
            base,
            model_name,
            prompt,
            min_context_length: f.opt(cx, "min_context_length"),
            max_ttft: f.opt(cx, "max_ttft"),
            trials: f.opt(cx, "trials"),
            concurrency: f.opt(cx, "concurrency"),
            input_tokens: f.opt(cx, "input_tokens"),
            output_tokens: f.opt(cx, "output_tokens"),
            shared_prefix_tokens: f.opt(cx, "shared_prefix_tokens"),
            dataset,
            baseline: f.opt(cx, "baseline"),
            previous: f.opt(cx, "previous"),
            gateway: f.opt(cx, "gateway"),
            env: f.opt(cx, "env").unwrap_or_default(),
            profile: ProfileParams::read(&f, cx, PROFILE_KEYS),
        };
        preset.check_token_counts(&f, cx);
        Some(preset)
    }
}

impl PresetConfig {
    /// `output_tokens` at least 2, `shared_prefix_tokens` below `input_tokens`.
    fn check_token_counts(&self, f: &Fields, cx: &mut Cx) {
        if self.output_tokens.is_some_and(|t| t < 2) {
            cx.push(
                Diagnostic::error(
                    "dstack::config::out_of_range",
                    "output_tokens must be at least 2",
                )
                .at(f.key_span("output_tokens"), "here"),
            );
        }
        if let (Some(shared), input) =
            (self.shared_prefix_tokens, self.input_tokens.unwrap_or(1024))
            && shared >= input
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::out_of_range",
                    "shared_prefix_tokens must be below input_tokens",
                )
                .at(f.key_span("shared_prefix_tokens"), "here"),
            );
        }
    }
}
