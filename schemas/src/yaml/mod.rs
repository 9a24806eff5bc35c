//! YAML text to a spanned [`Node`] tree, with limits for hostile input.
//!
//! This is the only module that names the YAML crate (serde-saphyr), so it can
//! be swapped. Everything above works on [`Node`]s, which keep the byte span of
//! every value and key, and the source spelling of every plain scalar (so
//! `python: 3.10` stays `3.10`). It must not know any configuration type.

mod raw;

use serde_saphyr::{Budget, DuplicateKeyPolicy, Location, Options};

use raw::{RawNode, span_of};

use crate::diag::{Diagnostic, SourceFile, Span};

/// Bounds on what one configuration file may cost to parse.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted file, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most YAML events (roughly: nodes after alias expansion).
    pub max_events: usize,
    /// Most alias uses (`*name`).
    pub max_aliases: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            max_depth: 24,
            max_events: 200_000,
            max_aliases: 1_000,
        }
    }
}

/// A YAML value with its place in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where the value is used (for an alias: the `*alias` token).
    pub span: Span,
}

/// A YAML value. Scalars keep the type YAML gave them; see [`Node::text`]
/// for the source spelling.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false` (and YAML 1.1 `yes`/`no`/`on`/`off`, as dstack reads them).
    Bool(bool, String),
    /// An integer, with its spelling.
    Int(i64, String),
    /// A float, with its spelling (`3.10` stays `3.10`).
    Float(f64, String),
    /// A string (quoted, or plain and not a number, bool or null).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order (duplicate keys are rejected by the parser).
    Map(Vec<Entry>),
}

/// One `key: value` pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key as text.
    pub key: String,
    /// Where the key is.
    pub key_span: Span,
    /// The value.
    pub value: Node,
}

impl Node {
    /// The scalar's source spelling (`"3.10"`, `"8080"`, `"true"`), or
    /// `None` for null, sequences and mappings.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Bool(_, s) | Value::Int(_, s) | Value::Float(_, s) | Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string of a string node (not of numbers or bools).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entries of a mapping node.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// A mapping's entry by key.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key == key)
    }

    /// What kind of value this is, for messages: "a string", "a list", ...
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(..) => "a boolean",
            Value::Int(..) => "an integer",
            Value::Float(..) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Converts to JSON (numbers as numbers, everything else as-is); used to
    /// validate examples against the generated JSON Schema.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b, _) => J::Bool(*b),
            Value::Int(i, _) => J::from(*i),
            Value::Float(f, _) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Checks size and encoding, then parses one YAML document.
pub fn parse_bytes<'a>(
    bytes: &'a [u8],
    name: &str,
    limits: &Limits,
) -> Result<(&'a str, Node), Box<(SourceFile, Diagnostic)>> {
    let text = decode(bytes, name, limits)?;
    let file = SourceFile::new(name, text);
    let node = parse_str(&file, limits).map_err(|d| Box::new((file, d)))?;
    Ok((text, node))
}

fn decode<'a>(
    bytes: &'a [u8],
    name: &str,
    limits: &Limits,
) -> Result<&'a str, Box<(SourceFile, Diagnostic)>> {
    if bytes.len() > limits.max_bytes {
        let diag = Diagnostic::error(
            "dstack::yaml::too_large",
            format!(
                "file is {} bytes; configuration files are limited to {} bytes",
                bytes.len(),
                limits.max_bytes
            ),
        )
        .help("split the configuration, or check that this is the file you meant");
        return Err(Box::new((SourceFile::new(name, ""), diag)));
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(err) => {
            // Show the valid prefix so the position of the bad byte is visible.
            let valid = String::from_utf8_lossy(&bytes[..err.valid_up_to()]).into_owned();
            let at = valid.len();
            let diag = Diagnostic::error(
                "dstack::yaml::not_utf8",
                format!(
                    "file is not UTF-8 text: invalid byte 0x{:02x} at offset {}",
                    bytes[err.valid_up_to()],
                    err.valid_up_to()
                ),
            )
            .at(Span::new(at, 0), "invalid UTF-8 starts here")
            .help("configuration files must be UTF-8 YAML; is this a binary file?");
            Err(Box::new((SourceFile::new(name, valid), diag)))
        }
    }
}

/// Parses the text of `file` as exactly one YAML document.
pub fn parse_str(file: &SourceFile, limits: &Limits) -> Result<Node, Diagnostic> {
    let text = file.text();
    if text.len() > limits.max_bytes {
        return Err(Diagnostic::error(
            "dstack::yaml::too_large",
            format!("file is larger than {} bytes", limits.max_bytes),
        ));
    }
    if let Some(offset) = text.find(['\0']) {
        return Err(Diagnostic::error(
            "dstack::yaml::binary",
            "file contains a NUL byte; it is not YAML text",
        )
        .at(Span::new(offset, 1), "NUL byte"));
    }
    let mut budget = Budget::default();
    budget.max_events = limits.max_events;
    budget.max_aliases = limits.max_aliases;
    budget.max_anchors = limits.max_aliases;
    budget.max_nodes = limits.max_events;
    // serde recursion costs stack per level; keep nesting shallow enough for
    // small (2 MiB) thread stacks. Configurations nest fewer than 10 levels.
    budget.max_depth = limits.max_depth;
    budget.flow_nesting_limit = limits.max_depth;
    budget.max_documents = 1;
    let mut options = Options::default();
    options.budget = Some(budget);
    // Duplicates reach our visitor so `check_structure` can report both places.
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    options.reject_unsupported_tags = true;
    // Aliases are rare in configurations; an expansion larger than the file
    // could ever be honestly is an alias bomb. Stop it early (and cheaply).
    options.alias_limits.max_total_replayed_events = limits.max_events / 10;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    options.with_snippet = false;
    // The parser is documented panic-free; this guard keeps that promise ours
    // even if a future version breaks it.
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serde_saphyr::from_str_with_options::<RawNode>(text, options)
    }));
    let raw: RawNode = match parsed {
        Ok(Ok(raw)) => raw,
        Ok(Err(err)) => return Err(syntax_error(file, &err)),
        Err(_) => {
            return Err(Diagnostic::error(
                "dstack::yaml::parser_failure",
                "the YAML parser failed on this file",
            )
            .help("please report this file as a bug; meanwhile check it for unusual YAML syntax"));
        }
    };
    let mut depth_error = None;
    let node = raw.into_node(file, 0, limits.max_depth, &mut depth_error);
    match depth_error {
        Some(span) => Err(Diagnostic::error(
            "dstack::yaml::too_deep",
            format!("nesting is deeper than {} levels", limits.max_depth),
        )
        .at(span, "too deep here")),
        None => Ok(node),
    }
}

fn syntax_error(file: &SourceFile, err: &serde_saphyr::Error) -> Diagnostic {
    let message = first_line(&err.to_string());
    let (code, message, help) = match message.split_once("budget breached: ") {
        Some((_, breach)) => budget_message(breach.split(" at line").next().unwrap_or(breach)),
        None => classify(&message),
    };
    let mut diag = Diagnostic::error(code, message);
    if let Some(help) = help {
        diag = diag.help(help);
    }
    let locations = err.locations();
    let primary = locations
        .and_then(|l| l.primary_location())
        .or_else(|| err.location());
    if let Some(location) = primary.filter(|l| *l != Location::UNKNOWN) {
        diag = diag.at(span_of(file, location), "here");
    }
    diag
}

/// Problems a YAML parser accepts but dstack must not: duplicate keys (YAML
/// forbids them; some parsers silently keep the last) and a tab between a key
/// and its value (valid YAML 1.2, but PyYAML, and so dstack, rejects it).
pub fn check_structure(file: &SourceFile, node: &Node) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    walk_structure(file, node, &mut out);
    out
}

fn walk_structure(file: &SourceFile, node: &Node, out: &mut Vec<Diagnostic>) {
    match &node.value {
        Value::Seq(items) => items.iter().for_each(|n| walk_structure(file, n, out)),
        Value::Map(entries) => {
            for (i, entry) in entries.iter().enumerate() {
                if let Some(first) = entries[..i].iter().find(|e| e.key == entry.key) {
                    out.push(
                        Diagnostic::error(
                            "dstack::yaml::duplicate_key",
                            format!("duplicate key `{}`", entry.key),
                        )
                        .at(entry.key_span, "repeated here")
                        .also(first.key_span, "first defined here")
                        .help("each key may appear once in a mapping; remove or merge one of them"),
                    );
                }
                let gap_start = entry.key_span.end();
                let gap_end = entry.value.span.start;
                if gap_end > gap_start
                    && let Some(gap) = file.text().get(gap_start..gap_end)
                    && let Some(tab) = gap.find('\t')
                    && !gap[..tab].contains('\n')
                {
                    out.push(
                        Diagnostic::error("dstack::yaml::tab", "tab character after `:`")
                            .at(Span::new(gap_start + tab, 1), "tab")
                            .help("use a space; dstack (PyYAML) rejects tabs here"),
                    );
                }
                walk_structure(file, &entry.value, out);
            }
        }
        _ => {}
    }
}

fn first_line(message: &str) -> String {
    // serde-saphyr appends " at line X column Y"; our label carries the place.
    let line = message.lines().next().unwrap_or(message);
    match line.find(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

fn budget_message(breach: &str) -> (&'static str, String, Option<&'static str>) {
    if breach.starts_with("Documents") {
        return (
            "dstack::yaml::multiple_documents",
            "file holds more than one YAML document".to_string(),
            Some("put each configuration in its own file; `---` starts a new document"),
        );
    }
    if breach.starts_with("Depth") || breach.contains("Nesting") {
        return (
            "dstack::yaml::too_deep",
            "YAML nests too deeply".to_string(),
            Some("configurations nest only a few levels; check the indentation"),
        );
    }
    (
        "dstack::yaml::too_expensive",
        format!(
            "YAML expands past the parse budget ({})",
            breach
                .replace(['{', '}'], "")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Some("anchors and aliases here expand to a huge document; write the values out instead"),
    )
}

fn classify(message: &str) -> (&'static str, String, Option<&'static str>) {
    let lower = message.to_lowercase();
    if lower.contains("duplicate") {
        (
            "dstack::yaml::duplicate_key",
            message.to_string(),
            Some("each key may appear once in a mapping; remove or merge the repeated key"),
        )
    } else if lower.contains("budget") || lower.contains("alias") && lower.contains("limit") {
        (
            "dstack::yaml::too_expensive",
            format!(
                "anchors and aliases expand past the parse budget ({})",
                message.split(": ").last().unwrap_or(message)
            ),
            Some(
                "aliases here expand to a huge document (an alias bomb?); write the values out instead",
            ),
        )
    } else if lower.contains("multiple documents") || lower.contains("more than one document") {
        (
            "dstack::yaml::multiple_documents",
            "file holds more than one YAML document".to_string(),
            Some("put each configuration in its own file; `---` starts a new document"),
        )
    } else if lower.contains("tag") {
        (
            "dstack::yaml::unsupported_tag",
            message.to_string(),
            Some("YAML tags (`!name`) are not supported in dstack configurations; remove the tag"),
        )
    } else if lower.contains("tab") || lower.contains("\\t") {
        (
            "dstack::yaml::syntax",
            message.to_string(),
            Some("YAML indentation must use spaces, not tabs"),
        )
    } else {
        ("dstack::yaml::syntax", message.to_string(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Node, Diagnostic> {
        parse_str(&SourceFile::new("t.yml", text), &Limits::default())
    }

    #[test]
    fn plain_numbers_keep_their_spelling() {
        let node = parse("python: 3.10\nport: 8080\nflag: yes\nname: '42'\n").unwrap();
        let text = |k: &str| node.get(k).unwrap().value.text().unwrap().to_string();
        assert_eq!(text("python"), "3.10");
        assert_eq!(text("port"), "8080");
        assert!(matches!(
            node.get("name").unwrap().value.value,
            Value::Str(_)
        ));
    }

    #[test]
    fn spans_point_at_values_and_keys() {
        let src = "type: task\nresources:\n  gpu: A100:2\n";
        let node = parse(src).unwrap();
        let resources = &node.get("resources").unwrap().value;
        let gpu = resources.get("gpu").unwrap();
        assert_eq!(&src[gpu.value.span.start..gpu.value.span.end()], "A100:2");
        assert_eq!(&src[gpu.key_span.start..gpu.key_span.end()], "gpu");
    }

    #[test]
    fn duplicate_keys_are_errors_with_a_place() {
        let src = "name: a\ntype: task\nname: b\n";
        let file = SourceFile::new("t.yml", src);
        let node = parse_str(&file, &Limits::default()).unwrap();
        let diags = check_structure(&file, &node);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, "dstack::yaml::duplicate_key");
        assert_eq!(diags[0].label.as_ref().unwrap().span, Span::new(19, 4));
        assert_eq!(diags[0].related[0].span, Span::new(0, 4));
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            ));
        }
        let err = parse(&src).unwrap_err();
        assert_eq!(err.code, "dstack::yaml::too_expensive", "{err:?}");
    }

    #[test]
    fn tab_after_colon_is_reported() {
        let file = SourceFile::new("t.yml", "type:\ttask\n");
        let node = parse_str(&file, &Limits::default()).unwrap();
        assert_eq!(check_structure(&file, &node)[0].code, "dstack::yaml::tab");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let src = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(&src).is_err());
    }

    #[test]
    fn invalid_utf8_names_the_offset() {
        let err =
            parse_bytes(b"type: task\nname: \xf7x\n", "t.yml", &Limits::default()).unwrap_err();
        assert_eq!(err.1.code, "dstack::yaml::not_utf8");
        assert!(err.1.message.contains("offset 17"), "{}", err.1.message);
    }
}
