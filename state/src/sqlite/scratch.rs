//! Scratch databases for tests: a `state.db` path inside a fresh directory
//! that is removed when the value drops, so tests leave nothing behind.

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A `state.db` path in its own temporary directory.
pub(crate) struct TempDb {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TempDb {
    /// A path in a new, empty directory (the file does not exist yet).
    pub(crate) fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dstack-state-")
            .tempdir()
            .expect("a temporary directory");
        let path = dir.path().join("state.db");
        Self { _dir: dir, path }
    }
}

impl Deref for TempDb {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempDb {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}
