//! The configuration model: every `type:` of `*.dstack.yml` (spec §2) and the
//! 2022 workflows format, read from spanned YAML with every problem reported.
//!
//! Pipeline: bytes → [`crate::yaml::Node`] (syntax, limits) → dispatch on
//! `type:` → the typed struct of that type ([`convert::FromYaml`], collecting
//! diagnostics) → [`Configuration`]. Defaults are not filled in here; see
//! [`crate::normalize`].
//!
//! Layering (a module imports modules of its own layer or lower ones, never a
//! higher one, so no two files import each other, directly or around a circle):
//!
//! 1. leaves: `type_words` (the `type:` words), `unknown_fields` ("did you
//!    mean"), `spans`;
//! 2. `convert`: `Cx`, `Fields`, the `FromYaml` trait and its primitive impls;
//! 3. values: `grammar_values`, `env_list`, `durations`, `price`, `limits`,
//!    `enums`, `json_bridge`, `json` (serialisation and JSON Schema helpers);
//! 4. shared blocks: `resources`, `profile`, `run`;
//! 5. types: `task`, `service` (with `service_endpoint`, `service_traffic`,
//!    `replica_group`), `dev_env`, `fleet`, `volume`, `gateway`, `preset`,
//!    `legacy` (with `legacy_deps` and `workflows_file`);
//! 6. `load` (reading a file, `type:` dispatch) and `schema` (JSON Schemas),
//!    then this module, which names [`Configuration`] and re-exports.

pub mod convert;
pub mod dev_env;
mod durations;
pub mod enums;
pub mod env_list;
pub mod fleet;
pub mod gateway;
pub mod grammar_values;
mod json;
pub mod json_bridge;
pub mod legacy;
mod legacy_deps;
pub mod limits;
mod load;
pub mod preset;
mod price;
pub mod profile;
mod replica_group;
pub mod resources;
pub mod run;
pub mod schema;
pub mod service;
mod service_endpoint;
mod service_traffic;
pub mod spans;
pub mod task;
mod type_words;
mod unknown_fields;
pub mod volume;
mod workflows_file;

pub use dev_env::DevEnvironmentConfig;
pub use fleet::FleetConfig;
pub use gateway::GatewayConfig;
pub use legacy::{VariablesFile, Workflow};
pub use load::{
    ConfigDocument, ConfigFromJsonError, LoadedFile, config_from_json, is_dstack_yml, load_config,
    load_config_with,
};
pub use preset::PresetConfig;
pub use service::ServiceConfig;
pub use task::TaskConfig;
pub use type_words::TYPES;
pub use volume::VolumeConfig;
pub use workflows_file::WorkflowsFile;

use schemars::JsonSchema;
use serde::Serialize;

use crate::grammar::ResourceName;

/// A `*.dstack.yml` configuration of any type.
#[expect(
    clippy::large_enum_variant,
    reason = "a handful per project; boxing buys nothing"
)]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Configuration {
    /// `type: task`.
    Task(TaskConfig),
    /// `type: service`.
    Service(ServiceConfig),
    /// `type: dev-environment`.
    DevEnvironment(DevEnvironmentConfig),
    /// `type: fleet`.
    Fleet(FleetConfig),
    /// `type: volume`.
    Volume(VolumeConfig),
    /// `type: gateway`.
    Gateway(GatewayConfig),
    /// `type: preset`.
    Preset(PresetConfig),
}

impl Configuration {
    /// The `type:` word.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Task(_) => "task",
            Self::Service(_) => "service",
            Self::DevEnvironment(_) => "dev-environment",
            Self::Fleet(_) => "fleet",
            Self::Volume(_) => "volume",
            Self::Gateway(_) => "gateway",
            Self::Preset(_) => "preset",
        }
    }

    /// The `name:` if given.
    pub fn name(&self) -> Option<&ResourceName> {
        match self {
            Self::Task(c) => c.common.name.as_ref(),
            Self::Service(c) => c.common.name.as_ref(),
            Self::DevEnvironment(c) => c.common.name.as_ref(),
            Self::Fleet(c) => c.name.as_ref(),
            Self::Volume(c) => c.name.as_ref(),
            Self::Gateway(c) => c.name.as_ref(),
            Self::Preset(c) => c.name.as_ref(),
        }
    }

    /// The shared run fields, for the three run types.
    pub fn run_common(&self) -> Option<&run::RunCommon> {
        match self {
            Self::Task(c) => Some(&c.common),
            Self::Service(c) => Some(&c.common),
            Self::DevEnvironment(c) => Some(&c.common),
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Configuration {
    /// Through the YAML rules: JSON specs accept exactly what files accept.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        config_from_json(&value).map_err(serde::de::Error::custom)
    }
}
