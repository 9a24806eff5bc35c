//! `StateError`: everything that can go wrong with recorded state, for
//! every store. Which variant a failure is decides the CLI's exit code, so
//! stores classify their backend's errors into these kinds (a damaged file
//! is `Corrupt`, a file we may not write is `ReadOnly`) rather than passing
//! them through as `Sqlite`.

use dstack_schemas::addr::ResourceAddr;

use crate::model::LockInfo;

/// Everything that can go wrong with recorded state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another operation holds the lock.
    #[error("state is locked by {} ({}, lock id {}) since {}", .0.request.holder, .0.request.operation, .0.id, format_ms(.0.created_at))]
    Locked(LockInfo),
    /// A write expected another version (someone changed the row meanwhile).
    #[error("state row {address} changed meanwhile (expected {expected}, found {found})")]
    Conflict {
        /// The row.
        address: ResourceAddr,
        /// What the writer expected.
        expected: String,
        /// What is there.
        found: String,
    },
    /// No lock with this id.
    #[error("no lock with id `{0}` is held")]
    NoSuchLock(String),
    /// The database was written by a newer dstack.
    #[error(
        "state at {path} has schema version {found}, newer than this dstack understands ({known}); upgrade dstack"
    )]
    TooNew {
        /// Database path.
        path: String,
        /// Version found.
        found: i64,
        /// Newest version known here.
        known: i64,
    },
    /// The file is not a state database, or is damaged.
    #[error("state at {path} is unreadable: {reason}")]
    Corrupt {
        /// Database path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The state may be read but not written (file permissions, a
    /// read-only mount); nothing is damaged.
    #[error("state at {path} cannot be written: {reason}")]
    ReadOnly {
        /// Database path.
        path: String,
        /// Why (permission denied, read-only file system, ...).
        reason: String,
    },
    /// The state file may not even be read.
    #[error("state at {path} cannot be read: {reason}")]
    Denied {
        /// Database path.
        path: String,
        /// Why (permission denied).
        reason: String,
    },
    /// A stored value did not decode.
    #[error("state row {address} is damaged: {reason}")]
    BadRow {
        /// The row.
        address: String,
        /// What was wrong.
        reason: String,
    },
    /// The database failed.
    #[error("state database error")]
    Sqlite(#[from] rusqlite::Error),
    /// A file operation failed.
    #[error("state file error")]
    Io(#[from] std::io::Error),
}

fn format_ms(ms: i64) -> String {
    let secs = (crate::model::now_ms() - ms).max(0) / 1000;
    match secs {
        s if s < 120 => format!("{s}s ago"),
        s if s < 7200 => format!("{}m ago", s / 60),
        s => format!("{}h ago", s / 3600),
    }
}
