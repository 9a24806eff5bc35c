//! Desired against recorded: which fields differ, and whether that is an
//! in-place update or a replacement (by the per-kind rules).

use dstack_schemas::plan::FieldChange;
use serde_json::Value;

use crate::rules::{FieldRule, RuleContext, field_rule};

/// Differences between two specs, one per changed leaf (objects are
/// descended into; lists and scalars compare whole), in key order.
pub fn diff_fields(before: &Value, after: &Value) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    walk(String::new(), before, after, &mut out);
    out
}

fn walk(path: String, before: &Value, after: &Value, out: &mut Vec<(String, Value, Value)>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(
                    child,
                    b.get(key).unwrap_or(&Value::Null),
                    a.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ => out.push((path, before.clone(), after.clone())),
    }
}

/// What a set of field changes amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing that matters changed.
    Same,
    /// Every change can be applied in place.
    Update,
    /// At least one change forces a replacement.
    Replace,
}

/// Classifies the differences between `before` and `after` for a kind.
pub fn classify(ctx: RuleContext, before: &Value, after: &Value) -> (Verdict, Vec<FieldChange>) {
    let mut verdict = Verdict::Same;
    let mut fields = Vec::new();
    for (path, b, a) in diff_fields(before, after) {
        let rule = field_rule(ctx, &path, &b, &a);
        let (forces, note) = match rule {
            FieldRule::Ignore => continue,
            FieldRule::InPlace => (false, None),
            FieldRule::Replace(why) => (true, Some(why.to_string())),
        };
        verdict = match (verdict, forces) {
            (_, true) | (Verdict::Replace, _) => Verdict::Replace,
            _ => Verdict::Update,
        };
        fields.push(FieldChange {
            path,
            before: b,
            after: a,
            forces_replacement: forces,
            note,
        });
    }
    (verdict, fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dstack_schemas::addr::ResourceKind;
    use serde_json::json;

    #[test]
    fn nested_paths() {
        let d = diff_fields(
            &json!({"a": {"b": 1, "c": 2}, "l": [1]}),
            &json!({"a": {"b": 1, "c": 3}, "l": [1, 2]}),
        );
        let paths: Vec<&str> = d.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(paths, ["a.c", "l"]);
    }

    #[test]
    fn verdicts() {
        let ctx = RuleContext {
            kind: ResourceKind::Run,
            run_type: Some("service"),
            ssh_fleet: false,
        };
        let (v, _) = classify(ctx, &json!({"replicas": "1"}), &json!({"replicas": "2"}));
        assert_eq!(v, Verdict::Update);
        let (v, fields) = classify(
            ctx,
            &json!({"replicas": "1", "image": "a"}),
            &json!({"replicas": "2", "image": "b"}),
        );
        assert_eq!(v, Verdict::Replace);
        assert!(
            fields
                .iter()
                .any(|f| f.path == "image" && f.forces_replacement)
        );
        let (v, _) = classify(ctx, &json!({"x": 1}), &json!({"x": 1}));
        assert_eq!(v, Verdict::Same);
    }
}
