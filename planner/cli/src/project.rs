//! Finding and reading the configuration files of a project (IO at the edge).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dstack_schemas::config::{ConfigDocument, LoadedFile, load_config, load_config_with};
use dstack_schemas::yaml::Limits;

use crate::error::CliError;
use dstack_engine::files::{FileError, read_optional, read_regular, special};

/// One configuration file, read.
#[derive(Debug, Clone)]
pub struct ProjectFile {
    /// Parse result with diagnostics.
    pub loaded: LoadedFile,
}

/// True for file names dstack reads from a directory.
pub fn is_config_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let in_dot_dstack = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|p| p == ".dstack");
    name.ends_with(".dstack.yml")
        || name.ends_with(".dstack.yaml")
        || name == ".dstack.yml"
        || name == ".dstack.yaml"
        || (in_dot_dstack
            && matches!(
                name,
                "workflows.yaml" | "workflows.yml" | "variables.yaml" | "variables.yml"
            ))
}

fn skip_dir(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    // `.dstack/` holds the state, runner jobs (with unpacked copies of the
    // project), artifacts and volumes: only its own top-level files count.
    let inside_dot_dstack = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|p| p == ".dstack");
    inside_dot_dstack
        || matches!(name, "target" | "node_modules" | ".git")
        || (name.starts_with('.') && name != ".dstack" && name != ".")
}

/// Configuration files under `dir`, sorted; a file with a configuration's
/// name that is not a regular file (a FIFO, a socket) is skipped with a
/// warning, so it can never hang the walk.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read directory {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if !skip_dir(&path) {
                walk(&path, out)?;
            }
        } else if is_config_name(&path) {
            match special(&path) {
                Some(s) => errln!(
                    "{}",
                    dstack_engine::files::Special {
                        path: display_path(&path).into(),
                        ..s
                    }
                    .warning()
                ),
                None => out.push(path),
            }
        }
    }
    Ok(())
}

/// Expands `inputs` (files and directories) into configuration files; no
/// inputs means the project directory. An input that is neither a
/// directory nor a regular file (nor `-`, standard input) is an error.
pub fn discover(project_dir: &Path, inputs: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let inputs = if inputs.is_empty() {
        vec![project_dir.to_path_buf()]
    } else {
        inputs.to_vec()
    };
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(&input, &mut out)?;
        } else if input.as_os_str() == "-" {
            out.push(input);
        } else if let Some(s) = special(&input) {
            return Err(CliError::Usage(format!(
                "-f {}: it is {}, not a regular file; dstack reads only regular files",
                input.display(),
                s.what
            )));
        } else if input.exists() {
            out.push(input);
        } else {
            return Err(CliError::Usage(format!(
                "{} does not exist",
                input.display()
            )));
        }
    }
    Ok(out)
}

fn display_path(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let rel = cwd
        .as_ref()
        .and_then(|c| path.strip_prefix(c).ok())
        .unwrap_or(path);
    rel.strip_prefix("./").unwrap_or(rel).display().to_string()
}

/// The 2022 variables next to a workflows file, if any.
fn sibling_variables(path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let Some(dir) = path.parent() else {
        return BTreeMap::new();
    };
    for name in ["variables.yaml", "variables.yml"] {
        let candidate = dir.join(name);
        if candidate == path {
            continue;
        }
        let bytes = match read_optional(&candidate) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(FileError::NotRegular(s)) => {
                errln!("{}", s.warning());
                continue;
            }
            Err(e) => {
                errln!("warning: {e:#}");
                continue;
            }
        };
        if let Some(ConfigDocument::Variables(vars)) =
            load_config(&candidate.display().to_string(), &bytes).document
        {
            return vars.variables;
        }
    }
    BTreeMap::new()
}

/// Reads and parses each file (`-` is standard input).
pub fn load_files(paths: &[PathBuf]) -> Result<Vec<ProjectFile>, CliError> {
    paths
        .iter()
        .map(|path| {
            let bytes = if path.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
                buf
            } else {
                read_regular(path).map_err(CliError::file)?
            };
            let name = if path.as_os_str() == "-" {
                "<stdin>".to_string()
            } else {
                display_path(path)
            };
            let variables = sibling_variables(path);
            Ok(ProjectFile {
                loaded: load_config_with(&name, &bytes, &Limits::default(), &variables),
            })
        })
        .collect()
}
