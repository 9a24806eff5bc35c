//! [`LogStore`] on SQLite: `log_submissions` (a job's submissions in
//! order) and `logs` (lines keyed by job, submission and byte offset in
//! the runner's log, so a line copied twice is stored once).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::store::SqliteStore;
use crate::model::{LogLine, LogSubmission, now_ms};
use crate::store::{LogStore, StateError};

const SUBMISSION_COLUMNS: &str = "job, id, instance, sealed, recorded_at";

fn read_submission(row: &Row) -> rusqlite::Result<LogSubmission> {
    Ok(LogSubmission {
        job: row.get("job")?,
        id: row.get("id")?,
        // Numbered by position once the job's submissions are read.
        number: 0,
        instance: row.get("instance")?,
        sealed: row.get("sealed")?,
        recorded_at: row.get("recorded_at")?,
    })
}

fn read_line(row: &Row) -> rusqlite::Result<LogLine> {
    Ok(LogLine {
        job: row.get("job")?,
        submission: row.get("submission")?,
        offset: row.get::<_, i64>("offset")? as u64,
        timestamp: row.get("timestamp")?,
        stream: row.get("stream")?,
        text: row.get("text")?,
    })
}

/// Records a submission after the job's others, unless it is known.
fn insert_submission(
    conn: &Connection,
    job: &str,
    submission: &str,
    instance: Option<&str>,
) -> Result<(), StateError> {
    conn.execute(
        "INSERT OR IGNORE INTO log_submissions (job, id, seq, instance, recorded_at) \
         SELECT ?1, ?2, COALESCE(MAX(seq) + 1, 0), ?3, ?4 FROM log_submissions WHERE job = ?1",
        params![job, submission, instance, now_ms()],
    )?;
    Ok(())
}

fn submissions_of(conn: &Connection, job: &str) -> Result<Vec<LogSubmission>, StateError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {SUBMISSION_COLUMNS} FROM log_submissions WHERE job = ?1 ORDER BY seq"
    ))?;
    let rows = stmt
        .query_map([job], read_submission)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(number, s)| LogSubmission {
            number: number as u32,
            ..s
        })
        .collect())
}

impl LogStore for SqliteStore {
    fn record_submission(
        &self,
        job: &str,
        submission: &str,
        instance: Option<&str>,
    ) -> Result<LogSubmission, StateError> {
        self.run(|conn| {
            let tx = conn.transaction()?;
            insert_submission(&tx, job, submission, instance)?;
            let all = submissions_of(&tx, job)?;
            tx.commit()?;
            all.into_iter()
                .find(|s| s.id == submission)
                .ok_or_else(|| StateError::BadRow {
                    address: job.to_string(),
                    reason: format!("submission {submission} was not recorded"),
                })
        })
    }

    fn seal_submission(&self, job: &str, submission: &str) -> Result<(), StateError> {
        self.run(|conn| {
            conn.execute(
                "UPDATE log_submissions SET sealed = 1 WHERE job = ?1 AND id = ?2",
                [job, submission],
            )?;
            Ok(())
        })
    }

    fn submissions(&self, job: &str) -> Result<Vec<LogSubmission>, StateError> {
        self.run(|conn| submissions_of(conn, job))
    }

    fn append_logs(&self, lines: &[LogLine]) -> Result<(), StateError> {
        self.run(|conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare(
                    "INSERT OR IGNORE INTO logs (job, submission, offset, timestamp, stream, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                let mut recorded: Option<(&str, &str)> = None;
                for l in lines {
                    if recorded != Some((&l.job, &l.submission)) {
                        insert_submission(&tx, &l.job, &l.submission, None)?;
                        recorded = Some((&l.job, &l.submission));
                    }
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
        submission: Option<&str>,
        after_offset: Option<u64>,
    ) -> Result<Vec<LogLine>, StateError> {
        self.run(|conn| {
            let submission: Option<String> = match submission {
                Some(s) => Some(s.to_string()),
                None => conn
                    .query_row(
                        "SELECT id FROM log_submissions WHERE job = ?1 ORDER BY seq DESC LIMIT 1",
                        [job],
                        |r| r.get(0),
                    )
                    .optional()?,
            };
            let Some(submission) = submission else {
                return Ok(Vec::new());
            };
            let mut stmt = conn.prepare(
                "SELECT job, submission, offset, timestamp, stream, text FROM logs WHERE job = ?1 AND submission = ?2 AND offset > ?3 ORDER BY offset",
            )?;
            let after = after_offset.map_or(-1, |o| o as i64);
            let rows = stmt
                .query_map(params![job, submission, after], read_line)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}
