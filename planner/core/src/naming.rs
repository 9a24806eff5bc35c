//! The one rule that names a resource: its `name:`, or for a configuration
//! without one, a name derived from its file (`My_Train.dstack.yml` →
//! `my-train`; `.dstack.yml` → the directory's name). Plan (`desired`) and
//! apply (finding a run's file again) both call [`resource_name`], so the two
//! can never disagree.

use std::path::Path;

use dstack_schemas::config::Configuration;
use dstack_schemas::grammar::ResourceName;

/// A file whose name gives no valid resource name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot derive a name from the file name `{base}`")]
pub struct NameError {
    /// The file's base name as written.
    pub base: String,
}

/// The name of `config` read from the file `file_name`: `name:` if set,
/// else derived from the file name.
pub fn resource_name(config: &Configuration, file_name: &str) -> Result<String, NameError> {
    match config.name() {
        Some(name) => Ok(name.to_string()),
        None => name_from_file(file_name),
    }
}

/// The name derived from a file name: suffixes `.yml`/`.yaml` and
/// `.dstack` dropped (an empty stem takes the directory's name), lowercased,
/// every run of other characters made one `-`, dashes trimmed at the ends.
pub fn name_from_file(file_name: &str) -> Result<String, NameError> {
    let path = Path::new(file_name);
    let base = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = base
        .trim_end_matches(".yml")
        .trim_end_matches(".yaml")
        .trim_end_matches(".dstack");
    let stem = if stem.is_empty() {
        directory_name(path)
    } else {
        stem.to_string()
    };
    let error = || NameError { base: base.into() };
    slug(&stem)
        .parse::<ResourceName>()
        .map(|n| n.to_string())
        .map_err(|_| error())
}

fn directory_name(path: &Path) -> String {
    path.parent()
        .and_then(|p| p.canonicalize().ok().or_else(|| Some(p.to_path_buf())))
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

fn slug(stem: &str) -> String {
    let mut name = String::with_capacity(stem.len());
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && name.ends_with('-')) {
            name.push(c);
        }
    }
    name.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_become_resource_names() {
        for (file, name) in [
            ("train.dstack.yml", "train"),
            ("sub/My_Train.dstack.yml", "my-train"),
            ("a  b.dstack.yaml", "a-b"),
            ("x/Serve.yml", "serve"),
            ("/tmp/proj-x/.dstack.yml", "proj-x"),
        ] {
            assert_eq!(name_from_file(file).as_deref(), Ok(name), "{file}");
        }
    }

    #[test]
    fn a_file_name_with_no_letters_is_an_error_naming_it() {
        let err = name_from_file("dir/___.dstack.yml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot derive a name from the file name `___.dstack.yml`"
        );
    }
}
