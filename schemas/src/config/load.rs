//! Reading one configuration file: bytes → YAML tree → `type:` dispatch →
//! typed document, with every diagnostic of the file.

use std::collections::BTreeMap;

use super::convert::{Cx, FromYaml, did_you_mean, quoted_list};
use super::legacy::{LEGACY_PROVIDERS, VariablesFile, interpolate_variables};
use super::spans::SpanIndex;
use super::type_words::TYPES;
use super::workflows_file::WorkflowsFile;
use super::{
    Configuration, DevEnvironmentConfig, FleetConfig, GatewayConfig, PresetConfig, ServiceConfig,
    TaskConfig, VolumeConfig,
};
use crate::diag::{Diagnostic, SourceFile, Span};
use crate::yaml::{self, Entry, Limits, Node, Value};

/// What a file holds.
#[expect(
    clippy::large_enum_variant,
    reason = "one per file; boxing buys nothing"
)]
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigDocument {
    /// A `*.dstack.yml` configuration.
    Config(Configuration),
    /// A 2022 `.dstack/workflows.yaml`.
    Workflows(WorkflowsFile),
    /// A 2022 `.dstack/variables.yaml`.
    Variables(VariablesFile),
}

/// One file, read: its text, what it holds (if valid) and every diagnostic.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    /// The source text.
    pub file: SourceFile,
    /// The document, when there are no errors.
    pub document: Option<ConfigDocument>,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
    /// Where each value is, by JSON pointer (`/resources/gpu`).
    pub spans: SpanIndex,
}

impl LoadedFile {
    /// True when any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The configuration, if this is a valid `*.dstack.yml`.
    pub fn config(&self) -> Option<&Configuration> {
        match &self.document {
            Some(ConfigDocument::Config(c)) => Some(c),
            _ => None,
        }
    }
}

/// Reads a configuration file with default limits and no 2022 variables.
pub fn load_config(name: &str, bytes: &[u8]) -> LoadedFile {
    load_config_with(name, bytes, &Limits::default(), &BTreeMap::new())
}

/// Reads a configuration file. `variables` (workflow → name → value) fill
/// `${{ }}` references of 2022 workflows.
pub fn load_config_with(
    name: &str,
    bytes: &[u8],
    limits: &Limits,
    variables: &BTreeMap<String, BTreeMap<String, String>>,
) -> LoadedFile {
    let (text, root) = match yaml::parse_bytes(bytes, name, limits) {
        Ok(parsed) => parsed,
        Err(failure) => {
            let (file, diag) = *failure;
            return LoadedFile {
                file,
                document: None,
                diagnostics: vec![diag],
                spans: SpanIndex::default(),
            };
        }
    };
    let file = SourceFile::new(name, text);
    let mut diagnostics = yaml::check_structure(&file, &root);
    let spans = SpanIndex::build(&root);
    let mut cx = Cx::new(&file);
    let kind = if is_dstack_yml(name) {
        FileKind::DstackYml
    } else {
        FileKind::Any
    };
    let document = dispatch(&root, &mut cx, kind, variables);
    diagnostics.extend(cx.finish());
    diagnostics.sort_by_key(|d| d.label.as_ref().map_or(0, |l| l.span.start));
    let document = document.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
    LoadedFile {
        file,
        document,
        diagnostics,
        spans,
    }
}

/// Why a JSON value is not a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFromJsonError {
    /// The YAML rules reject it: the message of every error, in order.
    Invalid(Vec<String>),
    /// It reads without errors, but as another document (a 2022 file).
    NotAConfiguration,
}

impl std::fmt::Display for ConfigFromJsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(messages) => f.write_str(&messages.join("; ")),
            Self::NotAConfiguration => f.write_str("not a configuration"),
        }
    }
}

impl std::error::Error for ConfigFromJsonError {}

/// Reads a configuration from a JSON value (a stored or planned spec) with
/// the same rules as YAML; the error lists every problem.
pub fn config_from_json(value: &serde_json::Value) -> Result<Configuration, ConfigFromJsonError> {
    let node = super::json_bridge::node_from_json(value);
    let file = SourceFile::new("<json>", "");
    let mut cx = Cx::new(&file);
    let doc = dispatch(&node, &mut cx, FileKind::Any, &BTreeMap::new());
    let errors: Vec<String> = cx
        .finish()
        .into_iter()
        .filter(Diagnostic::is_error)
        .map(|d| d.message)
        .collect();
    match doc {
        Some(ConfigDocument::Config(c)) if errors.is_empty() => Ok(c),
        _ if !errors.is_empty() => Err(ConfigFromJsonError::Invalid(errors)),
        _ => Err(ConfigFromJsonError::NotAConfiguration),
    }
}

/// True for the names of `*.dstack.yml` files (`train.dstack.yml`,
/// `.dstack.yml`, and the `.yaml` spellings), by the last path component.
pub fn is_dstack_yml(name: &str) -> bool {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.ends_with(".dstack.yml")
        || base.ends_with(".dstack.yaml")
        || base == ".dstack.yml"
        || base == ".dstack.yaml"
}

/// What a file may hold, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// A `*.dstack.yml`: configurations with `type:` only.
    DstackYml,
    /// Any other name (`.dstack/workflows.yaml`, `-f other.yaml`, stdin):
    /// the 2022 files are recognised by their top-level key.
    Any,
}

/// The 2022 top-level keys and the files they belong in.
const LEGACY_HOMES: &[(&str, &str)] = &[
    ("workflows", ".dstack/workflows.yaml"),
    ("variables", ".dstack/variables.yaml"),
];

/// A 2022 `workflows:` or `variables:` in a `*.dstack.yml` (without `type:`):
/// dstack rejects it, and so do we, at the key.
fn legacy_in_dstack_yml(entries: &[crate::yaml::Entry]) -> Option<Diagnostic> {
    let (entry, home) = LEGACY_HOMES
        .iter()
        .find_map(|(key, home)| entries.iter().find(|e| e.key == *key).map(|e| (e, *home)))?;
    Some(
        Diagnostic::error(
            "dstack::config::legacy_in_dstack_yml",
            format!(
                "`{}:` is the 2022 format, which a `*.dstack.yml` file cannot hold",
                entry.key
            ),
        )
        .at(entry.key_span, "2022 format")
        .help(format!(
            "2022 {} live in `{home}`: move this file there; a `*.dstack.yml` holds one configuration with `type:` (e.g. `type: task` with `commands:`)",
            entry.key
        )),
    )
}

fn dispatch(
    root: &Node,
    cx: &mut Cx,
    kind: FileKind,
    variables: &BTreeMap<String, BTreeMap<String, String>>,
) -> Option<ConfigDocument> {
    let Value::Map(entries) = &root.value else {
        let what = match &root.value {
            Value::Null => "the file is empty".to_string(),
            _ => format!("the file holds {}", root.kind()),
        };
        cx.push(
            Diagnostic::error(
                "dstack::config::not_a_mapping",
                format!("expected a mapping with `type:`, but {what}"),
            )
            .at(root.span, "not a configuration")
            .help("a configuration starts with e.g. `type: task`"),
        );
        return None;
    };
    let Some(type_entry) = entries.iter().find(|e| e.key == "type") else {
        return untyped_document(root, entries, cx, kind, variables);
    };
    typed_config(root, type_entry, cx).map(ConfigDocument::Config)
}

/// A mapping without `type:`: a 2022 workflows or variables file, or an error
/// (a 2022 workflow in a `.dstack.yml`, or a missing `type:`).
fn untyped_document(
    root: &Node,
    entries: &[Entry],
    cx: &mut Cx,
    kind: FileKind,
    variables: &BTreeMap<String, BTreeMap<String, String>>,
) -> Option<ConfigDocument> {
    if kind == FileKind::DstackYml
        && let Some(diag) = legacy_in_dstack_yml(entries)
    {
        cx.push(diag);
        return None;
    }
    if entries.iter().any(|e| e.key == "workflows") {
        let root = interpolate_workflows(root, variables);
        return WorkflowsFile::from_yaml(&root, cx).map(ConfigDocument::Workflows);
    }
    if entries.iter().any(|e| e.key == "variables") {
        return VariablesFile::from_yaml(root, cx).map(ConfigDocument::Variables);
    }
    let at = entries
        .first()
        .map_or(Span::default(), |e| Span::new(e.key_span.start, 0));
    cx.push(
        Diagnostic::error(
            "dstack::config::missing_type",
            "configuration has no `type`",
        )
        .at(at, "add `type:` here")
        .help(format!("set `type:` to one of {}", quoted_list(TYPES))),
    );
    None
}

/// The configuration named by `type:`, or an error for a non-word or unknown type.
fn typed_config(root: &Node, type_entry: &Entry, cx: &mut Cx) -> Option<Configuration> {
    let node = &type_entry.value;
    let Some(kind) = node.as_str() else {
        cx.push(
            Diagnostic::error(
                "dstack::config::invalid_type_tag",
                format!("`type` must be a word, found {}", node.kind()),
            )
            .at(
                if node.value == Value::Null {
                    type_entry.key_span
                } else {
                    node.span
                },
                "not a type",
            )
            .help(format!("set `type:` to one of {}", quoted_list(TYPES))),
        );
        return None;
    };
    match kind {
        "task" => TaskConfig::from_yaml(root, cx).map(Configuration::Task),
        "service" => ServiceConfig::from_yaml(root, cx).map(Configuration::Service),
        "dev-environment" => {
            DevEnvironmentConfig::from_yaml(root, cx).map(Configuration::DevEnvironment)
        }
        "fleet" => FleetConfig::from_yaml(root, cx).map(Configuration::Fleet),
        "volume" => VolumeConfig::from_yaml(root, cx).map(Configuration::Volume),
        "gateway" => GatewayConfig::from_yaml(root, cx).map(Configuration::Gateway),
        "preset" => PresetConfig::from_yaml(root, cx).map(Configuration::Preset),
        other => {
            cx.push(unknown_type(other, node.span));
            None
        }
    }
}

fn unknown_type(kind: &str, span: Span) -> Diagnostic {
    let lower = kind.to_lowercase();
    let help = if TYPES.contains(&lower.as_str()) {
        format!("types are lowercase: `type: {lower}`")
    } else if LEGACY_PROVIDERS.contains(&kind) {
        format!(
            "`{kind}` is a 2022 workflow provider; write `type: task` with `commands:`, or put the workflow under `workflows:` in .dstack/workflows.yaml"
        )
    } else if let Some(best) = did_you_mean(&lower, TYPES.iter().copied()) {
        format!("did you mean `{best}`?")
    } else {
        format!("set `type:` to one of {}", quoted_list(TYPES))
    };
    Diagnostic::error(
        "dstack::config::unknown_type",
        format!("unknown configuration type `{kind}`"),
    )
    .at(span, "unknown type")
    .help(help)
}

/// Fills each workflow's variables (by the workflow's own name).
fn interpolate_workflows(
    root: &Node,
    variables: &BTreeMap<String, BTreeMap<String, String>>,
) -> Node {
    let Value::Map(entries) = &root.value else {
        return root.clone();
    };
    let entries = entries
        .iter()
        .map(|e| {
            let value = match (&e.key[..], &e.value.value) {
                ("workflows", Value::Seq(items)) => Node {
                    value: Value::Seq(
                        items
                            .iter()
                            .map(|item| {
                                let name = item
                                    .get("name")
                                    .and_then(|n| n.value.text())
                                    .unwrap_or_default();
                                match variables.get(name) {
                                    Some(vars) => interpolate_variables(item, vars),
                                    None => item.clone(),
                                }
                            })
                            .collect(),
                    ),
                    span: e.value.span,
                },
                _ => e.value.clone(),
            };
            crate::yaml::Entry {
                key: e.key.clone(),
                key_span: e.key_span,
                value,
            }
        })
        .collect();
    Node {
        value: Value::Map(entries),
        span: root.span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKFLOWS: &str = "workflows:\n  - name: hello\n    commands: [echo hi]\n";

    #[test]
    fn workflows_belong_in_dot_dstack() {
        for name in ["train.dstack.yml", ".dstack.yml", "sub/dir/a.dstack.yaml"] {
            let loaded = load_config(name, WORKFLOWS.as_bytes());
            assert!(loaded.document.is_none(), "{name}");
            let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
            assert_eq!(errors.len(), 1, "{name}: {errors:?}");
            assert_eq!(errors[0].code, "dstack::config::legacy_in_dstack_yml");
            let label = errors[0].label.as_ref().expect("located");
            assert_eq!(loaded.file.slice(label.span), "workflows");
            let help = errors[0].help.as_deref().unwrap_or_default();
            assert!(help.contains("`.dstack/workflows.yaml`"), "{help}");
        }
        for name in [
            ".dstack/workflows.yaml",
            "workflows.yml",
            "<stdin>",
            "x.dstack.yml.bak",
        ] {
            let loaded = load_config(name, WORKFLOWS.as_bytes());
            assert!(
                matches!(loaded.document, Some(ConfigDocument::Workflows(_))),
                "{name}: {:?}",
                loaded.diagnostics
            );
        }
        let vars = load_config("v.dstack.yml", b"variables:\n  hello: {who: world}\n");
        assert!(
            vars.diagnostics[0]
                .help
                .as_deref()
                .unwrap_or_default()
                .contains("variables.yaml")
        );
    }

    #[test]
    fn dstack_yml_names() {
        assert!(is_dstack_yml("a/b/train.dstack.yml"));
        assert!(is_dstack_yml(r"C:\p\.dstack.yaml"));
        assert!(!is_dstack_yml(".dstack/workflows.yaml"));
        assert!(!is_dstack_yml("dstack.yml"));
    }
}
