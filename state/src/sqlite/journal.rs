//! [`IntentJournal`] and [`ApplyHistory`] on SQLite: the `intents` and
//! `applies` tables, appended to and finished, never rewritten otherwise.

use dstack_schemas::addr::ResourceAddr;
use rusqlite::{Connection, params};

use super::rows::{APPLY_COLUMNS, ApplyRow, INTENT_COLUMNS, IntentRow};
use super::store::{SqliteStore, random_id};
use crate::model::{
    ApplyRecord, Expected, Intent, IntentOutcome, NewIntent, RecordedResource, now_ms,
};
use crate::store::{ApplyHistory, IntentJournal, StateError};

impl SqliteStore {
    fn intents_where(
        &self,
        condition: &str,
        param: Option<&str>,
    ) -> Result<Vec<Intent>, StateError> {
        let rows = self.run(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {INTENT_COLUMNS} FROM intents WHERE {condition} ORDER BY id"
            ))?;
            let rows = match param {
                Some(p) => stmt.query_map([p], IntentRow::read)?,
                None => stmt.query_map([], IntentRow::read)?,
            };
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        rows.into_iter().map(IntentRow::decode).collect()
    }
}

impl IntentJournal for SqliteStore {
    fn begin_intent(&self, intent: &NewIntent) -> Result<i64, StateError> {
        // Grouped: the intent is durable before the caller calls a provider.
        self.write_grouped(|conn| {
            conn.prepare_cached(
                "INSERT INTO intents (apply_id, address, operation, token, provider, started_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(
                params![
                    intent.apply_id,
                    intent.address.to_string(),
                    intent.operation,
                    intent.token,
                    intent.provider,
                    now_ms(),
                    intent.payload.as_ref().map(|p| p.to_string())
                ],
            )?;
            Ok(conn.last_insert_rowid())
        })
    }

    fn finish_intent(
        &self,
        id: i64,
        outcome: IntentOutcome,
        detail: Option<&str>,
    ) -> Result<(), StateError> {
        self.write_grouped(|conn| finish_row(conn, id, outcome, detail))
    }

    fn record_and_close(
        &self,
        resource: &RecordedResource,
        expected: Expected,
        id: i64,
        detail: Option<&str>,
    ) -> Result<RecordedResource, StateError> {
        self.write_grouped(|conn| {
            let stored = super::resources::put_row(conn, resource, expected)?;
            finish_row(conn, id, IntentOutcome::Done, detail)?;
            Ok(stored)
        })
    }

    fn remove_and_close(
        &self,
        address: &ResourceAddr,
        expected: Expected,
        id: i64,
        detail: Option<&str>,
    ) -> Result<(), StateError> {
        self.write_grouped(|conn| {
            super::resources::remove_row(conn, address, expected)?;
            finish_row(conn, id, IntentOutcome::Done, detail)
        })
    }

    fn open_intents(&self) -> Result<Vec<Intent>, StateError> {
        self.intents_where("finished_at IS NULL", None)
    }

    fn intents_of(&self, apply_id: &str) -> Result<Vec<Intent>, StateError> {
        self.intents_where("apply_id = ?1", Some(apply_id))
    }
}

impl ApplyHistory for SqliteStore {
    fn begin_apply(
        &self,
        plan_id: &str,
        holder: &str,
        operation: &str,
    ) -> Result<String, StateError> {
        let id = format!("apply-{}", random_id(6));
        self.run(|conn| {
            conn.execute(
                "INSERT INTO applies (id, plan_id, holder, operation, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, plan_id, holder, operation, now_ms()],
            )?;
            Ok(())
        })?;
        Ok(id)
    }

    fn finish_apply(
        &self,
        id: &str,
        outcome: &str,
        summary: &serde_json::Value,
    ) -> Result<(), StateError> {
        self.run(|conn| {
            conn.execute(
                "UPDATE applies SET finished_at = ?2, outcome = ?3, summary = ?4 WHERE id = ?1",
                params![id, now_ms(), outcome, summary.to_string()],
            )?;
            Ok(())
        })
    }

    fn applies(&self, limit: usize) -> Result<Vec<ApplyRecord>, StateError> {
        let rows = self.run(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {APPLY_COLUMNS} FROM applies ORDER BY started_at DESC, rowid DESC LIMIT ?1"
            ))?;
            let rows = stmt
                .query_map([limit as i64], ApplyRow::read)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        rows.into_iter().map(ApplyRow::decode).collect()
    }
}

/// Closes intent `id` (inside the caller's transaction).
fn finish_row(
    conn: &Connection,
    id: i64,
    outcome: IntentOutcome,
    detail: Option<&str>,
) -> Result<(), StateError> {
    conn.prepare_cached(
        "UPDATE intents SET finished_at = ?2, outcome = ?3, detail = ?4 WHERE id = ?1",
    )?
    .execute(params![id, now_ms(), outcome.as_str(), detail])?;
    Ok(())
}
