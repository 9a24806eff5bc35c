//! Partial listings of the `resources` table: rows of some kinds (through
//! the `resources_kind` index), runs and jobs with their specs cut for
//! status listings, and the jobs of one run (a range of the primary key),
//! so `ps` and `logs RUN` do not decode the whole state.

use dstack_schemas::addr::ResourceKind;
use rusqlite::params_from_iter;

use super::rows::{RESOURCE_COLUMNS, ResourceRow, sort_by_address};
use super::store::SqliteStore;
use crate::model::{RecordedResource, STATUS_DATA_DROPPED};
use crate::store::StateError;

/// Rows whose kind is one of `kinds`, in address order.
pub fn list_kinds(
    store: &SqliteStore,
    kinds: &[ResourceKind],
) -> Result<Vec<RecordedResource>, StateError> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; kinds.len()].join(", ");
    let sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE kind IN ({marks})");
    let words = kinds.iter().map(ResourceKind::as_str);
    select_sorted(store, &sql, params_from_iter(words))
}

/// Runs and jobs with their specs and data cut as
/// [`crate::model::status_spec`] and [`crate::model::status_data`] do, by
/// SQLite (the full specs are never decoded here).
pub fn list_run_statuses(store: &SqliteStore) -> Result<Vec<RecordedResource>, StateError> {
    let dropped: Vec<String> = STATUS_DATA_DROPPED
        .iter()
        .map(|p| format!("'{p}'"))
        .collect();
    let columns = RESOURCE_COLUMNS
        .replacen(
            "spec,",
            "CASE WHEN kind = 'run' AND json_type(spec, '$.type') = 'text' \
             THEN json_object('type', json_extract(spec, '$.type')) ELSE '{}' END AS spec,",
            1,
        )
        .replacen(
            "data,",
            &format!(
                "CASE WHEN kind = 'job' AND json_type(data) = 'object' \
                 THEN json_remove(data, {}) ELSE data END AS data,",
                dropped.join(", ")
            ),
            1,
        );
    // A plain scan: with many runs, walking `resources_kind` costs a table
    // lookup per row (about a third more at 10,000 runs); with many
    // instances the scan skips their rows without decoding them.
    let sql = format!("SELECT {columns} FROM resources NOT INDEXED WHERE kind IN ('run', 'job')");
    select_sorted(store, &sql, [])
}

/// The rows `run/RUN/job/N` of one run, in address order.
pub fn list_jobs_of(store: &SqliteStore, run: &str) -> Result<Vec<RecordedResource>, StateError> {
    // Every address starting with `run/RUN/job/` sorts in
    // [`run/RUN/job/`, `run/RUN/job0`): `0` follows `/` in byte order.
    let low = format!("run/{run}/job/");
    let high = format!("run/{run}/job0");
    let sql = format!(
        "SELECT {RESOURCE_COLUMNS} FROM resources WHERE address >= ?1 AND address < ?2 AND kind = 'job'"
    );
    select_sorted(store, &sql, [&low, &high])
}

/// The rows `sql` selects (the columns [`RESOURCE_COLUMNS`] names, some
/// of them cut), decoded, in address order.
fn select_sorted(
    store: &SqliteStore,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<RecordedResource>, StateError> {
    let rows = store.read(|conn| {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt
            .query_map(params, ResourceRow::read)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })?;
    let mut out: Vec<RecordedResource> = rows
        .into_iter()
        .map(ResourceRow::decode)
        .collect::<Result<_, _>>()?;
    sort_by_address(&mut out);
    Ok(out)
}
