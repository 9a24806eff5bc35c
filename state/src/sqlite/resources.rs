//! [`ResourceStore`] on SQLite: one `resources` row per address, written
//! only when its version matches what the writer expected.

use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::rows::{RESOURCE_COLUMNS, ResourceRow, bad_row, sort_by_address};
use super::store::SqliteStore;
use crate::model::{Expected, Forgotten, RecordedResource, now_ms};
use crate::store::{ResourceStore, StateError};

fn version_at(conn: &Connection, address: &str) -> Result<Option<u64>, StateError> {
    let version: Option<i64> = conn
        .prepare_cached("SELECT version FROM resources WHERE address = ?1")?
        .query_row([address], |r| r.get(0))
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
        self.list_specs_where(&|_, _| true)
    }

    fn list_specs_where(
        &self,
        need_spec: &dyn Fn(&ResourceAddr, &str) -> bool,
    ) -> Result<Vec<RecordedResource>, StateError> {
        let mut rows = self.read(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT {RESOURCE_COLUMNS} FROM resources"))?;
            // Each row decoded as it is read: the raw rows are never all held.
            let mut out = Vec::new();
            for row in stmt.query_map([], ResourceRow::read)? {
                out.push(row?.decode_spec_where(need_spec)?);
            }
            Ok(out)
        })?;
        sort_by_address(&mut rows);
        Ok(rows)
    }

    fn list_kinds(&self, kinds: &[ResourceKind]) -> Result<Vec<RecordedResource>, StateError> {
        super::listing::list_kinds(self, kinds)
    }

    fn list_run_statuses(&self) -> Result<Vec<RecordedResource>, StateError> {
        super::listing::list_run_statuses(self)
    }

    fn list_jobs_of(&self, run: &str) -> Result<Vec<RecordedResource>, StateError> {
        super::listing::list_jobs_of(self, run)
    }

    fn get(&self, address: &ResourceAddr) -> Result<Option<RecordedResource>, StateError> {
        let row = self.read(|conn| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {RESOURCE_COLUMNS} FROM resources WHERE address = ?1"
                ))?
                .query_row([address.to_string()], ResourceRow::read)
                .optional()?)
        })?;
        row.map(ResourceRow::decode).transpose()
    }

    fn put(
        &self,
        resource: &RecordedResource,
        expected: Expected,
    ) -> Result<RecordedResource, StateError> {
        // Grouped: concurrent steps of an apply share one commit.
        self.write_grouped(|tx| put_row(tx, resource, expected))
    }

    fn remove(&self, address: &ResourceAddr, expected: Expected) -> Result<(), StateError> {
        self.write_grouped(|tx| remove_row(tx, address, expected))
    }

    fn forget(
        &self,
        address: &ResourceAddr,
        expected: Expected,
    ) -> Result<RecordedResource, StateError> {
        let row = self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let text = address.to_string();
            let row = tx
                .query_row(
                    &format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE address = ?1"),
                    [&text],
                    ResourceRow::read,
                )
                .optional()?;
            expected.check(address, version_at(&tx, &text)?)?;
            let row = row
                .ok_or_else(|| StateError::Conflict {
                    address: address.clone(),
                    expected: "a row".into(),
                    found: "no row".into(),
                })?
                .decode()?;
            if let (Some(provider), Some(id)) = (&row.provider, &row.provider_id) {
                tx.execute(
                    "INSERT OR REPLACE INTO forgotten (provider, provider_id, address, forgotten_at) VALUES (?1, ?2, ?3, ?4)",
                    params![provider, id, text, now_ms()],
                )?;
            }
            tx.execute("DELETE FROM resources WHERE address = ?1", [&text])?;
            tx.commit()?;
            Ok(row)
        })?;
        Ok(row)
    }

    fn forgotten(&self) -> Result<Vec<Forgotten>, StateError> {
        let rows: Vec<(String, String, String, i64)> = self.run(|conn| {
            let mut stmt = conn.prepare(
                "SELECT provider, provider_id, address, forgotten_at FROM forgotten ORDER BY forgotten_at, provider, provider_id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get("provider")?,
                        r.get("provider_id")?,
                        r.get("address")?,
                        r.get("forgotten_at")?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(provider, provider_id, address, forgotten_at)| {
                Ok(Forgotten {
                    address: address.parse().map_err(|e| bad_row(&address, e))?,
                    provider,
                    provider_id,
                    forgotten_at,
                })
            })
            .collect()
    }
}

/// Removes the row at `address` if it is where `expected` says (inside the
/// caller's transaction).
pub(super) fn remove_row(
    tx: &Connection,
    address: &ResourceAddr,
    expected: Expected,
) -> Result<(), StateError> {
    let text = address.to_string();
    expected.check(address, version_at(tx, &text)?)?;
    tx.prepare_cached("DELETE FROM resources WHERE address = ?1")?
        .execute([&text])?;
    Ok(())
}

/// Writes `resource` if its row is where `expected` says (inside the
/// caller's transaction); the stored row, with its new version.
pub(super) fn put_row(
    tx: &Connection,
    resource: &RecordedResource,
    expected: Expected,
) -> Result<RecordedResource, StateError> {
    let address = resource.address.to_string();
    let current = version_at(tx, &address)?;
    expected.check(&resource.address, current)?;
    let mut stored = resource.clone();
    stored.version = current.map_or(1, |v| v + 1);
    stored.updated_at = now_ms();
    // Prepared once per connection: an apply writes thousands of rows.
    tx.prepare_cached(&format!("INSERT OR REPLACE INTO resources (kind, {RESOURCE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"))?
    .execute(
        params![
            stored.address.kind().as_str(),
            address,
            stored.spec.to_string(),
            stored.fingerprint,
            stored.provider,
            stored.provider_id,
            stored.status.as_str(),
            stored.price_per_hour.map(|p| p.micros()),
            stored.offer.as_ref().map(|o| o.to_string()),
            stored.data.to_string(),
            stored.created_at,
            stored.updated_at,
            stored.version as i64,
        ],
    )?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn an_unknown_status_is_an_error_naming_the_row_and_column() {
        let store = SqliteStore::open_in_memory().expect("open");
        store.conn().execute(
            "INSERT INTO resources (kind, address, spec, fingerprint, status, data, created_at, updated_at, version) VALUES ('volume', 'volume/v', '{}', 'fp', 'sleeping', 'null', 1, 1, 1)",
            [],
        ).expect("insert");
        let err = store.list().expect_err("refused");
        assert!(matches!(err, StateError::BadRow { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("volume/v") && text.contains("status"),
            "{text}"
        );
        assert!(text.contains("sleeping"), "{text}");
        let addr: ResourceAddr = "volume/v".parse().expect("address");
        assert!(store.get(&addr).is_err(), "one row read the same way");
    }

    #[test]
    fn rows_written_in_todays_json_read_typed_and_rewrite_unchanged() {
        let store = SqliteStore::open_in_memory().expect("open");
        let job = r#"{"instance":"fleet/f/instance/0","submission":1,"exit_code":3,"reason":"container_exited_with_error","runtime":{"executor":"docker","message":"exited","ports":[],"submitted_at":7,"started_at":8,"finished_at":9},"previous":null,"attached":[{"name":"v","backend":"aws","volume_id":"vol-1","instance_id":"i-1"}],"logs_sealed":true}"#;
        let instance = r#"{"zone":"us-east-1a","public_ip":"1.2.3.4","runner":{"url":"http://1.2.3.4:10999","token":"t"}}"#;
        for (kind, address, data) in [
            ("job", "run/r/job/0", job),
            ("instance", "fleet/f/instance/0", instance),
        ] {
            store.conn().execute(
                "INSERT INTO resources (kind, address, spec, fingerprint, status, data, created_at, updated_at, version) VALUES (?1, ?2, '{}', 'fp', 'active', ?3, 1, 1, 1)",
                rusqlite::params![kind, address, data],
            ).expect("insert");
        }
        let rows = store.list().expect("list");
        let instance_row = rows
            .iter()
            .find(|r| r.kind() == ResourceKind::Instance)
            .expect("instance");
        let job_row = rows
            .iter()
            .find(|r| r.kind() == ResourceKind::Job)
            .expect("job");
        let runner = instance_row.instance_data().runner.expect("runner");
        assert_eq!(
            (runner.url.as_str(), runner.token.as_str()),
            ("http://1.2.3.4:10999", "t")
        );
        let data = job_row.job_data();
        assert_eq!(data.instance.as_deref(), Some("fleet/f/instance/0"));
        assert_eq!((data.submission, data.exit_code), (Some(1), Some(3)));
        assert_eq!(data.attached[0].volume_id.as_deref(), Some("vol-1"));
        let mut rewritten = job_row.clone();
        rewritten.set_data(&data);
        assert_eq!(
            rewritten.data,
            serde_json::from_str::<serde_json::Value>(job).expect("json")
        );
    }

    #[test]
    fn listing_parses_only_the_specs_asked_for() {
        let store = SqliteStore::open_in_memory().expect("open");
        for (name, print) in [("aa", "fp-a"), ("bb", "fp-b")] {
            let address: ResourceAddr = format!("fleet/{name}").parse().expect("address");
            let spec = serde_json::json!({"name": name});
            let row = RecordedResource::new(address, spec, print.into());
            store.put(&row, Expected::Absent).expect("put");
        }
        let rows = store
            .list_specs_where(&|_, print| print != "fp-a")
            .expect("list");
        assert_eq!(rows[0].spec, serde_json::Value::Null);
        assert_eq!(rows[0].fingerprint, "fp-a");
        assert_eq!(rows[1].spec, serde_json::json!({"name": "bb"}));
        assert_eq!(store.list().expect("list")[0].spec["name"], "aa");
    }
}
