//! `dstack validate`: every problem of every file, located.

use std::path::{Path, PathBuf};

use dstack_schemas::config::ConfigDocument;
use dstack_schemas::diag::{FileReport, Severity};
use dstack_schemas::exit_codes;

use crate::cli::Format;
use crate::error::CliError;
use crate::output::OutputError;
use crate::project::{ProjectFile, discover, load_files};
use crate::render::{color_enabled, diagnostic_text};

/// Validates `inputs` (or the project directory).
pub fn run(project_dir: &Path, inputs: &[PathBuf], format: Format) -> Result<i32, CliError> {
    let paths = discover(project_dir, inputs)?;
    if paths.is_empty() {
        return Err(CliError::Usage(format!(
            "no configuration files (*.dstack.yml, .dstack/workflows.yaml) under {}",
            inputs
                .first()
                .map_or(project_dir, PathBuf::as_path)
                .display()
        )));
    }
    let files = load_files(&paths)?;
    match format {
        Format::Text => print_text(&files)?,
        Format::Json => print_json(&files)?,
    }
    let invalid = files.iter().any(|f| f.loaded.has_errors());
    Ok(if invalid {
        exit_codes::INVALID_CONFIG
    } else {
        exit_codes::OK
    })
}

fn describe(file: &ProjectFile) -> String {
    match &file.loaded.document {
        Some(ConfigDocument::Config(c)) => match c.name() {
            Some(name) => format!("{} `{name}`", c.type_name()),
            None => c.type_name().to_string(),
        },
        Some(ConfigDocument::Workflows(w)) => format!("{} workflow(s)", w.workflows.len()),
        Some(ConfigDocument::Variables(_)) => "workflow variables".to_string(),
        None => "invalid".to_string(),
    }
}

fn print_text(files: &[ProjectFile]) -> Result<(), OutputError> {
    let color = color_enabled();
    let (mut errors, mut warnings, mut valid) = (0, 0, 0);
    for file in files {
        for diag in &file.loaded.diagnostics {
            errln!("{}", diagnostic_text(&file.loaded.file, diag, color));
            match diag.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
        }
        if !file.loaded.has_errors() {
            valid += 1;
            outln!("ok   {} ({})", file.loaded.file.name(), describe(file))?;
        } else {
            outln!("FAIL {}", file.loaded.file.name())?;
        }
    }
    let invalid = files.len() - valid;
    outln!(
        "\n{} file(s) checked: {valid} valid, {invalid} invalid ({errors} error(s), {warnings} warning(s))",
        files.len()
    )?;
    Ok(())
}

fn print_json(files: &[ProjectFile]) -> Result<(), OutputError> {
    let entries: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            let config = f.loaded.config();
            serde_json::json!({
                "path": f.loaded.file.name(),
                "valid": !f.loaded.has_errors(),
                "type": config.map(|c| c.type_name()),
                "name": config.and_then(|c| c.name()).map(|n| n.to_string()),
                "diagnostics": f.loaded.diagnostics.iter()
                    .map(|d| FileReport::new(f.loaded.file.clone(), d.clone()).to_json())
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let count = |sev: Severity| {
        files
            .iter()
            .flat_map(|f| &f.loaded.diagnostics)
            .filter(|d| d.severity == sev)
            .count()
    };
    let out = serde_json::json!({
        "format_version": "1",
        "valid": files.iter().all(|f| !f.loaded.has_errors()),
        "files": entries,
        "summary": {
            "files": files.len(),
            "invalid": files.iter().filter(|f| f.loaded.has_errors()).count(),
            "errors": count(Severity::Error),
            "warnings": count(Severity::Warning),
        },
    });
    outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default())?;
    Ok(())
}
