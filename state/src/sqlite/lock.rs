//! [`StateLock`] on SQLite: one `locks` row named `state`, taken in an
//! immediate transaction so two processes cannot both take it.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::rows::{LOCK_COLUMNS, read_lock};
use super::store::{SqliteStore, random_id};
use crate::model::{LockInfo, LockRequest, now_ms};
use crate::store::{StateError, StateLock, pid_alive};

impl StateLock for SqliteStore {
    fn try_lock(&self, request: &LockRequest) -> Result<LockInfo, StateError> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let held = tx
                .query_row(
                    &format!("SELECT {LOCK_COLUMNS} FROM locks WHERE name = 'state'"),
                    [],
                    read_lock,
                )
                .optional()?;
            if let Some(held) = held {
                let stale = held.request.host == request.host && !pid_alive(held.request.pid);
                if !stale {
                    return Err(StateError::Locked(held));
                }
                tx.execute("DELETE FROM locks WHERE name = 'state'", [])?;
            }
            let info = LockInfo {
                id: random_id(8),
                request: request.clone(),
                created_at: now_ms(),
            };
            tx.execute(
                "INSERT INTO locks (name, id, holder, pid, host, operation, created_at) VALUES ('state', ?1, ?2, ?3, ?4, ?5, ?6)",
                params![info.id, request.holder, request.pid, request.host, request.operation, info.created_at],
            )?;
            tx.commit()?;
            Ok(info)
        })
    }

    fn unlock(&self, id: &str) -> Result<(), StateError> {
        let removed = self.run(|conn| {
            Ok(conn.execute("DELETE FROM locks WHERE name = 'state' AND id = ?1", [id])?)
        })?;
        if removed == 0 {
            return Err(StateError::NoSuchLock(id.to_string()));
        }
        Ok(())
    }

    fn current_lock(&self) -> Result<Option<LockInfo>, StateError> {
        self.run(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {LOCK_COLUMNS} FROM locks WHERE name = 'state'"),
                    [],
                    read_lock,
                )
                .optional()?)
        })
    }
}
