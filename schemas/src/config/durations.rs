//! Durations from YAML (spec §3.4): numbers of seconds, `30m` strings, and
//! the `off` / `false` / negative forms of offable and idle durations, each
//! at most 10 years ([`Duration::MAX`]) with a located error otherwise.

use super::convert::{Cx, FromYaml, from_text};
use crate::grammar::{Duration, GrammarError, IdleDuration, OffDuration};
use crate::yaml::{Node, Value};

/// A duration's error, located at its node.
fn duration_result<T>(
    result: Result<T, GrammarError>,
    node: &Node,
    text: &str,
    cx: &mut Cx,
) -> Option<T> {
    result
        .map_err(|e| cx.grammar(node, text, e, "dstack::config::invalid_duration"))
        .ok()
}

fn duration_number(node: &Node, cx: &mut Cx) -> Option<Duration> {
    match &node.value {
        Value::Int(i, t) => duration_result(Duration::from_int(*i, t), node, t, cx),
        Value::Float(f, t) => duration_result(Duration::from_number(*f, t), node, t, cx),
        _ => None,
    }
}

impl FromYaml for Duration {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Int(..) | Value::Float(..) => duration_number(node, cx),
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_duration"),
            _ => {
                cx.expected(node, "a duration such as `30m`");
                None
            }
        }
    }
}

impl FromYaml for OffDuration {
    /// `off` or `false` switch off; `true` means the default and reads as absent.
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Bool(false, _) => Some(OffDuration::Off),
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_duration"),
            _ => Duration::from_yaml(node, cx).map(OffDuration::After),
        }
    }
}

impl FromYaml for IdleDuration {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        match &node.value {
            Value::Bool(false, _) => Some(IdleDuration::Never),
            Value::Int(i, t) => duration_result(IdleDuration::from_int(*i, t), node, t, cx),
            Value::Float(f, t) => duration_result(IdleDuration::from_number(*f, t), node, t, cx),
            Value::Str(s) => from_text(node, s, cx, "dstack::config::invalid_duration"),
            _ => {
                cx.expected(node, "a duration such as `1h`, or `off`");
                None
            }
        }
    }
}
