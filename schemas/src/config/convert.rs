//! Typed values from spanned YAML nodes, collecting every problem.
//!
//! [`FromYaml`] turns a [`Node`] into a typed value or records diagnostics in
//! [`Cx`] and returns `None`; callers keep going, so one run reports every
//! problem in a file. [`Fields`] reads a mapping, rejecting unknown keys with a
//! "did you mean" suggestion. This module knows YAML shapes, not config types.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::diag::{Diagnostic, SourceFile, Span};
use crate::grammar::{
    CpuArch, CpuSpec, Cron, DiskSpec, EnvEntry, EnvValue, FileMapping, GpuSpec, GpuVendor,
    GrammarError, GroupName, Memory, PortMapping, Range, ResourceName, Template, VolumeMount,
};
use crate::yaml::{Entry, Node, Value};

/// Conversion context: the source file and the diagnostics found so far.
pub struct Cx<'s> {
    file: &'s SourceFile,
    diags: Vec<Diagnostic>,
}

impl<'s> Cx<'s> {
    /// A context for nodes parsed from `file`.
    pub fn new(file: &'s SourceFile) -> Self {
        Self {
            file,
            diags: Vec::new(),
        }
    }

    /// The source file.
    pub fn file(&self) -> &SourceFile {
        self.file
    }

    /// Records a diagnostic.
    pub fn push(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }

    /// Number of errors so far.
    pub fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    /// The diagnostics collected.
    pub fn finish(self) -> Vec<Diagnostic> {
        self.diags
    }

    /// Records "expected X, found Y" at `node`.
    pub fn expected(&mut self, node: &Node, what: &str) {
        let found = match &node.value {
            Value::Str(s) => format!("the string `{}`", shorten(s)),
            Value::Int(_, t) | Value::Float(_, t) | Value::Bool(_, t) => {
                format!("{} `{t}`", node.kind())
            }
            _ => node.kind().to_string(),
        };
        let mut diag = Diagnostic::error(
            "dstack::config::invalid_type",
            format!("expected {what}, found {found}"),
        )
        .at(node.span, format!("expected {what}"));
        if matches!(
            node.value,
            Value::Int(..) | Value::Float(..) | Value::Bool(..)
        ) && what.contains("string")
        {
            diag = diag.help(format!(
                "quote it to make it a string: `'{}'`",
                node.text().unwrap_or_default()
            ));
        }
        self.push(diag);
    }

    /// Records a grammar error, pointing inside the scalar when possible.
    pub fn grammar(&mut self, node: &Node, text: &str, err: GrammarError, code: &'static str) {
        let span = self.inner_span(node, text, err.offset, err.len);
        let label = if err.len == 0 && err.offset == 0 {
            "here".to_string()
        } else {
            format!("`{}`", self.file.slice(span))
        };
        let mut diag = Diagnostic::error(code, err.message).at(span, label);
        if let Some(help) = err.help {
            diag = diag.help(help);
        }
        self.push(diag);
    }

    /// The source span of bytes `offset..offset+len` of a scalar's text, or the
    /// whole node when the text cannot be located exactly (escapes, folding).
    pub fn inner_span(&self, node: &Node, text: &str, offset: usize, len: usize) -> Span {
        let src = self.file.slice(node.span);
        let body_at = if src == text {
            Some(0)
        } else if src.len() == text.len() + 2
            && (src.starts_with('"') || src.starts_with('\''))
            && &src[1..src.len() - 1] == text
        {
            Some(1)
        } else {
            None
        };
        match body_at {
            Some(at) if offset + len <= text.len() => {
                let len = if len == 0 { text.len() - offset } else { len };
                Span::new(node.span.start + at + offset, len.max(1))
            }
            _ => node.span,
        }
    }

    /// Opens a mapping for field-by-field reading. Keys not in `allowed` are
    /// reported (with a suggestion) and skipped. `what` names the mapping in
    /// messages, e.g. "task" or "resources".
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let Some(entries) = node.as_map() else {
            self.expected(node, &format!("a mapping ({what})"));
            return None;
        };
        for entry in entries {
            if !allowed.contains(&entry.key.as_str()) {
                self.push(unknown_field(what, entry, allowed));
            }
        }
        Some(Fields {
            node,
            entries,
            what: what.to_string(),
        })
    }
}

fn shorten(s: &str) -> String {
    let first_line = s.lines().next().unwrap_or("");
    if first_line.chars().count() > 40 || s.contains('\n') {
        format!("{}…", first_line.chars().take(40).collect::<String>())
    } else {
        first_line.to_string()
    }
}

/// The closest candidate to a misspelt key, if close enough.
pub fn did_you_mean<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(key, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Keys that are valid somewhere else: where they belong.
fn misplaced(what: &str, key: &str) -> Option<String> {
    let runs = ["task", "service", "dev-environment"];
    Some(match key {
        "gpu" | "cpu" | "memory" | "disk" | "shm_size" if runs.contains(&what) || what == "fleet" => {
            format!("`{key}` belongs under `resources:`")
        }
        "router" if what == "service" => {
            "`router` belongs to a replica group: `replicas: [{count: 1, router: {type: sglang}}, ...]`".into()
        }
        "router" if what == "gateway" => "gateways have no router; set `router` on a service replica group".into(),
        "provider" | "deps" | "depends-on" | "artifacts" | "python_script" if runs.contains(&what) => format!(
            "`{key}` is a 2022 workflow field; in `type: task` use `image:`/`python:` and `commands:` (2022 workflows go in .dstack/workflows.yaml)"
        ),
        "port" if what == "task" || what == "dev-environment" => "tasks and dev environments use `ports:` (a list)".into(),
        "ports" if what == "service" => "a service has one `port:`".into(),
        "max_duration" | "stop_duration" | "creation_policy" | "utilization_policy" | "schedule" | "startup_order"
        | "stop_criteria" | "fleets" | "instances"
            if what == "fleet" =>
        {
            format!("`{key}` applies to runs (task, service, dev-environment), not fleets")
        }
        "resources" if what == "volume" => "volumes have `size:` instead of `resources:`".into(),
        "workflows" | "variables" => format!("`{key}:` belongs in .dstack/{key}.yaml, a 2022-format file without `type:`"),
        _ => return None,
    })
}

fn unknown_field(what: &str, entry: &Entry, allowed: &[&str]) -> Diagnostic {
    let mut diag = Diagnostic::error(
        "dstack::config::unknown_field",
        format!("unknown field `{}` in {what}", entry.key),
    );
    if let Some(hint) = misplaced(what, &entry.key) {
        return diag.at(entry.key_span, "not allowed here").help(hint);
    }
    match did_you_mean(&entry.key, allowed.iter().copied()) {
        Some(best) => {
            diag = diag
                .at(entry.key_span, format!("did you mean `{best}`?"))
                .help(format!("replace `{}` with `{best}`", entry.key));
        }
        None if allowed.len() <= 12 => {
            diag = diag
                .at(entry.key_span, "unknown field")
                .help(format!("{what} fields are: {}", allowed.join(", ")));
        }
        None => {
            let schema = if super::load::TYPES.contains(&what) {
                what
            } else {
                "configuration"
            };
            diag = diag
                .at(entry.key_span, "unknown field")
                .help(format!("see `dstack schema {schema}` for every field"));
        }
    }
    diag
}

/// A mapping being read field by field.
pub struct Fields<'n> {
    node: &'n Node,
    entries: &'n [Entry],
    what: String,
}

impl<'n> Fields<'n> {
    /// The mapping node.
    pub fn node(&self) -> &'n Node {
        self.node
    }

    /// The entry for `key`, if present.
    pub fn entry(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The value of `key`, if present and not null.
    pub fn value(&self, key: &str) -> Option<&'n Node> {
        self.entry(key)
            .map(|e| &e.value)
            .filter(|v| v.value != Value::Null)
    }

    /// True when `key` has a non-null value.
    pub fn has(&self, key: &str) -> bool {
        self.value(key).is_some()
    }

    /// Where the key `key` is written (or the mapping, if absent).
    pub fn key_span(&self, key: &str) -> Span {
        self.entry(key).map_or(self.node.span, |e| e.key_span)
    }

    /// Reads an optional field.
    pub fn opt<T: FromYaml>(&self, cx: &mut Cx, key: &str) -> Option<T> {
        T::from_yaml(self.value(key)?, cx)
    }

    /// Reads a required field, reporting its absence.
    pub fn req<T: FromYaml>(&self, cx: &mut Cx, key: &str) -> Option<T> {
        match self.value(key) {
            Some(node) => T::from_yaml(node, cx),
            None => {
                cx.push(self.missing(key));
                None
            }
        }
    }

    /// A "missing field" diagnostic for `key`.
    pub fn missing(&self, key: &str) -> Diagnostic {
        let span = match self.entry(key) {
            Some(e) => e.key_span,
            None => self
                .entries
                .first()
                .map_or(self.node.span, |e| Span::new(e.key_span.start, 0)),
        };
        Diagnostic::error(
            "dstack::config::missing_field",
            format!("{} is missing the required field `{key}`", self.what),
        )
        .at(span, format!("`{key}` is required here"))
        .help(format!("add `{key}:` to the {}", self.what))
    }

    /// Reports that two fields cannot both be set.
    pub fn exclusive(&self, cx: &mut Cx, a: &str, b: &str) -> bool {
        if self.has(a) && self.has(b) {
            cx.push(
                Diagnostic::error(
                    "dstack::config::conflicting_fields",
                    format!("`{a}` and `{b}` cannot both be set"),
                )
                .at(self.key_span(b), format!("conflicts with `{a}`"))
                .also(self.key_span(a), "set here")
                .help(format!("remove one of `{a}` and `{b}`")),
            );
            return true;
        }
        false
    }

    /// What the mapping is called in messages.
    pub fn what(&self) -> &str {
        &self.what
    }
}

/// Converts a YAML node into a typed value, recording problems in `cx`.
pub trait FromYaml: Sized {
    /// Returns the value, or `None` after recording at least one diagnostic.
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self>;
}

impl FromYaml for String {
    /// Only strings: `image: 42` is an error (a number is rarely meant as text).
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                cx.expected(node, "a string");
                None
            }
        }
    }
}

/// A string field where dstack also takes numbers and booleans as their
/// spelling (`python: 3.10`, `env: {PORT: 8080}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LooseString(pub String);

impl FromYaml for LooseString {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Str(s) => Some(Self(s.clone())),
            Value::Int(_, t) | Value::Float(_, t) | Value::Bool(_, t) => Some(Self(t.clone())),
            _ => {
                cx.expected(node, "a string");
                None
            }
        }
    }
}

impl FromYaml for bool {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Bool(b, _) => Some(*b),
            _ => {
                cx.expected(node, "`true` or `false`");
                None
            }
        }
    }
}

/// An integer from an int node or a string of digits (as pydantic's lax mode).
fn integer(node: &Node, cx: &mut Cx, what: &str) -> Option<i64> {
    match &node.value {
        Value::Int(i, _) => Some(*i),
        Value::Str(s) if s.trim().parse::<i64>().is_ok() => s.trim().parse().ok(),
        Value::Float(f, _) if f.fract() == 0.0 && f.abs() < 9e15 => Some(*f as i64),
        _ => {
            cx.expected(node, what);
            None
        }
    }
}

macro_rules! unsigned_from_yaml {
    ($t:ty, $what:literal) => {
        impl FromYaml for $t {
            fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
                let value = integer(node, cx, $what)?;
                match <$t>::try_from(value) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        let (msg, label) = if value < 0 {
                            (
                                format!("expected {}, found the negative number {value}", $what),
                                "negative",
                            )
                        } else {
                            (format!("{value} is too large"), "too large")
                        };
                        cx.push(
                            Diagnostic::error("dstack::config::out_of_range", msg)
                                .at(node.span, label),
                        );
                        None
                    }
                }
            }
        }
    };
}

unsigned_from_yaml!(u32, "a non-negative whole number");
unsigned_from_yaml!(u16, "a non-negative whole number");
unsigned_from_yaml!(u64, "a non-negative whole number");

impl FromYaml for f64 {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Int(i, _) => Some(*i as f64),
            Value::Float(f, _) => Some(*f),
            Value::Str(s) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
                s.trim().parse().ok()
            }
            _ => {
                cx.expected(node, "a number");
                None
            }
        }
    }
}

impl<T: FromYaml> FromYaml for Vec<T> {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let Value::Seq(items) = &node.value else {
            cx.expected(node, "a list");
            return None;
        };
        let before = cx.error_count();
        let values: Vec<Option<T>> = items.iter().map(|item| T::from_yaml(item, cx)).collect();
        (cx.error_count() == before).then(|| values.into_iter().flatten().collect())
    }
}

impl FromYaml for BTreeMap<String, String> {
    /// A string-to-string mapping (tags); values may be numbers (spelling kept).
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let Some(entries) = node.as_map() else {
            cx.expected(node, "a mapping");
            return None;
        };
        let before = cx.error_count();
        let mut out = BTreeMap::new();
        for entry in entries {
            if let Some(LooseString(v)) = LooseString::from_yaml(&entry.value, cx) {
                out.insert(entry.key.clone(), v);
            }
        }
        (cx.error_count() == before).then_some(out)
    }
}

/// Parses a string node with `FromStr`, reporting grammar errors under `code`.
pub fn from_text<T: FromStr<Err = GrammarError>>(
    node: &Node,
    text: &str,
    cx: &mut Cx,
    code: &'static str,
) -> Option<T> {
    match text.parse::<T>() {
        Ok(v) => Some(v),
        Err(err) => {
            cx.grammar(node, text, err, code);
            None
        }
    }
}

impl FromYaml for ResourceName {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let text = String::from_yaml(node, cx)?;
        from_text(node, &text, cx, "dstack::config::invalid_name")
    }
}

impl FromYaml for GroupName {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let LooseString(text) = LooseString::from_yaml(node, cx)?;
        from_text(node, &text, cx, "dstack::config::invalid_name")
    }
}

impl FromYaml for Template {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let text = String::from_yaml(node, cx)?;
        from_text(node, &text, cx, "dstack::config::invalid_template")
    }
}

impl FromYaml for Memory {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Int(i, t) => grammar_result(Memory::from_gb_f64(*i as f64), node, t, cx),
            Value::Float(f, t) => grammar_result(Memory::from_gb_f64(*f), node, t, cx),
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_size"),
            _ => {
                cx.expected(node, "a size such as `80GB`");
                None
            }
        }
    }
}

fn grammar_result<T>(
    result: Result<T, GrammarError>,
    node: &Node,
    text: &str,
    cx: &mut Cx,
) -> Option<T> {
    result
        .map_err(|e| cx.grammar(node, text, e, "dstack::config::invalid_value"))
        .ok()
}

/// A range of `T` from a scalar (`2`, `2..8`) or a mapping (`{min, max}`).
fn range_from_yaml<T>(
    node: &Node,
    cx: &mut Cx,
    what: &str,
    item: fn(&Node, &mut Cx) -> Option<T>,
    item_text: fn(&str) -> Result<T, GrammarError>,
) -> Option<Range<T>>
where
    T: Copy + PartialOrd + std::fmt::Display,
{
    match &node.value {
        Value::Str(s) => match Range::parse_with(s, item_text) {
            Ok(r) => Some(r),
            Err(err) => {
                cx.grammar(node, s, err, "dstack::config::invalid_range");
                None
            }
        },
        Value::Map(_) => {
            let f = cx.fields(node, what, &["min", "max"])?;
            let before = cx.error_count();
            let range = Range {
                min: f.value("min").and_then(|n| item(n, cx)),
                max: f.value("max").and_then(|n| item(n, cx)),
            };
            if cx.error_count() > before {
                return None;
            }
            if range.min.is_none() && range.max.is_none() {
                cx.push(
                    Diagnostic::error(
                        "dstack::config::invalid_range",
                        format!("{what} range has no bounds"),
                    )
                    .at(node.span, "empty range")
                    .help("set `min`, `max` or both"),
                );
                return None;
            }
            if let Err(err) = range.check_order() {
                let mut diag = Diagnostic::error("dstack::config::invalid_range", err.message)
                    .at(f.key_span("min"), "minimum")
                    .also(f.key_span("max"), "maximum");
                if let Some(help) = err.help {
                    diag = diag.help(help);
                }
                cx.push(diag);
                return None;
            }
            Some(range)
        }
        Value::Null | Value::Seq(_) | Value::Bool(..) => {
            cx.expected(node, &format!("a {what} or range such as `1..4`"));
            None
        }
        _ => item(node, cx).map(Range::exact),
    }
}

/// A count range (`2`, `1..`, `{min: 1, max: 4}`), counts being non-negative.
pub fn count_range(node: &Node, cx: &mut Cx, what: &str) -> Option<Range<u32>> {
    range_from_yaml(node, cx, what, u32::from_yaml, |t| {
        crate::grammar::parse_count(t, "count")
    })
}

impl FromYaml for Range<u32> {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        count_range(node, cx, "count")
    }
}

impl FromYaml for Range<Memory> {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        range_from_yaml(node, cx, "size", Memory::from_yaml, |t| t.parse())
    }
}

impl FromYaml for GpuSpec {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_gpu"),
            Value::Int(..) => {
                u32::from_yaml(node, cx).map(|n| GpuSpec::with_count(Range::exact(n)))
            }
            Value::Map(_) => gpu_mapping(node, cx),
            _ => {
                cx.expected(node, "a GPU spec such as `A100:80GB:2` or a mapping");
                None
            }
        }
    }
}

fn gpu_mapping(node: &Node, cx: &mut Cx) -> Option<GpuSpec> {
    let f = cx.fields(
        node,
        "gpu",
        &[
            "vendor",
            "name",
            "count",
            "memory",
            "total_memory",
            "compute_capability",
        ],
    )?;
    let before = cx.error_count();
    let vendor = f.value("vendor").and_then(|n| {
        let text = LooseString::from_yaml(n, cx)?.0;
        let vendor = GpuVendor::parse(&text);
        if vendor.is_none() {
            cx.push(
                Diagnostic::error(
                    "dstack::config::invalid_gpu",
                    format!("unknown GPU vendor `{text}`"),
                )
                .at(n.span, "unknown vendor")
                .help("vendors are nvidia, amd, google (tpu), intel, tenstorrent (tt)"),
            );
        }
        vendor
    });
    let names = match f.value("name") {
        Some(n) if n.as_str().is_some() || matches!(n.value, Value::Int(..)) => {
            LooseString::from_yaml(n, cx).map(|s| vec![crate::grammar::normalize_gpu_name(&s.0)])
        }
        Some(n) => Vec::<LooseString>::from_yaml(n, cx).map(|v| {
            v.into_iter()
                .map(|s| crate::grammar::normalize_gpu_name(&s.0))
                .collect()
        }),
        None => Some(Vec::new()),
    };
    let count = f.value("count").map(|n| count_range(n, cx, "GPU count"));
    let memory = f.opt::<Range<Memory>>(cx, "memory");
    let total_memory = f.opt::<Range<Memory>>(cx, "total_memory");
    let compute_capability = f.value("compute_capability").and_then(|n| {
        let text = match &n.value {
            Value::Seq(items) if items.len() == 2 => {
                format!(
                    "{}.{}",
                    items[0].text().unwrap_or("?"),
                    items[1].text().unwrap_or("?")
                )
            }
            _ => LooseString::from_yaml(n, cx)?.0,
        };
        from_text(n, &text, cx, "dstack::config::invalid_gpu")
    });
    if let (Some(vendor), Some(names), Some(n)) = (vendor, &names, f.value("name"))
        && let Some(conflict) = crate::grammar::vendor_conflict(vendor, names)
    {
        let span = match &n.value {
            Value::Seq(items) => items.get(conflict.index).map_or(n.span, |i| i.span),
            _ => n.span,
        };
        cx.push(
            Diagnostic::error("dstack::config::invalid_gpu", conflict.message)
                .at(span, "another vendor's GPU")
                .also(
                    f.value("vendor").map_or(f.key_span("vendor"), |v| v.span),
                    "the vendor given",
                )
                .help(conflict.help),
        );
    }
    if cx.error_count() > before {
        return None;
    }
    Some(GpuSpec {
        vendor,
        names: names.unwrap_or_default(),
        memory,
        count: count.flatten().unwrap_or(Range::at_least(1)),
        total_memory,
        compute_capability,
    })
}

impl FromYaml for CpuSpec {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let spec = cpu_spec(node, cx)?;
        match CpuSpec::check_count(&spec.count) {
            Ok(()) => Some(spec),
            Err(err) => {
                let text = node.text().unwrap_or_default().to_string();
                cx.grammar(node, &text, err, "dstack::config::invalid_cpu");
                None
            }
        }
    }
}

/// A CPU spec in any form, before its count is checked.
fn cpu_spec(node: &Node, cx: &mut Cx) -> Option<CpuSpec> {
    match &node.value {
        Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_cpu"),
        Value::Int(..) => u32::from_yaml(node, cx).map(|n| CpuSpec {
            arch: None,
            count: Range::exact(n),
        }),
        Value::Map(entries) if entries.iter().any(|e| e.key == "min" || e.key == "max") => {
            count_range(node, cx, "CPU count").map(|count| CpuSpec { arch: None, count })
        }
        Value::Map(_) => {
            let f = cx.fields(node, "cpu", &["arch", "count"])?;
            let arch = f.value("arch").and_then(|n| {
                let text = String::from_yaml(n, cx)?;
                let arch = CpuArch::parse(&text);
                if arch.is_none() {
                    cx.push(
                        Diagnostic::error(
                            "dstack::config::invalid_cpu",
                            format!("`{text}` is not a CPU architecture"),
                        )
                        .at(n.span, "unknown architecture")
                        .help("architectures are `x86` and `arm`"),
                    );
                }
                arch
            });
            let count = f.value("count").map(|n| count_range(n, cx, "CPU count"));
            if f.has("arch") && arch.is_none() || count.as_ref().is_some_and(Option::is_none) {
                return None;
            }
            Some(CpuSpec {
                arch,
                count: count.flatten().unwrap_or(CpuSpec::default().count),
            })
        }
        _ => {
            cx.expected(node, "a CPU spec such as `8`, `4..` or `arm:8`");
            None
        }
    }
}

impl FromYaml for DiskSpec {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Map(entries) if entries.iter().any(|e| e.key == "size") => {
                let f = cx.fields(node, "disk", &["size"])?;
                f.req::<Range<Memory>>(cx, "size")
                    .map(|size| DiskSpec { size })
            }
            _ => Range::<Memory>::from_yaml(node, cx).map(|size| DiskSpec { size }),
        }
    }
}

impl FromYaml for PortMapping {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Int(..) => {
                let text = node.text().unwrap_or_default().to_string();
                from_text(node, &text, cx, "dstack::config::invalid_port")
            }
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_port"),
            Value::Map(_) => {
                let f = cx.fields(node, "port", &["local_port", "container_port"])?;
                let container = f.req::<u16>(cx, "container_port");
                let local = f.opt::<u16>(cx, "local_port");
                for key in ["container_port", "local_port"] {
                    if let Some(n) = f.value(key)
                        && matches!(n.value, Value::Int(0, _))
                    {
                        cx.push(
                            Diagnostic::error(
                                "dstack::config::invalid_port",
                                "port 0 is out of range 1..65535",
                            )
                            .at(n.span, "here"),
                        );
                        return None;
                    }
                }
                Some(PortMapping {
                    local,
                    container: container?,
                })
            }
            _ => {
                cx.expected(node, "a port such as `8000` or `8080:80`");
                None
            }
        }
    }
}

impl FromYaml for VolumeMount {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_mount"),
            Value::Map(entries) if entries.iter().any(|e| e.key == "instance_path") => {
                let f = cx.fields(node, "volume mount", &["instance_path", "path", "optional"])?;
                let instance_path = f.req::<String>(cx, "instance_path");
                let path = f.req::<String>(cx, "path");
                let optional = f.opt::<bool>(cx, "optional").unwrap_or(false);
                check_path(
                    &f,
                    cx,
                    "instance_path",
                    instance_path.as_deref(),
                    "instance",
                )?;
                check_path(&f, cx, "path", path.as_deref(), "container")?;
                Some(VolumeMount::Instance {
                    instance_path: instance_path?,
                    path: path?,
                    optional,
                })
            }
            Value::Map(_) => {
                let f = cx.fields(node, "volume mount", &["name", "path"])?;
                let names = match f.value("name") {
                    Some(n) if n.as_str().is_some() => String::from_yaml(n, cx).map(|s| vec![s]),
                    Some(n) => Vec::<String>::from_yaml(n, cx),
                    None => {
                        cx.push(f.missing("name"));
                        None
                    }
                };
                let path = f.req::<String>(cx, "path");
                check_path(&f, cx, "path", path.as_deref(), "container")?;
                Some(VolumeMount::Network {
                    names: names?,
                    path: path?,
                })
            }
            _ => {
                cx.expected(node, "a mount such as `data:/data`");
                None
            }
        }
    }
}

fn check_path(f: &Fields, cx: &mut Cx, key: &str, path: Option<&str>, side: &str) -> Option<()> {
    let path = path?;
    match crate::grammar::check_mount_path(path, side) {
        Ok(()) => Some(()),
        Err(err) => {
            if let Some(n) = f.value(key) {
                cx.grammar(n, path, err, "dstack::config::invalid_mount");
            }
            None
        }
    }
}

impl FromYaml for FileMapping {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_files"),
            Value::Map(_) => {
                let f = cx.fields(node, "file mapping", &["local_path", "path"])?;
                let local = f.req::<String>(cx, "local_path");
                let container = f.opt::<String>(cx, "path");
                Some(FileMapping {
                    local: local?,
                    container,
                })
            }
            _ => {
                cx.expected(
                    node,
                    "a file mapping such as `train.py` or `src:/workflow/src`",
                );
                None
            }
        }
    }
}

impl FromYaml for Cron {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let text = String::from_yaml(node, cx)?;
        from_text(node, &text, cx, "dstack::config::invalid_cron")
    }
}

/// Env in list form (`[A=1, B]`) or mapping form (`{A: 1}`), names unique.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvList(pub Vec<EnvEntry>);

impl FromYaml for EnvList {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let before = cx.error_count();
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        let mut out = Vec::new();
        let mut add = |entry: EnvEntry, span: Span, cx: &mut Cx| {
            if let Some(first) = seen.get(&entry.name) {
                cx.push(
                    Diagnostic::error(
                        "dstack::config::duplicate_env",
                        format!("`{}` is set twice", entry.name),
                    )
                    .at(span, "set again here")
                    .also(*first, "first set here"),
                );
            } else {
                seen.insert(entry.name.clone(), span);
                out.push(entry);
            }
        };
        match &node.value {
            Value::Seq(items) => {
                for item in items {
                    let Some(text) = String::from_yaml(item, cx) else {
                        continue;
                    };
                    if let Some(entry) =
                        from_text::<EnvEntry>(item, &text, cx, "dstack::config::invalid_env")
                    {
                        add(entry, item.span, cx);
                    }
                }
            }
            Value::Map(entries) => {
                for e in entries {
                    if let Err(err) = crate::grammar::check_env_name(&e.key) {
                        cx.push(
                            Diagnostic::error("dstack::config::invalid_env", err.message)
                                .at(e.key_span, "here"),
                        );
                        continue;
                    }
                    if e.value.value == Value::Null {
                        cx.push(
                            Diagnostic::error("dstack::config::invalid_env", format!("`{}` has no value", e.key))
                                .at(e.key_span, "null value")
                                .help(format!("write `{}: \"\"` for an empty value, or use the list form `- {}` to inherit it", e.key, e.key)),
                        );
                        continue;
                    }
                    let Some(LooseString(text)) = LooseString::from_yaml(&e.value, cx) else {
                        continue;
                    };
                    if let Some(value) =
                        from_text::<Template>(&e.value, &text, cx, "dstack::config::invalid_env")
                    {
                        add(
                            EnvEntry {
                                name: e.key.clone(),
                                value: EnvValue::Set(value),
                            },
                            e.key_span,
                            cx,
                        );
                    }
                }
            }
            _ => {
                cx.expected(
                    node,
                    "a list (`- NAME=value`) or mapping (`NAME: value`) of environment variables",
                );
                return None;
            }
        }
        (cx.error_count() == before).then_some(EnvList(out))
    }
}

/// Parses a string node as one of `choices`, with a suggestion on mismatch.
pub fn choice<'c>(node: &Node, cx: &mut Cx, what: &str, choices: &[&'c str]) -> Option<&'c str> {
    let text = match &node.value {
        Value::Str(s) => s.clone(),
        _ => {
            cx.expected(node, &format!("one of {}", quoted_list(choices)));
            return None;
        }
    };
    if let Some(found) = choices.iter().find(|c| **c == text) {
        return Some(found);
    }
    let hint = match did_you_mean(&text, choices.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("{what} is one of {}", quoted_list(choices)),
    };
    cx.push(
        Diagnostic::error(
            "dstack::config::invalid_value",
            format!("`{text}` is not a valid {what}"),
        )
        .at(
            node.span,
            format!("expected one of {}", quoted_list(choices)),
        )
        .help(hint),
    );
    None
}

/// `a`, `b` or `c`, for messages.
pub fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Converts a JSON value (from state, a saved plan or an API) into a YAML
/// node with empty spans, so the same conversion rules apply to it.
pub fn node_from_json(value: &serde_json::Value) -> Node {
    use serde_json::Value as J;
    let value = match value {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b, b.to_string()),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i, n.to_string()),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN), n.to_string()),
        },
        J::String(s) => Value::Str(s.clone()),
        J::Array(items) => Value::Seq(items.iter().map(node_from_json).collect()),
        J::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| Entry {
                    key: k.clone(),
                    key_span: Span::default(),
                    value: node_from_json(v),
                })
                .collect(),
        ),
    };
    Node {
        value,
        span: Span::default(),
    }
}

/// Reads a typed value from JSON with the YAML conversion rules; the error
/// lists every problem.
pub fn from_json<T: FromYaml>(value: &serde_json::Value) -> Result<T, String> {
    let file = SourceFile::new("<json>", "");
    let mut cx = Cx::new(&file);
    let node = node_from_json(value);
    let out = T::from_yaml(&node, &mut cx);
    let diags = cx.finish();
    match out {
        Some(v) if !diags.iter().any(Diagnostic::is_error) => Ok(v),
        _ => Err(diags
            .iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{Limits, parse_str};

    fn convert<T: FromYaml>(src: &str) -> (Option<T>, Vec<Diagnostic>) {
        let file = SourceFile::new("t.yml", src);
        let node = parse_str(&file, &Limits::default()).unwrap();
        let value = node.get("v").map(|e| e.value.clone()).unwrap();
        let mut cx = Cx::new(&file);
        let out = T::from_yaml(&value, &mut cx);
        (out, cx.finish())
    }

    #[test]
    fn grammar_errors_point_inside_the_scalar() {
        let src = "v: H100:80GB:eight\n";
        let (out, diags) = convert::<GpuSpec>(src);
        assert!(out.is_none());
        let span = diags[0].label.as_ref().unwrap().span;
        assert_eq!(&src[span.start..span.end()], "eight");
    }

    #[test]
    fn quoted_scalars_map_offsets_past_the_quote() {
        let src = "v: \"A100:two\"\n";
        let (_, diags) = convert::<GpuSpec>(src);
        let span = diags[0].label.as_ref().unwrap().span;
        assert_eq!(&src[span.start..span.end()], "two");
    }

    #[test]
    fn ranges_from_mappings_check_order() {
        let (out, diags) = convert::<Range<u32>>("v: {min: 3, max: 1}\n");
        assert!(out.is_none());
        assert!(diags[0].message.contains("reversed"));
    }

    #[test]
    fn env_rejects_duplicates_and_nulls() {
        let (_, diags) = convert::<EnvList>("v: [A=1, A=2]\n");
        assert_eq!(diags[0].code, "dstack::config::duplicate_env");
        let (_, diags) = convert::<EnvList>("v: {A: }\n");
        assert_eq!(diags[0].code, "dstack::config::invalid_env");
        let (env, _) = convert::<EnvList>("v: {PORT: 8080}\n");
        assert_eq!(env.unwrap().0[0].to_string(), "PORT=8080");
    }

    #[test]
    fn strict_strings_suggest_quotes() {
        let (_, diags) = convert::<String>("v: 42\n");
        assert!(diags[0].help.as_ref().unwrap().contains("'42'"));
    }
}
