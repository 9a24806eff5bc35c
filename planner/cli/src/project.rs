//! Finding and reading the configuration files of a project (IO at the edge).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use dstack_schemas::config::{ConfigDocument, LoadedFile, load_config, load_config_with};
use dstack_schemas::yaml::Limits;

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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if !skip_dir(&path) {
                walk(&path, out)?;
            }
        } else if is_config_name(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Expands `inputs` (files and directories) into configuration files; no
/// inputs means the project directory.
pub fn discover(project_dir: &Path, inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let inputs = if inputs.is_empty() {
        vec![project_dir.to_path_buf()]
    } else {
        inputs.to_vec()
    };
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(&input, &mut out)?;
        } else if input.exists() || input.as_os_str() == "-" {
            out.push(input);
        } else {
            anyhow::bail!("{} does not exist", input.display());
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
        if candidate != path
            && let Ok(bytes) = std::fs::read(&candidate)
            && let Some(ConfigDocument::Variables(vars)) =
                load_config(&candidate.display().to_string(), &bytes).document
        {
            return vars.variables;
        }
    }
    BTreeMap::new()
}

/// Reads and parses each file (`-` is standard input).
pub fn load_files(paths: &[PathBuf]) -> anyhow::Result<Vec<ProjectFile>> {
    paths
        .iter()
        .map(|path| {
            let bytes = if path.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
                buf
            } else {
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
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
