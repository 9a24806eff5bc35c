//! The runner's directory: the id file, uploaded archives, and one folder
//! per job holding its submission, its last known [`JobInfo`] (written
//! atomically at every status change), its log, its work tree and its
//! saved artifacts. Everything a restarted runner knows comes from here.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Paths under the runner's directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout rooted at `root` (created when missing).
    pub fn create(root: &Path) -> io::Result<Self> {
        // Private: job records, archives and logs are this user's only.
        for dir in [root, &root.join("jobs"), &root.join("archives")] {
            super::secrecy::private_dir(dir)?;
        }
        // Absolute, so job paths stay right whatever directory a job moves to.
        Ok(Self {
            root: root.canonicalize()?,
        })
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Folder of one job.
    pub fn job(&self, id: &str) -> PathBuf {
        self.root.join("jobs").join(id)
    }

    /// Folder holding every job.
    pub fn jobs(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// An uploaded archive by hash.
    pub fn archive(&self, sha256: &str) -> PathBuf {
        self.root.join("archives").join(format!("{sha256}.tar.gz"))
    }

    /// The runner's id, made on first use.
    pub fn runner_id(&self) -> io::Result<String> {
        let path = self.root.join("runner-id");
        if let Ok(id) = std::fs::read_to_string(&path) {
            let id = id.trim().to_string();
            if !id.is_empty() {
                return Ok(id);
            }
        }
        let id = format!("r{}", &random_hex(8));
        write_atomic(&path, id.as_bytes())?;
        Ok(id)
    }
}

/// Files of one job folder.
pub struct JobFiles;

impl JobFiles {
    /// The submission as received.
    pub const SUBMISSION: &'static str = "submission.json";
    /// The last written job info.
    pub const INFO: &'static str = "info.json";
    /// The log.
    pub const LOG: &'static str = "log.jsonl";
    /// The process executor's work tree.
    pub const WORK: &'static str = "work";
    /// Saved artifacts.
    pub const ARTIFACTS: &'static str = "artifacts";
}

/// Writes a file so readers see the old or the new content, never a mix,
/// and the new content survives a crash once this returns. The file is
/// mode 0600 (only this user reads it).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // Unique per call: concurrent writers of one path must not share a
    // temporary file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp{}-{n}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(super::secrecy::FILE_MODE)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// [`write_atomic`] of a value as pretty JSON.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Reads a JSON file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<T> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

/// `n` random bytes as hex (from the OS).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS RNG failing is not recoverable for a token; fall back to
    // time and pid, which keeps ids unique if not secret.
    if getrandom::fill(&mut bytes).is_err() {
        let seed = format!("{}-{}", super::logs::now_ms(), std::process::id());
        bytes = crate::archive::sha256_hex(seed.as_bytes()).into_bytes();
        bytes.truncate(n);
    }
    hex::encode(bytes)
}

/// Copies a file or a directory tree (symlinks as links), returning files
/// and bytes copied.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<(u64, u64)> {
    let meta = std::fs::symlink_metadata(from)?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(from)?;
        let _ = std::fs::remove_file(to);
        #[cfg(unix)]
        std::os::unix::fs::symlink(target, to)?;
        return Ok((1, 0));
    }
    if meta.is_file() {
        let bytes = std::fs::copy(from, to)?;
        return Ok((1, bytes));
    }
    std::fs::create_dir_all(to)?;
    let mut total = (0, 0);
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (f, b) = copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        total.0 += f;
        total.1 += b;
    }
    Ok(total)
}
