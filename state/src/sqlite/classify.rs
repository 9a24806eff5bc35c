//! The one place SQLite's errors are classified into [`StateError`] kinds.
//! A leaf: the store, its group commit, opening and migrations all call it.

use std::path::Path;

use rusqlite::ErrorCode;

use crate::store::StateError;

/// A damaged file is `Corrupt` and a file we may not write is `ReadOnly`,
/// whichever statement found out.
pub(super) fn classify(path: &Path, error: StateError) -> StateError {
    let StateError::Sqlite(sqlite) = &error else {
        return error;
    };
    let path = path.display().to_string();
    match sqlite.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StateError::Corrupt {
            path,
            reason: sqlite.to_string(),
        },
        Some(ErrorCode::ReadOnly) => StateError::ReadOnly {
            path,
            reason: format!("{sqlite} (the file or its directory is not writable)"),
        },
        _ => error,
    }
}
