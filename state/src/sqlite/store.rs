//! The SQLite store itself: one connection behind a mutex and whether it
//! may write; every statement's error goes through [`classify`]. Opening is
//! `open`, migrations `migrate`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use super::classify::classify;
use crate::model::now_ms;
use crate::store::StateError;

/// State in a SQLite database file.
pub struct SqliteStore {
    pub(super) path: PathBuf,
    pub(super) conn: Mutex<Connection>,
    /// The group-commit batches of writes ([`super::group`]).
    pub(super) batches: super::group::Batches,
    /// Opened read-only (the file may not be written); writes fail with
    /// [`StateError::ReadOnly`].
    pub(super) read_only: bool,
}

/// A random hex id (`bytes` random bytes) from the OS.
pub fn random_id(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if filled.is_err() {
        // No urandom: mix time and pid; ids need uniqueness, not secrecy.
        let seed = now_ms() as u128 * 1_000_003 + std::process::id() as u128;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl SqliteStore {
    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it was opened read-only (the file may not be written).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The connection, with no batch of grouped writes open on it.
    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        let conn = self.conn_raw();
        self.batches.settle_open(&conn);
        conn
    }

    /// The connection as it is (the group commit's own use).
    pub(super) fn conn_raw(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: every
        // write is its own transaction, rolled back if unfinished.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs the read-only `f` on the connection as it is: inside an open
    /// batch of grouped writes it sees them, and it does not cut the batch
    /// short (a step's reads between its writes would otherwise cost one
    /// commit each).
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        f(&self.conn_raw()).map_err(|e| classify(&self.path, e))
    }

    /// Runs `f` on the connection; SQLite's errors come out classified.
    pub(super) fn run<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        f(&mut self.conn()).map_err(|e| classify(&self.path, e))
    }
}
