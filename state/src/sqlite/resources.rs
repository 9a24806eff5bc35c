//! [`ResourceStore`] on SQLite: one `resources` row per address, written
//! only when its version matches what the writer expected.

use dstack_schemas::addr::ResourceAddr;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::rows::{RESOURCE_COLUMNS, ResourceRow};
use super::store::SqliteStore;
use crate::model::{Expected, RecordedResource, now_ms};
use crate::store::{ResourceStore, StateError};

fn version_at(conn: &Connection, address: &str) -> Result<Option<u64>, StateError> {
    let version: Option<i64> = conn
        .query_row(
            "SELECT version FROM resources WHERE address = ?1",
            [address],
            |r| r.get(0),
        )
        .optional()?;
    Ok(version.map(|v| v as u64))
}

impl ResourceStore for SqliteStore {
    fn lineage(&self) -> Result<String, StateError> {
        self.run(|conn| {
            Ok(
                conn.query_row("SELECT value FROM meta WHERE key = 'lineage'", [], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    fn list(&self) -> Result<Vec<RecordedResource>, StateError> {
        let rows = self.run(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {RESOURCE_COLUMNS} FROM resources ORDER BY address"
            ))?;
            let rows = stmt
                .query_map([], ResourceRow::read)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        let mut out: Vec<RecordedResource> = rows
            .into_iter()
            .map(ResourceRow::decode)
            .collect::<Result<_, _>>()?;
        // Text order is not address order (`instance/10` < `instance/2`).
        out.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(out)
    }

    fn get(&self, address: &ResourceAddr) -> Result<Option<RecordedResource>, StateError> {
        let row = self.run(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE address = ?1"),
                    [address.to_string()],
                    ResourceRow::read,
                )
                .optional()?)
        })?;
        row.map(ResourceRow::decode).transpose()
    }

    fn put(
        &self,
        resource: &RecordedResource,
        expected: Expected,
    ) -> Result<RecordedResource, StateError> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let address = resource.address.to_string();
            let current = version_at(&tx, &address)?;
            expected.check(&resource.address, current)?;
            let mut stored = resource.clone();
            stored.version = current.map_or(1, |v| v + 1);
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
        })
    }

    fn remove(&self, address: &ResourceAddr, expected: Expected) -> Result<(), StateError> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let text = address.to_string();
            expected.check(address, version_at(&tx, &text)?)?;
            tx.execute("DELETE FROM resources WHERE address = ?1", [&text])?;
            tx.commit()?;
            Ok(())
        })
    }
}
