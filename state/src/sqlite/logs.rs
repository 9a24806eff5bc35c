//! [`LogStore`] on SQLite: the `logs` table, keyed by job, submission and
//! byte offset in the runner's log, so a line copied twice is stored once.

use rusqlite::params;

use super::store::SqliteStore;
use crate::model::LogLine;
use crate::store::{LogStore, StateError};

impl LogStore for SqliteStore {
    fn append_logs(&self, lines: &[LogLine]) -> Result<(), StateError> {
        self.run(|conn| {
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
        })
    }

    fn logs(
        &self,
        job: &str,
        submission: Option<u32>,
        after_offset: Option<u64>,
    ) -> Result<Vec<LogLine>, StateError> {
        self.run(|conn| {
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
                        job: r.get("job")?,
                        submission: r.get("submission")?,
                        offset: r.get::<_, i64>("offset")? as u64,
                        timestamp: r.get("timestamp")?,
                        stream: r.get("stream")?,
                        text: r.get("text")?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}
