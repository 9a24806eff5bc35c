//! What keeps a job's secrets off the disk. The runner's directories are
//! 0700 and every file it writes 0600 (the store's `write_atomic` and the
//! log writer use [`FILE_MODE`]), so only its user reads them. A job's environment (resolved
//! `${{ secrets.X }}`, inherited values) is held in memory only: the
//! submission on disk names the variables without their values, which
//! nothing needs after a restart (an unfinished job is then ended, never
//! started again). A directory written by an older runner is brought to
//! this on start-up (`recover`).
//!
//! A leaf: `store`, `logs`, `http` and `recover` build on it; it imports
//! none of them.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::api::JobSubmission;

/// What an environment value is on disk.
pub const NOT_STORED: &str = "(not stored)";

/// Mode of the runner's directories.
const DIR_MODE: u32 = 0o700;
/// Mode of the runner's files.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` (and missing parents) as 0700; an existing directory is
/// made 0700.
pub fn private_dir(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(DIR_MODE))
}

/// The submission as it is stored: every env value replaced.
pub fn stored(sub: &JobSubmission) -> JobSubmission {
    let mut stored = sub.clone();
    for value in stored.env.values_mut() {
        *value = NOT_STORED.to_string();
    }
    stored
}

/// True when a stored submission still holds an env value.
pub fn holds_values(sub: &JobSubmission) -> bool {
    sub.env.values().any(|v| v != NOT_STORED)
}
