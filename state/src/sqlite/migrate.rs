//! The schema: embedded migrations applied in order (`PRAGMA
//! user_version` is the version), and the check that a file holds state at
//! all before anything is read from or written to it.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::store::random_id;
use crate::store::StateError;

/// Schema migrations, in order; index + 1 is the version they produce.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_logs.sql"),
    include_str!("migrations/0003_intent_payload.sql"),
    include_str!("migrations/0004_workflows.sql"),
    include_str!("migrations/0005_log_submissions.sql"),
    include_str!("migrations/0006_forgotten.sql"),
    include_str!("migrations/0007_resources_kind.sql"),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Tables every version since the first has.
const CORE_TABLES: &[&str] = &["meta", "resources", "intents", "applies", "locks"];

fn corrupt(path: &Path, reason: impl Into<String>) -> StateError {
    StateError::Corrupt {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// The schema version of a file that holds state. A file without tables
/// (emptied, or its content lost with its write-ahead log) or without the
/// core tables or the lineage is not state, and is never initialised over.
pub(super) fn check_content(conn: &Connection, path: &Path) -> Result<i64, StateError> {
    let sqlite = |e: rusqlite::Error| super::classify::classify(path, StateError::Sqlite(e));
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sqlite)?;
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .map_err(sqlite)?;
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .map_err(sqlite)?
        .collect::<Result<_, _>>()
        .map_err(sqlite)?;
    if version > SCHEMA_VERSION {
        return Err(StateError::TooNew {
            path: path.display().to_string(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    if version == 0 && tables.is_empty() {
        return Err(corrupt(
            path,
            "the file holds no state (it is an empty database: its content was lost)",
        ));
    }
    let missing: Vec<&str> = CORE_TABLES
        .iter()
        .copied()
        .filter(|t| !tables.iter().any(|have| have == t))
        .collect();
    if !missing.is_empty() {
        return Err(corrupt(
            path,
            format!(
                "the file has lost tables ({}) of schema version {version}",
                missing.join(", ")
            ),
        ));
    }
    let lineage: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'lineage'", [], |r| {
            r.get(0)
        })
        .map_err(sqlite)
        .ok();
    if lineage.is_none() {
        return Err(corrupt(path, "the file has lost its lineage (meta table)"));
    }
    Ok(version)
}

/// Applies the migrations newer than the file's version, in one exclusive
/// transaction (two processes cannot both migrate). A new database (version
/// 0) gets `lineage`, or a fresh one.
pub(super) fn migrate(
    conn: &mut Connection,
    path: &Path,
    lineage: Option<&str>,
) -> Result<(), StateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StateError::TooNew {
            path: path.display().to_string(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        if i == 0 {
            let lineage = lineage.map_or_else(|| random_id(16), str::to_string);
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('lineage', ?1)",
                [lineage],
            )?;
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::sqlite::SqliteStore;
    use crate::store::{LogStore, ResourceStore};

    fn temp_path() -> crate::sqlite::scratch::TempDb {
        crate::sqlite::scratch::TempDb::new()
    }

    /// A database at `version`, built by the old migrations, with `rows`.
    fn at_version(version: usize, rows: &str) -> crate::sqlite::scratch::TempDb {
        let path = temp_path();
        let conn = Connection::open(&path).expect("open");
        for sql in &MIGRATIONS[..version] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.execute_batch("INSERT INTO meta VALUES ('lineage', 'abcdefabcdefabcdef');")
            .expect("lineage");
        conn.execute_batch(rows).expect("rows");
        conn.pragma_update(None, "user_version", version as i64)
            .expect("version");
        path
    }

    #[test]
    fn migrates_from_version_1_keeping_rows() {
        let path = at_version(
            1,
            "INSERT INTO resources (kind, address, spec, fingerprint, status, data, created_at, updated_at, version) VALUES ('volume', 'volume/v', '{}', 'fp', 'active', 'null', 1, 1, 3)",
        );
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
        let path = at_version(
            4,
            "INSERT INTO logs VALUES ('run/r/job/0', 0, 0, 5, 'stdout', 'first run');
             INSERT INTO logs VALUES ('run/r/job/0', 0, 10, 6, 'stdout', 'first run, line 2');
             INSERT INTO logs VALUES ('run/r/job/0', 1, 0, 7, 'stdout', 'second run');
             INSERT INTO logs VALUES ('workflow/w-1/train', 0, 0, 8, 'stdout', 'training');
             INSERT INTO workflow_jobs VALUES ('w-1', 'train', 'h', 'done', 9, '{\"runner_job\": \"j-77\"}');",
        );
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
    fn a_file_that_lost_its_tables_is_not_state() {
        let path = temp_path();
        drop(SqliteStore::open(&path).expect("create"));
        Connection::open(&path)
            .expect("open")
            .execute_batch("DROP TABLE resources; DROP TABLE intents;")
            .expect("drop");
        let err = SqliteStore::open(&path).err().expect("refused");
        assert_eq!(
            err.to_string(),
            format!(
                "state at {} is unreadable: the file has lost tables (resources, intents) of schema version {SCHEMA_VERSION}",
                path.display()
            )
        );
    }
}
