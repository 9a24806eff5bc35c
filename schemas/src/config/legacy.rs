//! The 2022 format: `.dstack/workflows.yaml` (workflows with provider or
//! image, commands, deps, artifacts, resources) and `.dstack/variables.yaml`
//! (per-workflow variables with defaults, used as `${{ name }}` or
//! `${{ variables.name }}`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, FromYaml, LooseString};
use super::env_list::EnvList;
use crate::diag::Diagnostic;
use crate::grammar::{GpuSpec, Memory, Range, Template};
use crate::yaml::{Node, Value};

/// Providers of the 2022 format; each maps to a way of building commands.
pub const LEGACY_PROVIDERS: &[&str] = &[
    "bash",
    "python",
    "docker",
    "code",
    "lab",
    "notebook",
    "curl",
    "streamlit",
];

/// One 2022 workflow.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(transform = super::json::workflow_transform)]
pub struct Workflow {
    /// Workflow name (what `dstack run NAME` takes).
    pub name: String,
    /// Description shown in listings.
    pub help: Option<String>,
    /// `bash`, `python`, `docker`, ... (default `bash`).
    pub provider: Option<String>,
    /// Docker image.
    pub image: Option<String>,
    /// Shell commands.
    pub commands: Option<Vec<Template>>,
    /// Python version.
    #[serde(default)]
    #[schemars(schema_with = "super::json::string_or_number")]
    pub python: Option<String>,
    /// Script run by the `python` provider (`python_script`, `script` or `file`).
    pub script: Option<String>,
    /// `pip install -r` this first.
    pub requirements: Option<String>,
    /// Environment.
    #[serde(skip_serializing_if = "env_is_empty")]
    #[schemars(with = "Option<EnvList>")]
    pub env: EnvList,
    /// Paths saved after the job.
    #[serde(default)]
    #[schemars(schema_with = "super::json::list_of_or_string::<Artifact>")]
    pub artifacts: Option<Vec<Artifact>>,
    /// Workflows whose artifacts this one needs.
    #[serde(default)]
    #[schemars(schema_with = "super::json::list_of_or_string::<Dep>")]
    pub deps: Option<Vec<Dep>>,
    /// Resources.
    pub resources: Option<LegacyResources>,
    /// Number of ports to open (`$PORT_0`, ...).
    pub ports: Option<u32>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// URL fetched by the `curl` provider.
    pub url: Option<String>,
    /// Output path of the `curl` provider.
    pub output: Option<String>,
    /// App file of the `streamlit` provider.
    pub target: Option<String>,
    /// Provider version (e.g. of `lab`).
    #[serde(default)]
    #[schemars(schema_with = "super::json::string_or_number")]
    pub version: Option<String>,
}

fn env_is_empty(env: &EnvList) -> bool {
    env.0.is_empty()
}

/// An artifact path, mounted live or saved at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Artifact {
    /// Path relative to the working directory.
    pub path: String,
    /// Save in real time (mounted) rather than at the end.
    pub mount: bool,
}

/// A dependency on another workflow's artifacts.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Dep {
    /// Workflow name.
    pub workflow: Option<String>,
    /// Run tag (`:tag`, or `workflow:tag` where `latest` is the last run).
    pub tag: Option<String>,
}

/// 2022 resources.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema)]
#[schemars(transform = super::json::legacy_resources_transform)]
pub struct LegacyResources {
    /// CPUs.
    pub cpu: Option<u32>,
    /// Memory.
    pub memory: Option<Memory>,
    /// GPUs.
    pub gpu: Option<GpuSpec>,
    /// Shared memory.
    pub shm_size: Option<Memory>,
    /// Spot instance allowed.
    pub interruptible: Option<bool>,
    /// Run remotely even if a local runner exists.
    pub remote: Option<bool>,
    /// Run locally.
    pub local: Option<bool>,
}

/// `.dstack/variables.yaml`: defaults per workflow.
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema)]
pub struct VariablesFile {
    /// Workflow name → variable → default value.
    pub variables: BTreeMap<String, BTreeMap<String, String>>,
}

impl FromYaml for VariablesFile {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "variables file", &["variables"])?;
        let Some(vars) = f.value("variables") else {
            return Some(Self::default());
        };
        let Some(entries) = vars.as_map() else {
            cx.expected(vars, "a mapping of workflow names to variables");
            return None;
        };
        let mut out = BTreeMap::new();
        for entry in entries {
            let per_workflow = match &entry.value.value {
                Value::Null => BTreeMap::new(),
                Value::Map(vars) => {
                    let mut map = BTreeMap::new();
                    for var in vars {
                        let value = match &var.value.value {
                            Value::Null => String::new(),
                            _ => LooseString::from_yaml(&var.value, cx)
                                .map(|s| s.0)
                                .unwrap_or_default(),
                        };
                        map.insert(var.key.clone(), value);
                    }
                    map
                }
                _ => {
                    cx.expected(
                        &entry.value,
                        &format!("a mapping of variables for workflow `{}`", entry.key),
                    );
                    continue;
                }
            };
            out.insert(entry.key.clone(), per_workflow);
        }
        Some(Self { variables: out })
    }
}

const WORKFLOW_KEYS: &[&str] = &[
    "name",
    "help",
    "provider",
    "image",
    "commands",
    "python",
    "python_script",
    "script",
    "file",
    "requirements",
    "env",
    "artifacts",
    "deps",
    "depends-on",
    "resources",
    "ports",
    "working_dir",
    "url",
    "output",
    "target",
    "version",
    "environment",
];

impl FromYaml for Workflow {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "workflow", WORKFLOW_KEYS)?;
        let name: Option<String> = f.req(cx, "name");
        let provider: Option<String> = f.opt(cx, "provider");
        if let (Some(p), Some(n)) = (&provider, f.value("provider"))
            && !LEGACY_PROVIDERS.contains(&p.as_str())
        {
            let mut diag = Diagnostic::error(
                "dstack::config::unknown_provider",
                format!("unknown provider `{p}`"),
            )
            .at(n.span, "unknown provider");
            diag = match super::convert::did_you_mean(p, LEGACY_PROVIDERS.iter().copied()) {
                Some(best) => diag.help(format!("did you mean `{best}`?")),
                None => diag.help(format!("providers are {}", LEGACY_PROVIDERS.join(", "))),
            };
            cx.push(diag);
        }
        let script_keys = ["python_script", "script", "file"];
        let script_key = script_keys.iter().find(|k| f.has(k));
        let deps = read_deps(&f, cx);
        let env: EnvList = f
            .opt(cx, "env")
            .or_else(|| f.opt(cx, "environment"))
            .unwrap_or_default();
        let workflow = Workflow {
            help: f.opt(cx, "help"),
            image: f.opt(cx, "image"),
            commands: f.opt(cx, "commands"),
            python: f.opt::<LooseString>(cx, "python").map(|s| s.0),
            script: script_key.and_then(|k| f.opt(cx, k)),
            requirements: f.opt(cx, "requirements"),
            env,
            artifacts: f.opt(cx, "artifacts"),
            deps,
            resources: f.opt(cx, "resources"),
            ports: f.opt(cx, "ports"),
            working_dir: f.opt(cx, "working_dir"),
            url: f.opt(cx, "url"),
            output: f.opt(cx, "output"),
            target: f.opt(cx, "target"),
            version: f.opt::<LooseString>(cx, "version").map(|s| s.0),
            name: name?,
            provider,
        };
        if workflow.commands.is_none()
            && workflow.script.is_none()
            && workflow.image.is_none()
            && !matches!(
                workflow.provider.as_deref(),
                Some("code" | "lab" | "notebook" | "curl" | "streamlit")
            )
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::missing_commands",
                    format!("workflow `{}` has nothing to run", workflow.name),
                )
                .at(f.key_span("name"), "no commands")
                .help("add `commands:` (bash provider) or `python_script:` (python provider)"),
            );
        }
        Some(workflow)
    }
}

fn read_deps(f: &super::convert::Fields, cx: &mut Cx) -> Option<Vec<Dep>> {
    let mut deps = Vec::new();
    for key in ["deps", "depends-on"] {
        let Some(node) = f.value(key) else { continue };
        let Value::Seq(items) = &node.value else {
            cx.expected(node, "a list of dependencies");
            continue;
        };
        for item in items {
            if let Some(dep) = Dep::from_yaml(item, cx) {
                deps.push(dep);
            }
        }
    }
    (f.has("deps") || f.has("depends-on")).then_some(deps)
}

impl FromYaml for Dep {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Str(s) => {
                let (workflow, tag) = match s.split_once(':') {
                    Some((w, t)) => (w, Some(t)),
                    None => (s.as_str(), None),
                };
                let tag = tag
                    .filter(|t| !t.is_empty() && *t != "latest")
                    .map(str::to_string);
                let workflow = (!workflow.is_empty()).then(|| workflow.to_string());
                if workflow.is_none() && tag.is_none() {
                    cx.push(
                        Diagnostic::error(
                            "dstack::config::invalid_dep",
                            format!("`{s}` names no workflow or tag"),
                        )
                        .at(node.span, "here"),
                    );
                    return None;
                }
                Some(Self { workflow, tag })
            }
            _ => {
                let f = cx.fields(node, "dependency", &["workflow", "tag"])?;
                let dep = Self {
                    workflow: f.opt(cx, "workflow"),
                    tag: f.opt(cx, "tag"),
                };
                if dep.workflow.is_none() && dep.tag.is_none() {
                    cx.push(f.missing("workflow"));
                    return None;
                }
                Some(dep)
            }
        }
    }
}

impl FromYaml for Artifact {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let (path, mount) = match &node.value {
            Value::Str(s) => (s.clone(), false),
            _ => {
                let f = cx.fields(node, "artifact", &["path", "mount"])?;
                (f.req(cx, "path")?, f.opt(cx, "mount").unwrap_or(false))
            }
        };
        let clean = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if clean.is_empty() || clean.split('/').any(|p| p == "..") {
            cx.push(
                Diagnostic::error("dstack::config::invalid_artifact", format!("artifact path `{path}` must name a directory without `..`"))
                    .at(node.span, "here")
                    .help("artifact paths are relative to the working directory, or absolute container paths"),
            );
            return None;
        }
        Some(Self { path: clean, mount })
    }
}

impl FromYaml for LegacyResources {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        // The oldest format spelt GPUs as `<name>/gpu: <count>`.
        let named_gpu_keys: Vec<&str> = node
            .as_map()
            .unwrap_or_default()
            .iter()
            .filter(|e| e.key.ends_with("/gpu"))
            .map(|e| e.key.as_str())
            .collect();
        let mut keys = vec![
            "cpu",
            "memory",
            "gpu",
            "shm_size",
            "interruptible",
            "remote",
            "local",
        ];
        keys.extend(named_gpu_keys.iter().copied());
        let f = cx.fields(node, "resources", &keys)?;
        let named_gpu = named_gpu_keys.first().and_then(|key| {
            let value = f.value(key)?;
            let name = key.trim_end_matches("/gpu").to_string();
            let count = match &value.value {
                Value::Str(s) if s.starts_with('$') => {
                    cx.push(
                        Diagnostic::warning(
                            "dstack::config::unresolved_variable",
                            format!("GPU count `{s}` is a variable"),
                        )
                        .at(value.span, "checked when run"),
                    );
                    1
                }
                _ => u32::from_yaml(value, cx)?,
            };
            Some(GpuSpec {
                names: vec![name],
                count: Range::exact(count),
                ..GpuSpec::default()
            })
        });
        let gpu = match f.value("gpu") {
            Some(n) if n.as_str().is_some_and(|s| s.contains("${{")) => {
                cx.push(
                    Diagnostic::warning("dstack::config::unresolved_variable", "`gpu` depends on a variable without a default")
                        .at(n.span, "checked when run")
                        .help("define it in .dstack/variables.yaml or pass `--var NAME=VALUE` to `dstack run`"),
                );
                None
            }
            Some(n) if matches!(n.value, Value::Map(_)) => legacy_gpu_mapping(n, cx),
            Some(n) => GpuSpec::from_yaml(n, cx),
            None => named_gpu,
        };
        Some(Self {
            cpu: f.opt(cx, "cpu"),
            memory: f.opt(cx, "memory"),
            gpu,
            shm_size: f.opt(cx, "shm_size"),
            interruptible: f.opt(cx, "interruptible"),
            remote: f.opt(cx, "remote"),
            local: f.opt(cx, "local"),
        })
    }
}

/// 2022 `gpu: {name, count, memory}`: count is a plain number.
fn legacy_gpu_mapping(node: &Node, cx: &mut Cx) -> Option<GpuSpec> {
    let f = cx.fields(node, "gpu", &["name", "count", "memory"])?;
    let name: Option<String> = f.opt::<LooseString>(cx, "name").map(|s| s.0);
    let count: u32 = f.opt(cx, "count").unwrap_or(1);
    let memory: Option<Memory> = f.opt(cx, "memory");
    Some(GpuSpec {
        names: name.into_iter().collect(),
        count: Range::exact(count),
        memory: memory.map(Range::at_least),
        ..GpuSpec::default()
    })
}

/// Substitutes `${{ name }}` / `${{ variables.name }}` in every string of a
/// workflows tree, leaving unknown references in place.
pub fn interpolate_variables(node: &Node, vars: &BTreeMap<String, String>) -> Node {
    let value = match &node.value {
        Value::Str(s) if s.contains("${{") => match s.parse::<Template>() {
            Ok(t) => Value::Str(
                t.resolve_some(|v| {
                    let key = if v.name.is_empty() {
                        &v.namespace
                    } else if v.namespace == "variables" {
                        &v.name
                    } else {
                        return None;
                    };
                    vars.get(key).cloned()
                })
                .to_string(),
            ),
            Err(_) => node.value.clone(),
        },
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .map(|n| interpolate_variables(n, vars))
                .collect(),
        ),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|e| crate::yaml::Entry {
                    key: e.key.clone(),
                    key_span: e.key_span,
                    value: interpolate_variables(&e.value, vars),
                })
                .collect(),
        ),
        other => other.clone(),
    };
    Node {
        value,
        span: node.span,
    }
}
