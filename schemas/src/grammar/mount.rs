//! Volume mounts (`data:/data`, `/mnt/cache:/root/.cache`) and file mappings
//! (`local[:container]`) (spec §3.7, §3.8).

use std::fmt;
use std::str::FromStr;

use super::GrammarError;

/// Where a volume is mounted in the job's container.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VolumeMount {
    /// A network volume by name (a list: any one of them).
    Network {
        /// Candidate volume names.
        names: Vec<String>,
        /// Mount path in the container.
        path: String,
    },
    /// A directory of the instance (host).
    Instance {
        /// Path on the instance.
        instance_path: String,
        /// Mount path in the container.
        path: String,
        /// Whether backends without instance mounts may still run the job.
        optional: bool,
    },
}

fn mount_help() -> &'static str {
    "a mount is `VOLUME:/path` for a network volume or `/instance/path:/path` for a host directory"
}

/// Checks that a mount path is absolute and has no `..` parts.
pub fn check_mount_path(path: &str, side: &str) -> Result<(), GrammarError> {
    if !path.starts_with('/') {
        return Err(
            GrammarError::whole(format!("{side} path `{path}` must be absolute"))
                .help(mount_help()),
        );
    }
    if path.split('/').any(|part| part == "..") {
        return Err(GrammarError::whole(format!(
            "{side} path `{path}` must not contain `..`"
        )));
    }
    Ok(())
}

impl VolumeMount {
    /// The container path.
    pub fn path(&self) -> &str {
        match self {
            Self::Network { path, .. } | Self::Instance { path, .. } => path,
        }
    }
}

impl FromStr for VolumeMount {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let t = text.trim();
        let parts: Vec<&str> = t.split(':').collect();
        let [source, path] = parts.as_slice() else {
            return Err(GrammarError::whole(format!(
                "`{t}` is not `SOURCE:PATH` (exactly one `:`)"
            ))
            .help(mount_help()));
        };
        check_mount_path(path, "container").map_err(|e| e.shift(source.len() + 1))?;
        if source.contains('/') {
            check_mount_path(source, "instance")?;
            Ok(Self::Instance {
                instance_path: source.to_string(),
                path: path.to_string(),
                optional: false,
            })
        } else if source.is_empty() {
            Err(GrammarError::whole(format!("`{t}` has no volume name")).help(mount_help()))
        } else {
            Ok(Self::Network {
                names: vec![source.to_string()],
                path: path.to_string(),
            })
        }
    }
}

impl fmt::Display for VolumeMount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network { names, path } if names.len() == 1 => write!(f, "{}:{path}", names[0]),
            Self::Network { names, path } => {
                // Quoted: a name such as `no` or `on` is a YAML boolean bare.
                let quoted: Vec<String> = names
                    .iter()
                    .map(|n| format!("'{}'", n.replace('\'', "''")))
                    .collect();
                write!(f, "{{name: [{}], path: '{path}'}}", quoted.join(", "))
            }
            Self::Instance {
                instance_path,
                path,
                optional: false,
            } => write!(f, "{instance_path}:{path}"),
            Self::Instance {
                instance_path,
                path,
                optional: true,
            } => write!(
                f,
                "{{instance_path: '{instance_path}', path: '{path}', optional: true}}"
            ),
        }
    }
}

/// A local file or directory uploaded into the job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileMapping {
    /// Path on the machine running `dstack apply` (relative to the config's directory).
    pub local: String,
    /// Path in the container (relative to the working dir); `None` = same as local.
    pub container: Option<String>,
}

fn has_drive_letter(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
}

impl FromStr for FileMapping {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let t = text.trim();
        let drive = if has_drive_letter(t) { 2 } else { 0 };
        let (local, container) = match t[drive..].split_once(':') {
            Some((l, c)) => (&t[..drive + l.len()], Some(c)),
            None => (t, None),
        };
        if let Some(c) = container
            && (c.contains(':') || has_drive_letter(c))
        {
            return Err(
                GrammarError::whole(format!("`{t}` is not `LOCAL[:CONTAINER]`"))
                    .help("a file mapping is `local/path` or `local/path:/container/path`"),
            );
        }
        if local.is_empty() || container.is_some_and(str::is_empty) {
            return Err(GrammarError::whole(format!("`{t}` has an empty path")));
        }
        Ok(Self {
            local: local.to_string(),
            container: container.map(str::to_string),
        })
    }
}

impl fmt::Display for FileMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.container {
            Some(c) => write!(f, "{}:{c}", self.local),
            None => f.write_str(&self.local),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts() {
        let m = |t: &str| t.parse::<VolumeMount>();
        assert!(matches!(
            m("data:/data").unwrap(),
            VolumeMount::Network { .. }
        ));
        assert!(matches!(
            m("/mnt/x:/x").unwrap(),
            VolumeMount::Instance { .. }
        ));
        for bad in ["~/x:/y", "./x:/y", "vol:rel", "vol:/a:/b", "vol:/a/../b"] {
            assert!(m(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn files() {
        let f = |t: &str| t.parse::<FileMapping>().unwrap();
        assert_eq!(f("train.py").container, None);
        assert_eq!(f("src/a.py:/b").container.as_deref(), Some("/b"));
        assert_eq!(f("C:\\x:/y").local, "C:\\x");
        assert!("a:b:c".parse::<FileMapping>().is_err());
    }
}
