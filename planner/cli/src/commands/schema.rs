//! `dstack schema [NAME]`: print a JSON Schema.

use dstack_schemas::config::schema::{SCHEMA_NAMES, schema_for};
use dstack_schemas::exit_codes;
use dstack_schemas::inspect::{INSPECT_SCHEMA_NAMES, inspect_schema_for};

use crate::error::CliError;

/// Prints the schema `name`.
pub fn run(name: &str) -> Result<i32, CliError> {
    match schema_for(name).or_else(|| inspect_schema_for(name)) {
        Some(schema) => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&schema).map_err(anyhow::Error::from)?
            )?;
            Ok(exit_codes::OK)
        }
        None => Err(CliError::Usage(format!(
            "unknown schema `{name}`; known: {}, {}",
            SCHEMA_NAMES.join(", "),
            INSPECT_SCHEMA_NAMES.join(", ")
        ))),
    }
}
