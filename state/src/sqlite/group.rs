//! Group commit: the writes of an apply's concurrent steps share one
//! transaction and one fsync, and each write still returns only once it is
//! durable (`synchronous=FULL` is kept).
//!
//! A write joins the open batch (`BEGIN IMMEDIATE` when none is open), runs
//! inside its own savepoint (a failed write leaves the batch clean), and
//! then waits for the batch to commit. The first waiter becomes the leader
//! and commits once no other writer is on its way in (or the batch is
//! full); writes that arrive meanwhile queue on the connection and form the
//! next batch. Reads of resources run inside the open batch (they
//! see its writes); anything else that uses the connection commits the open
//! batch first, so no other write runs inside it.

use std::sync::{Condvar, Mutex, MutexGuard};

use rusqlite::Connection;

use super::SqliteStore;
use crate::store::StateError;

/// A writer on its way into the open batch; leaving wakes a leader that
/// waits for the last one.
struct Arriving<'a>(&'a Batches);

impl Drop for Arriving<'_> {
    fn drop(&mut self) {
        let mut group = self.0.lock();
        group.arriving -= 1;
        if group.arriving == 0 {
            drop(group);
            self.0.changed.notify_all();
        }
    }
}

/// Where the batches are.
#[derive(Debug, Default)]
pub(super) struct Group {
    /// A batch's transaction is open on the connection.
    open: bool,
    /// The id of the open (or last opened) batch.
    batch: u64,
    /// The last batch that is over (committed, or failed below).
    settled: u64,
    /// A leader is committing.
    committing: bool,
    /// Writers on their way into the open batch (waiting for the
    /// connection or running their write): a leader lets them in first.
    arriving: usize,
    /// Writes in the open batch.
    writes: usize,
    /// The last batch whose commit failed, and SQLite's error (every
    /// writer of that batch gets it, classified like any other).
    failed: Option<(u64, rusqlite::ffi::Error, String)>,
}

/// The batches, and the signal that they changed: a batch is over, a
/// leader stepped down, or the last arriving writer is in.
#[derive(Debug, Default)]
pub(super) struct Batches {
    group: Mutex<Group>,
    changed: Condvar,
}

/// A leader commits without waiting for arriving writers once its batch
/// holds this many writes, so a steady stream of writers cannot hold a
/// batch open for ever.
const FULL_BATCH: usize = 256;

impl Batches {
    fn lock(&self) -> MutexGuard<'_, Group> {
        self.group.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a writer on its way into the batch until the guard drops.
    fn arrive(&self) -> Arriving<'_> {
        self.lock().arriving += 1;
        Arriving(self)
    }

    /// Commits the open batch on `conn` (the caller holds the connection).
    pub(super) fn settle_open(&self, conn: &Connection) {
        let mut group = self.lock();
        if !group.open {
            return;
        }
        group.open = false;
        let batch = group.batch;
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            let code = match &e {
                rusqlite::Error::SqliteFailure(code, _) => *code,
                _ => rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            };
            group.failed = Some((
                batch,
                code,
                format!("commit of a batch of writes failed: {e}"),
            ));
        }
        group.settled = batch;
        drop(group);
        self.changed.notify_all();
    }
}

impl SqliteStore {
    /// Runs the write `f` in the open batch and returns once that batch is
    /// committed (its error when `f` fails, or when the commit does).
    pub(super) fn write_grouped<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        self.write_grouped_raw(f)
            .map_err(|e| super::classify::classify(&self.path, e))
    }

    fn write_grouped_raw<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let (out, batch) = {
            let _arriving = self.batches.arrive();
            let conn = self.conn_raw();
            let batch = self.join_batch(&conn)?;
            conn.execute_batch("SAVEPOINT w")?;
            let out = f(&conn);
            let end = if out.is_ok() {
                "RELEASE w"
            } else {
                "ROLLBACK TO w; RELEASE w"
            };
            conn.execute_batch(end)?;
            (out, batch)
        };
        // A failed write waits too: its batch must not stay open (holding
        // the database's write lock) until some later call settles it.
        self.wait_for(batch)?;
        out
    }

    fn join_batch(&self, conn: &Connection) -> Result<u64, StateError> {
        let mut group = self.batches.lock();
        if !group.open {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            group.open = true;
            group.batch += 1;
            group.writes = 0;
        }
        group.writes += 1;
        Ok(group.batch)
    }

    /// Waits until `batch` is over, committing it when no one else is, once
    /// the writers on their way into it are in.
    fn wait_for(&self, batch: u64) -> Result<(), StateError> {
        let mut group = self.batches.lock();
        loop {
            if group.settled >= batch {
                return match &group.failed {
                    Some((b, code, message)) if *b == batch => Err(StateError::Sqlite(
                        rusqlite::Error::SqliteFailure(*code, Some(message.clone())),
                    )),
                    _ => Ok(()),
                };
            }
            let others_coming = group.arriving > 0 && group.writes < FULL_BATCH;
            if !group.committing && !others_coming {
                group.committing = true;
                drop(group);
                let conn = self.conn_raw();
                self.batches.settle_open(&conn);
                drop(conn);
                group = self.batches.lock();
                group.committing = false;
                // Writers that joined the next batch while this one was
                // committing wait for a leader: wake them to pick one.
                self.batches.changed.notify_all();
                continue;
            }
            group = self
                .batches
                .changed
                .wait(group)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Expected;
    use crate::model::RecordedResource;
    use crate::store::ResourceStore;
    use dstack_schemas::addr::ResourceAddr;

    fn row(i: usize) -> RecordedResource {
        let address: ResourceAddr = format!("fleet/f{i}").parse().expect("address");
        RecordedResource::new(address, serde_json::json!({ "i": i }), format!("fp{i}"))
    }

    fn visible_elsewhere(path: &std::path::Path, i: usize) -> bool {
        let other = Connection::open(path).expect("second connection");
        other
            .query_row(
                "SELECT count(*) FROM resources WHERE address = ?1",
                [format!("fleet/f{i}")],
                |r| r.get::<_, i64>(0),
            )
            .expect("query")
            == 1
    }

    #[test]
    fn concurrent_writes_share_commits_and_each_is_durable_when_it_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).expect("open");
        std::thread::scope(|s| {
            for t in 0..8 {
                let (store, path) = (&store, &path);
                s.spawn(move || {
                    for k in 0..25 {
                        let i = t * 100 + k;
                        store.put(&row(i), Expected::Absent).expect("put");
                        // Returned: committed, so another connection sees it.
                        assert!(visible_elsewhere(path, i), "row {i} not committed");
                    }
                });
            }
        });
        let batches = store.batches.lock().batch;
        assert!(
            batches < 200,
            "{batches} batches for 200 writes: nothing was grouped"
        );
        assert_eq!(store.list().expect("list").len(), 200);
    }

    /// Many short rounds of writers racing: a writer that joins the next
    /// batch while the leader is between committing and stepping down must
    /// still be woken (this hung forever before the leader signalled).
    #[test]
    fn no_writer_waits_forever_between_leaders() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SqliteStore::open(&dir.path().join("state.db")).expect("open");
            for round in 0..300 {
                std::thread::scope(|s| {
                    for t in 0..4 {
                        let store = &store;
                        s.spawn(move || {
                            store
                                .put(&row(round * 10 + t), Expected::Absent)
                                .expect("put");
                        });
                    }
                });
            }
            let _ = done.send(store.list().expect("list").len());
        });
        let written = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a writer waited forever for its batch");
        assert_eq!(written, 1200);
    }

    #[test]
    fn a_failed_write_leaves_the_others_of_its_batch_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        let store = SqliteStore::open(&path).expect("open");
        store.put(&row(0), Expected::Absent).expect("put");
        std::thread::scope(|s| {
            for t in 1..5 {
                let store = &store;
                s.spawn(move || {
                    for k in 0..20 {
                        let i = t * 100 + k;
                        store.put(&row(i), Expected::Absent).expect("put");
                        // Row 0 exists: this write conflicts and must change nothing.
                        assert!(store.put(&row(0), Expected::Absent).is_err());
                    }
                });
            }
        });
        assert_eq!(store.list().expect("list").len(), 81);
        let zero = store.get(&row(0).address).expect("get").expect("row 0");
        assert_eq!(zero.version, 1);
    }
}
