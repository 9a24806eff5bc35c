//! Limits on how much one configuration may ask for, so that planning any
//! valid configuration stays bounded in time and memory: at most
//! [`MAX_NODES`] nodes in a task (its node groups together), instances in a
//! fleet, or replicas in a service. Each is a located error naming the limit.

use super::convert::Cx;
use crate::diag::{Diagnostic, Span};
use crate::yaml::{Node, Value};

/// The most nodes of a task (all node groups together), instances of a
/// fleet (`min`, `target` and `max` of `nodes`) or replicas of a service.
pub const MAX_NODES: u32 = 10_000;

/// What is counted, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Nodes of a task or of one node group.
    TaskNodes,
    /// Nodes of all node groups of a task, summed.
    GroupNodes,
    /// Instances of a fleet.
    FleetNodes,
    /// Replicas of a service or of a replica group.
    Replicas,
}

impl Counted {
    fn what(self) -> &'static str {
        match self {
            Self::TaskNodes => "nodes",
            Self::GroupNodes => "nodes in all groups",
            Self::FleetNodes => "fleet instances",
            Self::Replicas => "replicas",
        }
    }

    fn help(self) -> String {
        match self {
            Self::TaskNodes | Self::GroupNodes => format!(
                "a task runs on at most {MAX_NODES} nodes, its node groups together; split the work over several tasks"
            ),
            Self::FleetNodes => format!(
                "a fleet has at most {MAX_NODES} instances (each of `min`, `target` and `max`); split it into several fleets"
            ),
            Self::Replicas => format!(
                "a service has at most {MAX_NODES} replicas; split it over several services"
            ),
        }
    }
}

/// Pushes the limit error when `value` is above [`MAX_NODES`]; true when
/// within it.
pub fn check_count(cx: &mut Cx, span: Span, counted: Counted, value: u64) -> bool {
    if value <= u64::from(MAX_NODES) {
        return true;
    }
    over_limit(cx, span, counted, &value.to_string());
    false
}

/// Checks a count as written, before it is read as a number, so that one too
/// large for any integer type still names the limit: a number, a range
/// string (`0..20000`) or a mapping of `min`/`target`/`max` (each checked at
/// its value). True when nothing is over the limit.
pub fn check_written_count(cx: &mut Cx, node: &Node, counted: Counted) -> bool {
    if let Value::Map(entries) = &node.value {
        let mut ok = true;
        for entry in entries
            .iter()
            .filter(|e| BOUND_KEYS.contains(&e.key.as_str()))
        {
            ok &= check_written_count(cx, &entry.value, counted);
        }
        return ok;
    }
    match largest_written(node) {
        Some(shown) => {
            over_limit(cx, node.span, counted, &shown);
            false
        }
        None => true,
    }
}

const BOUND_KEYS: &[&str] = &["min", "target", "max"];

/// The largest number written in a scalar count, when it is over the limit.
fn largest_written(node: &Node) -> Option<String> {
    let limit = f64::from(MAX_NODES);
    match &node.value {
        Value::Int(i, t) => (*i > i64::from(MAX_NODES)).then(|| t.clone()),
        Value::Float(f, t) => (*f > limit).then(|| t.clone()),
        Value::Str(s) => s
            .split("..")
            .map(str::trim)
            .filter(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            // Digits only: u128 holds any count a YAML file can spell sensibly;
            // longer ones fail to parse and are over the limit too.
            .filter(|part| {
                part.parse::<u128>()
                    .map_or(true, |n| n > u128::from(MAX_NODES))
            })
            .max_by_key(|part| (part.len(), part.to_string()))
            .map(str::to_string),
        _ => None,
    }
}

fn over_limit(cx: &mut Cx, span: Span, counted: Counted, shown: &str) {
    cx.push(
        Diagnostic::error(
            "dstack::config::too_many_nodes",
            format!("{shown} {} exceed the limit of {MAX_NODES}", counted.what()),
        )
        .at(span, format!("more than {MAX_NODES}"))
        .help(counted.help()),
    );
}

#[cfg(test)]
mod tests {
    use crate::config::load_config;

    fn errors(text: &str) -> Vec<String> {
        let loaded = load_config("t.dstack.yml", text.as_bytes());
        loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect()
    }

    #[test]
    fn ten_thousand_is_the_most() {
        let task = |n: &str| errors(&format!("type: task\nnodes: {n}\ncommands: [x]\n"));
        assert!(task("10000").is_empty());
        assert_eq!(task("10001"), ["10001 nodes exceed the limit of 10000"]);
        assert_eq!(
            task("18446744073709551615"),
            ["18446744073709551615 nodes exceed the limit of 10000"]
        );
        let fleet = |n: &str| errors(&format!("type: fleet\nnodes: {n}\n"));
        for ok in [
            "10000",
            "0..10000",
            "1..",
            "{min: 0, target: 10000, max: 10000}",
        ] {
            assert!(fleet(ok).is_empty(), "{ok}: {:?}", fleet(ok));
        }
        for bad in [
            "10001",
            "0..10001",
            "10001..",
            "{min: 1, target: 2, max: 10001}",
        ] {
            assert_eq!(fleet(bad).len(), 1, "{bad}: {:?}", fleet(bad));
        }
        let groups = |a: u32, b: u32| {
            errors(&format!(
                "type: task\ngroups:\n  - {{name: a, nodes: {a}, commands: [x]}}\n  - {{name: b, nodes: {b}, commands: [x]}}\n"
            ))
        };
        assert!(groups(5000, 5000).is_empty());
        assert_eq!(
            groups(5000, 5001),
            ["10001 nodes in all groups exceed the limit of 10000"]
        );
    }
}
