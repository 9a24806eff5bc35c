//! JSON Schemas of the configuration types, generated from the model, for
//! editors (`# yaml-language-server: $schema=...`) and `dstack schema`.

use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Value, json};

use super::{
    DevEnvironmentConfig, FleetConfig, GatewayConfig, PresetConfig, ServiceConfig, TaskConfig,
    VolumeConfig, WorkflowsFile,
};

/// The schema names `dstack schema` knows, with the `type:` each describes.
pub const SCHEMA_NAMES: &[&str] = &[
    "configuration",
    "task",
    "service",
    "dev-environment",
    "fleet",
    "volume",
    "gateway",
    "preset",
    "workflows",
    "plan",
];

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().into_generator()
}

/// The schema of one type, with `type:` required to be its word and unknown
/// keys refused.
fn typed<T: JsonSchema>(kind: &str) -> Value {
    let mut schema = generator().into_root_schema_for::<T>().to_value();
    if let Some(obj) = schema.as_object_mut() {
        let props = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(props) = props.as_object_mut() {
            props.insert(
                "type".into(),
                json!({ "const": kind, "description": "configuration type" }),
            );
        }
        let required = obj.entry("required").or_insert_with(|| json!([]));
        if let Some(list) = required.as_array_mut()
            && !list.contains(&json!("type"))
        {
            list.insert(0, json!("type"));
        }
        obj.insert("additionalProperties".into(), json!(false));
        obj.insert(
            "title".into(),
            json!(format!("dstack {kind} configuration")),
        );
    }
    close_objects(&mut schema);
    schema
}

/// Sets `additionalProperties: false` on every struct schema, so typos are
/// flagged by editors too. Flattened structs leave it unset otherwise.
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            if obj.get("type") == Some(&json!("object")) && obj.contains_key("properties") {
                obj.entry("additionalProperties").or_insert(json!(false));
            }
            for value in obj.values_mut() {
                close_objects(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// The schema named `name` (see [`SCHEMA_NAMES`]), or `None`.
pub fn schema_for(name: &str) -> Option<Value> {
    Some(match name {
        "task" => typed::<TaskConfig>("task"),
        "service" => typed::<ServiceConfig>("service"),
        "dev-environment" => typed::<DevEnvironmentConfig>("dev-environment"),
        "fleet" => typed::<FleetConfig>("fleet"),
        "volume" => typed::<VolumeConfig>("volume"),
        "gateway" => typed::<GatewayConfig>("gateway"),
        "preset" => typed::<PresetConfig>("preset"),
        "workflows" => {
            let mut s = generator()
                .into_root_schema_for::<WorkflowsFile>()
                .to_value();
            close_objects(&mut s);
            s
        }
        "configuration" => configuration(),
        "plan" => generator()
            .into_root_schema_for::<crate::plan::PlanDoc>()
            .to_value(),
        _ => return None,
    })
}

/// Any `*.dstack.yml`: dispatch on `type` with if/then, so an editor checks
/// only the schema of the type written.
fn configuration() -> Value {
    let kinds = &SCHEMA_NAMES[1..8];
    let mut defs = serde_json::Map::new();
    let mut branches = Vec::new();
    for kind in kinds {
        let mut schema = schema_for(kind).unwrap_or_default();
        let inner_defs = schema.as_object_mut().and_then(|o| o.remove("$defs"));
        if let Some(Value::Object(inner)) = inner_defs {
            defs.extend(inner);
        }
        if let Some(o) = schema.as_object_mut() {
            o.remove("$schema");
        }
        let def_name = format!("{}-configuration", kind);
        defs.insert(def_name.clone(), schema);
        branches.push(json!({
            "if": { "properties": { "type": { "const": kind } }, "required": ["type"] },
            "then": { "$ref": format!("#/$defs/{def_name}") }
        }));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://dstack-rs.dev/schemas/configuration.schema.json",
        "title": "dstack configuration (*.dstack.yml)",
        "type": "object",
        "required": ["type"],
        "properties": { "type": { "enum": kinds } },
        "allOf": branches,
        "$defs": defs,
    })
}
