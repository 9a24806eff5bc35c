//! What of the user's machine a job gets: the repo (the run's `repos:`
//! local path, else the project directory) packed as a tar.gz, git-aware
//! (tracked and untracked-but-not-ignored files, so uncommitted changes
//! travel too), and each `files:` mapping as its own archive. `.dstack/`
//! and `.git/` never travel; `.dstackignore` lists more to leave out.

use std::path::{Path, PathBuf};
use std::process::Command;

use dstack_schemas::grammar::FileMapping;
use serde::Serialize;

use crate::Output;
use crate::files::{FileError, open_regular, read_optional, shown, special_kind};

/// Most bytes a repo archive may hold.
pub const REPO_LIMIT: u64 = 200_000_000;
/// Most bytes one `files:` entry may hold (dstack's default is 2 MB; the
/// local backend has no upload to pay for, so this is generous).
pub const FILES_LIMIT: u64 = 100_000_000;

/// Git facts of a packed repo (for people and input hashes).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RepoInfo {
    /// The directory packed.
    pub dir: String,
    /// `git` or `dir`.
    pub kind: String,
    /// `origin` URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Current branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// HEAD commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Uncommitted changes exist.
    pub dirty: bool,
}

impl RepoInfo {
    /// What a job learns about its repo (`DSTACK_REPO_*`).
    pub fn env(&self) -> std::collections::BTreeMap<String, String> {
        let mut env = std::collections::BTreeMap::new();
        for (key, value) in [
            ("DSTACK_REPO_URL", &self.remote),
            ("DSTACK_REPO_BRANCH", &self.branch),
            ("DSTACK_REPO_HASH", &self.commit),
        ] {
            if let Some(v) = value {
                env.insert(key.to_string(), v.clone());
            }
        }
        env.insert("DSTACK_REPO_DIRTY".into(), self.dirty.to_string());
        env
    }
}

/// A packed repo.
#[derive(Debug, Clone)]
pub struct PackedRepo {
    /// The tar.gz.
    pub bytes: Vec<u8>,
    /// Its SHA-256.
    pub sha256: String,
    /// Files in it.
    pub files: usize,
    /// Git facts.
    pub info: RepoInfo,
}

fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

fn git_text(dir: &Path, args: &[&str]) -> Option<String> {
    git(dir, args)
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn ignored_by_dstack(path: &Path, patterns: &[String]) -> bool {
    let first = path
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str());
    if matches!(first, Some(".dstack") | Some(".git")) {
        return true;
    }
    let text = path.to_string_lossy();
    patterns.iter().any(|p| {
        let p = p.trim_matches('/');
        text == p
            || text.starts_with(&format!("{p}/"))
            || path.components().any(|c| c.as_os_str() == p)
    })
}

/// The patterns of `.dstackignore`; one that is not a regular file is
/// skipped with a warning.
fn dstackignore(dir: &Path, warn: &dyn Output) -> Vec<String> {
    let text = match read_optional(&dir.join(".dstackignore")) {
        Ok(bytes) => String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned(),
        Err(FileError::NotRegular(s)) => {
            warn.err(&format!("{}\n", s.warning()));
            String::new()
        }
        Err(e) => {
            warn.err(&format!("warning: {e:#}; nothing is left out by it\n"));
            String::new()
        }
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Packs `dir` (git-aware when it is inside a work tree).
/// Warnings (a special `.dstackignore`, a FIFO in the tree) go to `warn`.
pub fn pack_repo(dir: &Path, warn: &dyn Output) -> Result<PackedRepo, String> {
    let patterns = dstackignore(dir, warn);
    let (files, info) = match git(
        dir,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    ) {
        Some(listing) => {
            let files: Vec<PathBuf> = listing
                .split(|&b| b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
                .collect();
            let info = RepoInfo {
                dir: dir.display().to_string(),
                kind: "git".into(),
                remote: git_text(dir, &["remote", "get-url", "origin"]),
                branch: git_text(dir, &["rev-parse", "--abbrev-ref", "HEAD"]),
                commit: git_text(dir, &["rev-parse", "HEAD"]),
                dirty: git_text(dir, &["status", "--porcelain", "--", "."]).is_some(),
            };
            (files, info)
        }
        None => {
            let files = list_files(dir, &[".git", ".dstack"], &patterns, warn)?;
            let info = RepoInfo {
                dir: dir.display().to_string(),
                kind: "dir".into(),
                ..RepoInfo::default()
            };
            (files, info)
        }
    };
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| !ignored_by_dstack(f, &patterns))
        .collect();
    let bytes = dstack_runner::archive::pack(dir, &files, REPO_LIMIT)
        .map_err(|e| format!("cannot pack the repo {}: {e}", dir.display()))?;
    Ok(PackedRepo {
        sha256: dstack_runner::archive::sha256_hex(&bytes),
        files: files.len(),
        bytes,
        info,
    })
}

/// Files and symlinks under `root` (relative paths, sorted), skipping
/// directories named in `skip` at any depth. Anything else (a FIFO, a
/// socket, a device) never travels: it is reported, unless `ignored` leaves
/// it out anyway.
fn list_files(
    root: &Path,
    skip: &[&str],
    ignored: &[String],
    warn: &dyn Output,
) -> Result<Vec<PathBuf>, String> {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || !(e.file_type().is_dir() && skip.iter().any(|s| e.file_name() == *s))
        });
    let mut out = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", root.display()))?;
        let kind = entry.file_type();
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        if kind.is_dir() || ignored_by_dstack(rel, ignored) {
            continue;
        }
        if kind.is_file() || kind.is_symlink() {
            out.push(rel.to_path_buf());
        } else if let Some(what) = entry.metadata().ok().as_ref().and_then(special_kind) {
            warn.err(&format!(
                "warning: {} is not packed for the job: it is {what}, not a regular file\n",
                shown(entry.path())
            ));
        }
    }
    Ok(out)
}

/// The directory whose contents a run gets as its repo: its `repos:`
/// local path (relative to the config's directory), else the project.
pub fn repo_dir(
    config: &dstack_schemas::config::Configuration,
    config_dir: &Path,
    project_dir: &Path,
) -> Result<PathBuf, String> {
    let repo = config
        .run_common()
        .and_then(|c| c.repos.as_ref())
        .and_then(|r| r.first());
    match repo {
        None => Ok(project_dir.to_path_buf()),
        Some(r) => match (&r.local_path, &r.url) {
            (Some(local), _) => {
                let path = expand_home(local);
                Ok(if path.is_absolute() {
                    path
                } else {
                    config_dir.join(path)
                })
            }
            (None, Some(url)) => Err(format!(
                "cloning the remote repo {url} is not supported here (no network in jobs); use `local_path:` with a checkout"
            )),
            (None, None) => Ok(project_dir.to_path_buf()),
        },
    }
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// One `files:` entry packed: the archive and where it unpacks.
pub fn pack_file_mapping(
    mapping: &FileMapping,
    config_dir: &Path,
    warn: &dyn Output,
) -> Result<(Vec<u8>, String), String> {
    let local = expand_home(&mapping.local);
    let local = if local.is_absolute() {
        local
    } else {
        config_dir.join(local)
    };
    let container = mapping
        .container
        .clone()
        .unwrap_or_else(|| mapping.local.clone());
    let meta = std::fs::metadata(&local)
        .map_err(|e| format!("files: {} cannot be read: {e}", local.display()))?;
    if meta.is_dir() {
        let files = list_files(&local, &[".git"], &[], warn).map_err(|e| format!("files: {e}"))?;
        let bytes = dstack_runner::archive::pack(&local, &files, FILES_LIMIT)
            .map_err(|e| format!("files: {e}"))?;
        return Ok((bytes, container));
    }
    // A single file: packed under the container's file name, unpacked in
    // the container path's directory.
    let name = Path::new(&container)
        .file_name()
        .map(PathBuf::from)
        .ok_or_else(|| format!("files: `{container}` names no file"))?;
    let parent = Path::new(&container)
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| ".".into());
    let (mut source, meta) = open_regular(&local).map_err(|e| format!("files: {e}"))?;
    let staging = tempfile::tempdir().map_err(|e| format!("files: {e}"))?;
    let copy = staging.path().join(&name);
    std::fs::File::create(&copy)
        .and_then(|mut to| std::io::copy(&mut source, &mut to))
        .and_then(|_| std::fs::set_permissions(&copy, meta.permissions()))
        .map_err(|e| format!("files: cannot read {}: {e}", local.display()))?;
    let bytes = dstack_runner::archive::pack(staging.path(), &[name], FILES_LIMIT)
        .map_err(|e| format!("files: {e}"))?;
    Ok((bytes, parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dstack_dirs_and_ignore_patterns_stay_home() {
        let pats = vec!["data".to_string(), "build/out".to_string()];
        assert!(ignored_by_dstack(Path::new(".dstack/state.db"), &[]));
        assert!(ignored_by_dstack(Path::new("data/x.csv"), &pats));
        assert!(ignored_by_dstack(Path::new("src/data/x.csv"), &pats));
        assert!(ignored_by_dstack(Path::new("build/out/a"), &pats));
        assert!(!ignored_by_dstack(Path::new("build/keep"), &pats));
        assert!(!ignored_by_dstack(Path::new("src/main.py"), &pats));
    }

    #[test]
    fn plain_directories_are_packed_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::create_dir_all(dir.path().join(".dstack")).unwrap();
        std::fs::write(dir.path().join(".dstack/state.db"), "x").unwrap();
        let packed = pack_repo(dir.path(), &crate::output::Discard).unwrap();
        assert_eq!(packed.files, 1);
        assert_eq!(packed.info.kind, "dir");
        let again = pack_repo(dir.path(), &crate::output::Discard).unwrap();
        assert_eq!(packed.sha256, again.sha256);
    }
}
