//! `dstack apply -h [TYPE]`: apply's help, or the fields of a configuration
//! type (name, type, description) read from its JSON Schema.

use clap::CommandFactory;
use dstack_schemas::config::TYPES;
use dstack_schemas::config::schema::schema_for;
use serde_json::Value;

use crate::cli::Cli;
use crate::error::CliError;

/// Prints apply's help (`None`) or the fields of configuration type `topic`.
pub fn apply_help(topic: Option<&str>) -> Result<i32, CliError> {
    let Some(kind) = topic else {
        let mut cli = Cli::command();
        cli.build();
        let help = cli
            .find_subcommand_mut("apply")
            .map(|c| c.render_help().to_string())
            .unwrap_or_default();
        out!("{help}")?;
        return Ok(0);
    };
    let schema = TYPES
        .contains(&kind)
        .then(|| schema_for(kind))
        .flatten()
        .ok_or_else(|| {
            CliError::Usage(format!(
                "`-h {kind}`: not a configuration type; known: {}",
                TYPES.join(", ")
            ))
        })?;
    out!("{}", fields_text(kind, &schema))?;
    Ok(0)
}

/// One line per field: name, type, description.
pub fn fields_text(kind: &str, schema: &Value) -> String {
    let rows: Vec<(String, String, String)> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, p)| (name.clone(), type_words(p), description(p)))
                .collect()
        })
        .unwrap_or_default();
    let name_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let type_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let mut out =
        format!("Fields of `type: {kind}` (`dstack schema {kind}` prints the whole schema):\n\n");
    for (name, ty, desc) in rows {
        out.push_str(&format!("  {name:name_width$}  {ty:type_width$}  {desc}\n"));
    }
    out
}

fn description(p: &Value) -> String {
    p.get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// `string`, `integer`, `Resources`, `string | number`, `"task"`, ...
/// (without `null`: every field may be left out).
fn type_words(p: &Value) -> String {
    let mut words: Vec<String> = Vec::new();
    collect_types(p, &mut words);
    words.retain(|w| w != "null");
    words.dedup();
    if words.is_empty() {
        "any".into()
    } else {
        words.join(" | ")
    }
}

fn collect_types(p: &Value, words: &mut Vec<String>) {
    if let Some(c) = p.get("const") {
        words.push(c.to_string());
    }
    match p.get("type") {
        Some(Value::String(t)) => words.push(array_of(p, t)),
        Some(Value::Array(ts)) => {
            for t in ts.iter().filter_map(Value::as_str) {
                words.push(array_of(p, t));
            }
        }
        _ => {}
    }
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        words.push(r.rsplit('/').next().unwrap_or(r).to_string());
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for alt in p.get(key).and_then(Value::as_array).into_iter().flatten() {
            collect_types(alt, words);
        }
    }
}

/// `array` as `array of X` when the item type is known.
fn array_of(p: &Value, t: &str) -> String {
    match (t, p.get("items")) {
        ("array", Some(items)) => format!("list of {}", type_words(items)),
        _ => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_read_from_schema_shapes() {
        let p = serde_json::json!({"anyOf": [{"$ref": "#/$defs/Resources"}, {"type": "null"}]});
        assert_eq!(type_words(&p), "Resources");
        let p = serde_json::json!({"type": ["array", "null"], "items": {"type": "string"}});
        assert_eq!(type_words(&p), "list of string");
        assert_eq!(type_words(&serde_json::json!({})), "any");
    }
}
