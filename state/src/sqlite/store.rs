//! Opening the SQLite state: the connection, its pragmas, the embedded
//! migrations (`PRAGMA user_version` is the schema version), and the one
//! place SQLite's errors are classified into [`StateError`] kinds.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::model::now_ms;
use crate::store::StateError;

/// Schema migrations, in order; index + 1 is the version they produce.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_logs.sql"),
    include_str!("migrations/0003_intent_payload.sql"),
    include_str!("migrations/0004_workflows.sql"),
    include_str!("migrations/0005_log_submissions.sql"),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// State in a SQLite database file.
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
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
    /// Opens (creating if needed) the state database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let corrupt = |reason: String| StateError::Corrupt {
            path: path.display().to_string(),
            reason,
        };
        let conn = Connection::open(path).map_err(|e| corrupt(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| corrupt(format!("{e} (is this a SQLite file?)")))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let store = Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        };
        store.migrate()?;
        Ok(store)
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Self, StateError> {
        let store = Self {
            path: PathBuf::from(":memory:"),
            conn: Mutex::new(Connection::open_in_memory()?),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: every
        // write is its own transaction, rolled back if unfinished.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the connection; SQLite's errors come out classified.
    pub(super) fn run<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        f(&mut self.conn()).map_err(|e| self.classify(e))
    }

    /// A damaged file is `Corrupt` and a file we may not write is
    /// `ReadOnly`, whichever statement found out.
    fn classify(&self, error: StateError) -> StateError {
        let StateError::Sqlite(sqlite) = &error else {
            return error;
        };
        let path = self.path.display().to_string();
        match sqlite.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StateError::Corrupt {
                path,
                reason: sqlite.to_string(),
            },
            Some(ErrorCode::ReadOnly) => StateError::ReadOnly {
                path,
                reason: sqlite.to_string(),
            },
            _ => error,
        }
    }

    fn migrate(&self) -> Result<(), StateError> {
        let corrupt = |e: rusqlite::Error| StateError::Corrupt {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        };
        self.run(|conn| {
            // One exclusive transaction reads the version and applies what
            // is missing, so two processes opening a new state at once
            // cannot both migrate it.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Exclusive)
                .map_err(corrupt)?;
            let found: i64 = tx
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(corrupt)?;
            if found > SCHEMA_VERSION {
                return Err(StateError::TooNew {
                    path: self.path.display().to_string(),
                    found,
                    known: SCHEMA_VERSION,
                });
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
                tx.execute_batch(sql)?;
                if i == 0 {
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('lineage', ?1)",
                        [random_id(16)],
                    )?;
                }
                tx.pragma_update(None, "user_version", i as i64 + 1)?;
            }
            tx.commit()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{LogStore, ResourceStore};

    fn temp_path() -> PathBuf {
        std::env::temp_dir()
            .join(format!("dstack-state-{}", random_id(6)))
            .join("state.db")
    }

    #[test]
    fn migrates_from_version_1_keeping_rows() {
        let path = temp_path();
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(MIGRATIONS[0]).expect("v1");
            conn.execute(
                "INSERT INTO meta VALUES ('lineage', 'abcdefabcdefabcdef')",
                [],
            )
            .expect("lineage");
            conn.execute(
                "INSERT INTO resources (kind, address, spec, fingerprint, status, data, created_at, updated_at, version) VALUES ('volume', 'volume/v', '{}', 'fp', 'active', 'null', 1, 1, 3)",
                [],
            )
            .expect("row");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
        }
        let store = SqliteStore::open(&path).expect("migrate");
        assert_eq!(store.lineage().expect("lineage"), "abcdefabcdefabcdef");
        let row = store
            .get(&"volume/v".parse().expect("addr"))
            .expect("get")
            .expect("kept");
        assert_eq!(row.version, 3);
        store.append_logs(&[]).expect("logs table exists");
    }

    #[test]
    fn migrating_logs_keeps_every_line_under_a_submission_of_its_own() {
        let path = temp_path();
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        {
            let conn = Connection::open(&path).expect("open");
            for sql in &MIGRATIONS[..4] {
                conn.execute_batch(sql).expect("v1..v4");
            }
            conn.execute_batch(
                "INSERT INTO meta VALUES ('lineage', 'abcdefabcdefabcdef');
                 INSERT INTO logs VALUES ('run/r/job/0', 0, 0, 5, 'stdout', 'first run');
                 INSERT INTO logs VALUES ('run/r/job/0', 0, 10, 6, 'stdout', 'first run, line 2');
                 INSERT INTO logs VALUES ('run/r/job/0', 1, 0, 7, 'stdout', 'second run');
                 INSERT INTO logs VALUES ('workflow/w-1/train', 0, 0, 8, 'stdout', 'training');
                 INSERT INTO workflow_jobs VALUES ('w-1', 'train', 'h', 'done', 9, '{\"runner_job\": \"j-77\"}');",
            )
            .expect("v4 rows");
            conn.pragma_update(None, "user_version", 4)
                .expect("version");
        }
        let store = SqliteStore::open(&path).expect("migrate");
        let ids: Vec<(String, u32)> = store
            .submissions("run/r/job/0")
            .expect("submissions")
            .into_iter()
            .map(|s| (s.id, s.number))
            .collect();
        assert_eq!(
            ids,
            [("legacy-0".to_string(), 0), ("legacy-1".to_string(), 1)]
        );
        let texts = |job: &str, submission: Option<&str>| -> Vec<String> {
            store
                .logs(job, submission, None)
                .expect("logs")
                .into_iter()
                .map(|l| l.text)
                .collect()
        };
        assert_eq!(texts("run/r/job/0", None), ["second run"]);
        assert_eq!(
            texts("run/r/job/0", Some("legacy-0")),
            ["first run", "first run, line 2"]
        );
        assert_eq!(texts("workflow/w-1/train", Some("j-77")), ["training"]);
    }

    #[test]
    fn refuses_newer_schema() {
        let path = temp_path();
        drop(SqliteStore::open(&path).expect("create"));
        Connection::open(&path)
            .expect("open")
            .pragma_update(None, "user_version", 99)
            .expect("bump");
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StateError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn garbage_file_is_reported_not_overwritten() {
        let path = temp_path();
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        let garbage = b"this is not a database, it is a shopping list\n".repeat(200);
        std::fs::write(&path, &garbage).expect("write");
        let err = SqliteStore::open(&path).err().expect("refused");
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        assert_eq!(
            std::fs::read(&path).expect("read"),
            garbage,
            "file was modified"
        );
    }

    #[test]
    fn damaged_row_is_an_error_naming_the_row() {
        let store = SqliteStore::open_in_memory().expect("open");
        store.conn().execute(
            "INSERT INTO resources (kind, address, spec, fingerprint, status, data, created_at, updated_at, version) VALUES ('fleet', 'fleet/x', 'not json', 'fp', 'active', 'null', 1, 1, 1)",
            [],
        ).expect("insert");
        let err = store.list().expect_err("refused");
        assert!(err.to_string().contains("fleet/x"), "{err}");
    }
}
