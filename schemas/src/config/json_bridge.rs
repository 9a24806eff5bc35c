//! The JSON bridge: JSON values (from state, a saved plan or an API) become
//! span-less YAML nodes, so they are read with exactly the YAML rules.

use super::convert::{Cx, FromYaml};
use crate::diag::{Diagnostic, SourceFile, Span};
use crate::yaml::{Entry, Node, Value};

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

/// A JSON value that the YAML conversion rules reject: every problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonConversionError {
    /// The message of each error diagnostic, in the order found.
    pub messages: Vec<String>,
}

impl std::fmt::Display for JsonConversionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.messages.join("; "))
    }
}

impl std::error::Error for JsonConversionError {}

/// Reads a typed value from JSON with the YAML conversion rules; the error
/// lists every problem.
pub fn from_json<T: FromYaml>(value: &serde_json::Value) -> Result<T, JsonConversionError> {
    let file = SourceFile::new("<json>", "");
    let mut cx = Cx::new(&file);
    let node = node_from_json(value);
    let out = T::from_yaml(&node, &mut cx);
    let diags = cx.finish();
    match out {
        Some(v) if !diags.iter().any(Diagnostic::is_error) => Ok(v),
        _ => Err(JsonConversionError {
            messages: diags.iter().map(|d| d.message.clone()).collect(),
        }),
    }
}
