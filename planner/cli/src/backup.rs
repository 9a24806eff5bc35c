//! Where the state file's backup goes. A leaf: `context` takes the copy
//! there before an apply or destroy, `error` points the user to it.

use std::path::{Path, PathBuf};

/// `<state file>.backup`.
pub fn backup_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".backup");
    PathBuf::from(name)
}
