//! Typed values from spanned YAML nodes, collecting every problem: the lowest
//! layer of the configuration model, importing no config type.
//!
//! [`FromYaml`] turns a [`Node`] into a typed value or records diagnostics in
//! [`Cx`] and returns `None`; callers keep going, so one run reports every
//! problem in a file. [`Fields`] reads a mapping, rejecting unknown keys with a
//! "did you mean" suggestion. The primitive impls (strings, numbers, lists,
//! string maps) live here; grammar values, env lists and the JSON bridge are
//! in the modules above this one (`grammar_values`, `env_list`, `json_bridge`).

use std::collections::BTreeMap;
use std::str::FromStr;

pub use super::unknown_fields::did_you_mean;
use super::unknown_fields::unknown_field;
use crate::diag::{Diagnostic, SourceFile, Span};
use crate::grammar::GrammarError;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env_list::EnvList;
    use crate::grammar::{GpuSpec, Range};
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
