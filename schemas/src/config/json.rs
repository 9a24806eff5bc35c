//! The JSON side of the grammar types: each serialises to its canonical text
//! (what `Display` prints), and its JSON Schema describes every form a user
//! may write (string, number or mapping).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Serialize, Serializer};

use super::env_list::EnvList;
use crate::grammar::{
    CpuSpec, Cron, DiskSpec, Duration, EnvEntry, FileMapping, GpuSpec, GroupName, IdleDuration,
    Memory, OffDuration, PortMapping, Range, ResourceName, Template, VolumeMount,
};
use crate::money::Usd;

macro_rules! serialize_display {
    ($($t:ty),+ $(,)?) => {
        $(impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        })+
    };
}

serialize_display!(
    CpuSpec,
    Cron,
    DiskSpec,
    Duration,
    EnvEntry,
    FileMapping,
    GroupName,
    IdleDuration,
    Memory,
    OffDuration,
    PortMapping,
    ResourceName,
    Template
);

/// Deserialises through the YAML conversion rules (so JSON accepts exactly
/// what configurations accept).
macro_rules! deserialize_via_yaml {
    ($($t:ty),+) => {
        $(impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = serde_json::Value::deserialize(d)?;
                super::json_bridge::from_json::<$t>(&value).map_err(serde::de::Error::custom)
            }
        })+
    };
}

deserialize_via_yaml!(
    CpuSpec,
    Cron,
    DiskSpec,
    Duration,
    FileMapping,
    GpuSpec,
    GroupName,
    IdleDuration,
    Memory,
    OffDuration,
    PortMapping,
    ResourceName,
    Template,
    VolumeMount,
    Range<u32>,
    Range<Memory>
);

impl<T: std::fmt::Display + PartialEq> Serialize for Range<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for GpuSpec {
    /// The string form when it can say everything, otherwise a mapping.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.has_string_form() {
            return s.collect_str(self);
        }
        let mut map = serde_json::Map::new();
        if let Some(vendor) = self.vendor {
            map.insert("vendor".into(), vendor.as_str().into());
        }
        if !self.names.is_empty() {
            map.insert("name".into(), self.names.clone().into());
        }
        if let Some(memory) = &self.memory {
            map.insert("memory".into(), memory.to_string().into());
        }
        map.insert("count".into(), self.count.to_string().into());
        if let Some(total) = &self.total_memory {
            map.insert("total_memory".into(), total.to_string().into());
        }
        if let Some(cc) = &self.compute_capability {
            map.insert("compute_capability".into(), cc.to_string().into());
        }
        map.serialize(s)
    }
}

impl Serialize for VolumeMount {
    /// `name:/path` or `/host:/path` when that says it all, else a mapping.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            VolumeMount::Network { names, path } if names.len() > 1 => {
                serde_json::json!({ "name": names, "path": path }).serialize(s)
            }
            VolumeMount::Instance { instance_path, path, optional: true } => {
                serde_json::json!({ "instance_path": instance_path, "path": path, "optional": true }).serialize(s)
            }
            _ => s.collect_str(self),
        }
    }
}

impl Serialize for EnvList {
    /// A list of `NAME=value` / `NAME` strings.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl Serialize for Usd {
    /// Dollars as a JSON number (e.g. `1.5`), as written in configurations.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_dollars_f64())
    }
}

macro_rules! schema {
    ($t:ty, $name:literal, $schema:tt) => {
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

schema!(ResourceName, "ResourceName", {
    "type": "string",
    "pattern": "^[a-z][a-z0-9-]{1,40}$",
    "description": "2-41 lowercase letters, digits and `-`, starting with a letter"
});
schema!(GroupName, "GroupName", {
    "type": ["string", "integer"],
    "description": "1-40 lowercase letters, digits and `-`"
});
schema!(Template, "Template", {
    "type": "string",
    "description": "text that may reference `${{ namespace.name }}`; `$$` is a literal `$`"
});
schema!(Memory, "Memory", {
    "type": ["string", "number"],
    "description": "a size: `512MB`, `80GB`, `1TB`, or a number of GB",
    "examples": ["80GB"]
});
schema!(Range<Memory>, "MemoryRange", {
    "anyOf": [
        { "type": "number", "minimum": 0 },
        { "type": "string", "examples": ["24GB..", "40GB..80GB", "..1TB"] },
        { "type": "object", "additionalProperties": false,
          "properties": { "min": { "type": ["string", "number", "null"] }, "max": { "type": ["string", "number", "null"] } } }
    ],
    "description": "a size or size range: `80GB`, `24GB..`, `..1TB`, `{min, max}`"
});
schema!(Range<u32>, "CountRange", {
    "anyOf": [
        { "type": "integer", "minimum": 0 },
        { "type": "string", "pattern": r"^\s*\d*\s*(\.\.\s*\d*)?\s*$", "examples": ["1..", "2..8", "..4"] },
        { "type": "object", "additionalProperties": false,
          "properties": { "min": { "type": ["integer", "string", "null"] }, "max": { "type": ["integer", "string", "null"] } } }
    ],
    "description": "a count or range: `2`, `1..`, `2..8`, `{min, max}`"
});
schema!(GpuSpec, "GpuSpec", {
    "anyOf": [
        { "type": "integer", "minimum": 0 },
        { "type": "string", "examples": ["A100:80GB:2", "24GB..", "H100,A100:8", "nvidia:2"] },
        { "type": "object", "additionalProperties": false, "properties": {
            "vendor": { "type": "string", "enum": ["nvidia", "amd", "google", "tpu", "intel", "tenstorrent", "tt"] },
            "name": { "type": ["string", "array"], "items": { "type": "string" } },
            "count": { "type": ["integer", "string", "object"] },
            "memory": { "type": ["string", "number", "object"] },
            "total_memory": { "type": ["string", "number", "object"] },
            "compute_capability": { "type": ["string", "number", "array"] }
        } }
    ],
    "description": "GPUs: `[vendor:][name,...][:memory][:count]`, a count, or a mapping"
});
schema!(CpuSpec, "CpuSpec", {
    "anyOf": [
        { "type": "integer", "minimum": 0 },
        { "type": "string", "examples": ["8", "4..", "arm:8"] },
        { "type": "object", "additionalProperties": false, "properties": {
            "arch": { "type": "string", "enum": ["x86", "arm"] },
            "count": { "type": ["integer", "string", "object"] },
            "min": { "type": ["integer", "string", "null"] },
            "max": { "type": ["integer", "string", "null"] }
        } }
    ],
    "description": "CPUs: a count or range, optionally `arch:` first"
});
schema!(DiskSpec, "DiskSpec", {
    "anyOf": [
        { "type": ["string", "number"] },
        { "type": "object", "additionalProperties": false, "required": ["size"],
          "properties": { "size": { "type": ["string", "number", "object"] } } }
    ],
    "description": "disk size or range: `100GB..`, `{size: 200GB}`"
});
schema!(Duration, "Duration", {
    "type": ["string", "integer"],
    "description": "seconds, or a number with one unit: `90s`, `30m`, `2h`, `3d`, `1w`; at most 10 years (`3650d`)",
    "examples": ["30m"]
});
schema!(OffDuration, "OffDuration", {
    "type": ["string", "integer", "boolean"],
    "description": "a duration (`30m`, `2h`; at most 10 years, `3650d`), or `off`",
    "examples": ["2h", "off"]
});
schema!(IdleDuration, "IdleDuration", {
    "type": ["string", "integer", "boolean"],
    "description": "a duration (`30m`; at most 10 years, `3650d`), or `off` / a negative number for never",
    "examples": ["1h", "off"]
});
schema!(PortMapping, "PortMapping", {
    "anyOf": [
        { "type": "integer", "minimum": 1, "maximum": 65535 },
        { "type": "string", "pattern": r"^\s*(\*|\d+)\s*(:\s*\d+\s*)?$", "examples": ["8080:80", "*:8000"] },
        { "type": "object", "additionalProperties": false, "required": ["container_port"], "properties": {
            "container_port": { "type": "integer", "minimum": 1, "maximum": 65535 },
            "local_port": { "type": ["integer", "null"], "minimum": 1, "maximum": 65535 }
        } }
    ],
    "description": "`8000`, `LOCAL:CONTAINER` or `*:CONTAINER`"
});
schema!(VolumeMount, "VolumeMount", {
    "anyOf": [
        { "type": "string", "examples": ["data:/data", "/mnt/cache:/root/.cache"] },
        { "type": "object", "additionalProperties": false, "required": ["name", "path"], "properties": {
            "name": { "type": ["string", "array"], "items": { "type": "string" } },
            "path": { "type": "string" }
        } },
        { "type": "object", "additionalProperties": false, "required": ["instance_path", "path"], "properties": {
            "instance_path": { "type": "string" },
            "path": { "type": "string" },
            "optional": { "type": "boolean" }
        } }
    ],
    "description": "`VOLUME:/path` (network volume) or `/host/path:/path` (instance path)"
});
schema!(FileMapping, "FileMapping", {
    "anyOf": [
        { "type": "string", "examples": ["train.py", "src:/workflow/src"] },
        { "type": "object", "additionalProperties": false, "required": ["local_path"], "properties": {
            "local_path": { "type": "string" }, "path": { "type": "string" }
        } }
    ],
    "description": "`LOCAL[:CONTAINER]`"
});
schema!(EnvList, "Env", {
    "anyOf": [
        { "type": "array", "items": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*(=.*)?$" } },
        { "type": "object", "additionalProperties": { "type": ["string", "number", "boolean"] } }
    ],
    "description": "`- NAME=value` / `- NAME` (inherit) list, or `NAME: value` mapping"
});
schema!(Cron, "Cron", {
    "type": "string",
    "description": "five-field crontab in UTC, e.g. `0 3 * * 1-5`"
});
schema!(EnvEntry, "EnvEntry", { "type": "string" });
schema!(Usd, "Dollars", {
    "type": "number",
    "description": "US dollars (a plan's amounts may be 0, its deltas negative)"
});

/// Schema of a string field that also takes numbers (`python: 3.10`).
pub(crate) fn string_or_number(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": ["string", "number", "null"] })
}

/// `T` or a string shorthand (`model: NAME`, `repos: [PATH]`).
pub(crate) fn or_string<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let inner = generator.subschema_for::<T>();
    json_schema!({ "anyOf": [{ "type": "string" }, inner, { "type": "null" }] })
}

/// A list whose items are `T` or a string shorthand.
pub(crate) fn list_of_or_string<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let inner = generator.subschema_for::<T>();
    json_schema!({ "type": ["array", "null"], "items": { "anyOf": [{ "type": "string" }, inner] } })
}

/// `cron:` is one schedule or a list.
pub(crate) fn cron_schema(generator: &mut SchemaGenerator) -> Schema {
    let cron = generator.subschema_for::<Cron>();
    json_schema!({ "anyOf": [cron.clone(), { "type": "array", "items": cron, "minItems": 1 }] })
}

/// Adds properties (aliases) and drops names from `required`.
pub(crate) fn add_aliases(
    schema: &mut Schema,
    aliases: &[(&str, serde_json::Value)],
    not_required: &[&str],
) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(serde_json::Value::Object(props)) = obj.get_mut("properties") {
        for (name, value) in aliases {
            props.insert((*name).to_string(), value.clone());
        }
    }
    if let Some(serde_json::Value::Array(required)) = obj.get_mut("required") {
        required.retain(|r| !not_required.iter().any(|n| r == n));
    }
}

/// Replica groups also take `count` for `replicas`.
pub(crate) fn replica_group_transform(schema: &mut Schema) {
    add_aliases(
        schema,
        &[(
            "count",
            serde_json::json!({ "type": ["integer", "string", "object"] }),
        )],
        &["replicas"],
    );
}

/// 2022 workflows: `depends-on`, `python_script`, `file`, `environment`.
pub(crate) fn workflow_transform(schema: &mut Schema) {
    let list = serde_json::json!({ "type": "array" });
    let text = serde_json::json!({ "type": "string" });
    add_aliases(
        schema,
        &[
            ("depends-on", list.clone()),
            ("python_script", text.clone()),
            ("file", text),
            ("environment", list),
        ],
        &[],
    );
}

/// 2022 resources also take `<name>/gpu: <count>`.
pub(crate) fn legacy_resources_transform(schema: &mut Schema) {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "patternProperties".into(),
            serde_json::json!({ "^.+/gpu$": { "type": ["integer", "string"] } }),
        );
    }
}

/// Presets: `model` (string or mapping) and `prompt` (text or `{path}`)
/// stand for the fields the model splits out.
pub(crate) fn preset_transform(schema: &mut Schema) {
    let model = serde_json::json!({ "anyOf": [{ "type": "string" }, { "type": "object", "additionalProperties": false,
        "properties": { "repo": { "type": "string" }, "name": { "type": "string" }, "base": { "type": "string" } } }] });
    let prompt = serde_json::json!({ "anyOf": [{ "type": "string", "maxLength": 10000 }, { "type": "object",
        "additionalProperties": false, "required": ["path"], "properties": { "path": { "type": "string" } } }] });
    add_aliases(schema, &[("model", model), ("prompt", prompt)], &[]);
    if let Some(serde_json::Value::Object(props)) =
        schema.as_object_mut().and_then(|o| o.get_mut("properties"))
    {
        props.remove("model_name");
    }
}
