//! `SqliteStore`: the default state backend, a SQLite file (WAL, full sync)
//! at `.dstack/state.db`. Migrations are embedded and applied in order;
//! `PRAGMA user_version` is the schema version.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::money::Usd;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::model::{
    ApplyRecord, Expected, Intent, IntentOutcome, LockInfo, LockRequest, LogLine, NewIntent,
    RecordedResource, WorkflowJob, WorkflowRun, now_ms,
};
use crate::store::{StateError, StateStore, pid_alive};

/// Schema migrations, in order; index + 1 is the version they produce.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_logs.sql"),
    include_str!("migrations/0003_intent_payload.sql"),
    include_str!("migrations/0004_workflows.sql"),
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

    fn migrate(&self) -> Result<(), StateError> {
        let mut conn = self.conn();
        let corrupt = |e: rusqlite::Error| StateError::Corrupt {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        };
        // One exclusive transaction reads the version and applies what is
        // missing, so two processes opening a new state at once cannot both
        // migrate it.
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
    }
}

fn bad_row(address: &str, reason: impl std::fmt::Display) -> StateError {
    StateError::BadRow {
        address: address.to_string(),
        reason: reason.to_string(),
    }
}

fn parse_json(address: &str, text: &str, field: &str) -> Result<serde_json::Value, StateError> {
    serde_json::from_str(text).map_err(|e| bad_row(address, format!("{field}: {e}")))
}

type RawResource = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
    Option<String>,
    String,
    i64,
    i64,
    i64,
);

fn raw_resource(row: &Row) -> rusqlite::Result<RawResource> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
    ))
}

fn decode_resource(raw: RawResource) -> Result<RecordedResource, StateError> {
    let (
        address,
        spec,
        fingerprint,
        provider,
        provider_id,
        status,
        price,
        offer,
        data,
        created_at,
        updated_at,
        version,
    ) = raw;
    Ok(RecordedResource {
        address: address
            .parse::<ResourceAddr>()
            .map_err(|e| bad_row(&address, e))?,
        spec: parse_json(&address, &spec, "spec")?,
        fingerprint,
        provider,
        provider_id,
        status,
        price_per_hour: price.map(Usd::from_micros),
        offer: offer
            .map(|o| parse_json(&address, &o, "offer"))
            .transpose()?,
        data: parse_json(&address, &data, "data")?,
        created_at,
        updated_at,
        version: u64::try_from(version).map_err(|_| bad_row(&address, "negative version"))?,
    })
}

const RESOURCE_COLUMNS: &str = "address, spec, fingerprint, provider, provider_id, status, price_micros, offer, data, created_at, updated_at, version";

/// An intent row as stored: payload first, then the journal columns.
type RawIntent = (
    Option<String>,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn raw_intent(row: &Row) -> rusqlite::Result<RawIntent> {
    Ok((
        row.get(10)?,
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    ))
}

fn decode_intent(raw: RawIntent) -> Result<Intent, StateError> {
    let (
        payload,
        id,
        apply_id,
        address,
        operation,
        token,
        provider,
        started_at,
        finished_at,
        outcome,
        detail,
    ) = raw;
    Ok(Intent {
        id,
        intent: NewIntent {
            apply_id,
            payload: payload
                .map(|p| parse_json(&address, &p, "payload"))
                .transpose()?,
            address: address.parse().map_err(|e| bad_row(&address, e))?,
            operation,
            token,
            provider,
        },
        started_at,
        finished_at,
        outcome: outcome.as_deref().and_then(IntentOutcome::parse),
        detail,
    })
}

const INTENT_COLUMNS: &str = "id, apply_id, address, operation, token, provider, started_at, finished_at, outcome, detail, payload";

impl StateStore for SqliteStore {
    fn lineage(&self) -> Result<String, StateError> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = 'lineage'", [], |r| {
                r.get(0)
            })?)
    }

    fn list(&self) -> Result<Vec<RecordedResource>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources ORDER BY address"
        ))?;
        let raws = stmt
            .query_map([], raw_resource)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out: Vec<RecordedResource> = raws
            .into_iter()
            .map(decode_resource)
            .collect::<Result<_, _>>()?;
        out.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(out)
    }

    fn get(&self, address: &ResourceAddr) -> Result<Option<RecordedResource>, StateError> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                &format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE address = ?1"),
                [address.to_string()],
                raw_resource,
            )
            .optional()?;
        raw.map(decode_resource).transpose()
    }

    fn put(
        &self,
        resource: &RecordedResource,
        expected: Expected,
    ) -> Result<RecordedResource, StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let address = resource.address.to_string();
        let current: Option<i64> = tx
            .query_row(
                "SELECT version FROM resources WHERE address = ?1",
                [&address],
                |r| r.get(0),
            )
            .optional()?;
        expected.check(&resource.address, current.map(|v| v as u64))?;
        let mut stored = resource.clone();
        stored.version = current.map_or(1, |v| v as u64 + 1);
        stored.updated_at = now_ms();
        tx.execute(
            &format!("INSERT OR REPLACE INTO resources (kind, {RESOURCE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
            params![
                stored.address.kind().as_str(),
                address,
                stored.spec.to_string(),
                stored.fingerprint,
                stored.provider,
                stored.provider_id,
                stored.status,
                stored.price_per_hour.map(|p| p.micros()),
                stored.offer.as_ref().map(|o| o.to_string()),
                stored.data.to_string(),
                stored.created_at,
                stored.updated_at,
                stored.version as i64,
            ],
        )?;
        tx.commit()?;
        Ok(stored)
    }

    fn remove(&self, address: &ResourceAddr, expected: Expected) -> Result<(), StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT version FROM resources WHERE address = ?1",
                [address.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        expected.check(address, current.map(|v| v as u64))?;
        tx.execute(
            "DELETE FROM resources WHERE address = ?1",
            [address.to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn begin_intent(&self, intent: &NewIntent) -> Result<i64, StateError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO intents (apply_id, address, operation, token, provider, started_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![intent.apply_id, intent.address.to_string(), intent.operation, intent.token, intent.provider, now_ms(), intent.payload.as_ref().map(|p| p.to_string())],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn finish_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
        detail: Option<&str>,
    ) -> Result<(), StateError> {
        self.conn().execute(
            "UPDATE intents SET finished_at = ?2, outcome = ?3, detail = ?4 WHERE id = ?1",
            params![id, now_ms(), outcome.as_str(), detail],
        )?;
        Ok(())
    }

    fn open_intents(&self) -> Result<Vec<Intent>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {INTENT_COLUMNS} FROM intents WHERE finished_at IS NULL ORDER BY id"
        ))?;
        let raws = stmt
            .query_map([], raw_intent)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(decode_intent).collect()
    }

    fn intents_of(&self, apply_id: &str) -> Result<Vec<Intent>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {INTENT_COLUMNS} FROM intents WHERE apply_id = ?1 ORDER BY id"
        ))?;
        let raws = stmt
            .query_map([apply_id], raw_intent)?
            .collect::<Result<Vec<_>, _>>()?;
        raws.into_iter().map(decode_intent).collect()
    }

    fn begin_apply(
        &self,
        plan_id: &str,
        holder: &str,
        operation: &str,
    ) -> Result<String, StateError> {
        let id = format!("apply-{}", random_id(6));
        self.conn().execute(
            "INSERT INTO applies (id, plan_id, holder, operation, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, plan_id, holder, operation, now_ms()],
        )?;
        Ok(id)
    }

    fn finish_apply(
        &self,
        id: &str,
        outcome: &str,
        summary: &serde_json::Value,
    ) -> Result<(), StateError> {
        self.conn().execute(
            "UPDATE applies SET finished_at = ?2, outcome = ?3, summary = ?4 WHERE id = ?1",
            params![id, now_ms(), outcome, summary.to_string()],
        )?;
        Ok(())
    }

    fn applies(&self, limit: usize) -> Result<Vec<ApplyRecord>, StateError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, plan_id, holder, operation, started_at, finished_at, outcome, summary FROM applies ORDER BY started_at DESC, rowid DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(
                |(id, plan_id, holder, operation, started_at, finished_at, outcome, summary)| {
                    Ok(ApplyRecord {
                        summary: parse_json(&id, &summary, "summary")?,
                        id,
                        plan_id,
                        holder,
                        operation,
                        started_at,
                        finished_at,
                        outcome,
                    })
                },
            )
            .collect()
    }

    fn try_lock(&self, request: &LockRequest) -> Result<LockInfo, StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = tx
            .query_row(
                "SELECT id, holder, pid, host, operation, created_at FROM locks WHERE name = 'state'",
                [],
                |r| {
                    Ok(LockInfo {
                        id: r.get(0)?,
                        request: LockRequest {
                            holder: r.get(1)?,
                            pid: r.get(2)?,
                            host: r.get(3)?,
                            operation: r.get(4)?,
                        },
                        created_at: r.get(5)?,
                    })
                },
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
    }

    fn unlock(&self, id: &str) -> Result<(), StateError> {
        let removed = self
            .conn()
            .execute("DELETE FROM locks WHERE name = 'state' AND id = ?1", [id])?;
        if removed == 0 {
            return Err(StateError::NoSuchLock(id.to_string()));
        }
        Ok(())
    }

    fn current_lock(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(self
            .conn()
            .query_row("SELECT id, holder, pid, host, operation, created_at FROM locks WHERE name = 'state'", [], |r| {
                Ok(LockInfo {
                    id: r.get(0)?,
                    request: LockRequest {
                        holder: r.get(1)?,
                        pid: r.get(2)?,
                        host: r.get(3)?,
                        operation: r.get(4)?,
                    },
                    created_at: r.get(5)?,
                })
            })
            .optional()?)
    }

    fn append_logs(&self, lines: &[LogLine]) -> Result<(), StateError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT OR IGNORE INTO logs (job, submission, offset, timestamp, stream, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for l in lines {
                stmt.execute(params![
                    l.job,
                    l.submission,
                    l.offset as i64,
                    l.timestamp,
                    l.stream,
                    l.text
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn logs(
        &self,
        job: &str,
        submission: Option<u32>,
        after_offset: Option<u64>,
    ) -> Result<Vec<LogLine>, StateError> {
        let conn = self.conn();
        let submission = match submission {
            Some(s) => s,
            None => conn.query_row(
                "SELECT COALESCE(MAX(submission), 0) FROM logs WHERE job = ?1",
                [job],
                |r| r.get(0),
            )?,
        };
        let mut stmt = conn.prepare(
            "SELECT job, submission, offset, timestamp, stream, text FROM logs WHERE job = ?1 AND submission = ?2 AND offset > ?3 ORDER BY offset",
        )?;
        let after = after_offset.map_or(-1, |o| o as i64);
        let rows = stmt
            .query_map(params![job, submission, after], |r| {
                Ok(LogLine {
                    job: r.get(0)?,
                    submission: r.get(1)?,
                    offset: r.get::<_, i64>(2)? as u64,
                    timestamp: r.get(3)?,
                    stream: r.get(4)?,
                    text: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn put_workflow_run(&self, run: &WorkflowRun) -> Result<(), StateError> {
        let body = serde_json::to_string(run).map_err(|e| bad_row(&run.name, e))?;
        self.conn().execute(
            "INSERT OR REPLACE INTO workflow_runs (name, created_at, body) VALUES (?1, ?2, ?3)",
            params![run.name, run.created_at, body],
        )?;
        Ok(())
    }

    fn workflow_run(&self, name: &str) -> Result<Option<WorkflowRun>, StateError> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM workflow_runs WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| serde_json::from_str(&b).map_err(|e| bad_row(name, e)))
            .transpose()
    }

    fn workflow_runs(&self) -> Result<Vec<WorkflowRun>, StateError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name, body FROM workflow_runs ORDER BY created_at DESC, name DESC")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(name, body)| serde_json::from_str(&body).map_err(|e| bad_row(&name, e)))
            .collect()
    }

    fn put_workflow_job(&self, job: &WorkflowJob) -> Result<(), StateError> {
        let key = format!("{}/{}", job.run, job.workflow);
        let body = serde_json::to_string(job).map_err(|e| bad_row(&key, e))?;
        self.conn().execute(
            "INSERT OR REPLACE INTO workflow_jobs (run, workflow, input_hash, status, finished_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![job.run, job.workflow, job.input_hash, job.status, job.finished_at, body],
        )?;
        Ok(())
    }

    fn workflow_jobs(&self, run: &str) -> Result<Vec<WorkflowJob>, StateError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT workflow, body FROM workflow_jobs WHERE run = ?1 ORDER BY rowid")?;
        let rows = stmt
            .query_map([run], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(w, body)| {
                serde_json::from_str(&body).map_err(|e| bad_row(&format!("{run}/{w}"), e))
            })
            .collect()
    }

    fn done_workflow_job(&self, input_hash: &str) -> Result<Option<WorkflowJob>, StateError> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM workflow_jobs WHERE input_hash = ?1 AND status = 'done' ORDER BY finished_at DESC LIMIT 1",
                [input_hash],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| serde_json::from_str(&b).map_err(|e| bad_row(input_hash, e)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                &format!("INSERT INTO resources (kind, {RESOURCE_COLUMNS}) VALUES ('volume', 'volume/v', '{{}}', 'fp', NULL, NULL, 'active', NULL, NULL, 'null', 1, 1, 3)"),
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
            &format!("INSERT INTO resources (kind, {RESOURCE_COLUMNS}) VALUES ('fleet', 'fleet/x', 'not json', 'fp', NULL, NULL, 'active', NULL, NULL, 'null', 1, 1, 1)"),
            [],
        ).expect("insert");
        let err = store.list().expect_err("refused");
        assert!(err.to_string().contains("fleet/x"), "{err}");
    }
}
