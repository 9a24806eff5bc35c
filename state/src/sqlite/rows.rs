//! Rows as SQLite stores them, read by column name into named structs,
//! then decoded into the model (JSON parsed, addresses checked). A value
//! that does not decode is a [`StateError::BadRow`] naming the row.

use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::money::Usd;
use rusqlite::Row;

use crate::model::{
    ApplyRecord, Intent, IntentOutcome, LockInfo, LockRequest, NewIntent, RecordedResource,
};
use crate::store::StateError;

/// The columns [`ResourceRow::read`] reads.
pub const RESOURCE_COLUMNS: &str = "address, spec, fingerprint, provider, provider_id, status, price_micros, offer, data, created_at, updated_at, version";

/// The columns [`IntentRow::read`] reads.
pub const INTENT_COLUMNS: &str = "id, apply_id, address, operation, token, provider, started_at, finished_at, outcome, detail, payload";

/// The columns [`ApplyRow::read`] reads.
pub const APPLY_COLUMNS: &str =
    "id, plan_id, holder, operation, started_at, finished_at, outcome, summary";

/// The columns [`read_lock`] reads.
pub const LOCK_COLUMNS: &str = "id, holder, pid, host, operation, created_at";

/// Sorts listed rows by address (SQLite's text order is not address order).
pub fn sort_by_address(rows: &mut [RecordedResource]) {
    // Text order is not address order (`instance/10` < `instance/2`).
    rows.sort_by(|a, b| a.address.cmp(&b.address));
}

/// A decoding failure of the row at `address`.
pub fn bad_row(address: &str, reason: impl std::fmt::Display) -> StateError {
    StateError::BadRow {
        address: address.to_string(),
        reason: reason.to_string(),
    }
}

/// Parses a JSON column of the row at `address`.
pub fn parse_json(address: &str, text: &str, field: &str) -> Result<serde_json::Value, StateError> {
    serde_json::from_str(text).map_err(|e| bad_row(address, format!("{field}: {e}")))
}

/// A `resources` row.
pub struct ResourceRow {
    address: String,
    spec: String,
    fingerprint: String,
    provider: Option<String>,
    provider_id: Option<String>,
    status: String,
    price_micros: Option<i64>,
    offer: Option<String>,
    data: String,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl ResourceRow {
    /// Reads the [`RESOURCE_COLUMNS`] of a row.
    pub fn read(row: &Row) -> rusqlite::Result<Self> {
        Ok(Self {
            address: row.get("address")?,
            spec: row.get("spec")?,
            fingerprint: row.get("fingerprint")?,
            provider: row.get("provider")?,
            provider_id: row.get("provider_id")?,
            status: row.get("status")?,
            price_micros: row.get("price_micros")?,
            offer: row.get("offer")?,
            data: row.get("data")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            version: row.get("version")?,
        })
    }

    /// The recorded resource it holds.
    pub fn decode(self) -> Result<RecordedResource, StateError> {
        self.decode_spec_where(&|_, _| true)
    }

    /// The recorded resource it holds, its spec parsed only if
    /// `need_spec(address, fingerprint)` (`null` otherwise).
    pub fn decode_spec_where(
        self,
        need_spec: &dyn Fn(&ResourceAddr, &str) -> bool,
    ) -> Result<RecordedResource, StateError> {
        let address = &self.address;
        let parsed = address
            .parse::<ResourceAddr>()
            .map_err(|e| bad_row(address, e))?;
        let spec = if need_spec(&parsed, &self.fingerprint) {
            parse_json(address, &self.spec, "spec")?
        } else {
            serde_json::Value::Null
        };
        Ok(RecordedResource {
            address: parsed,
            spec,
            fingerprint: self.fingerprint,
            provider: self.provider,
            provider_id: self.provider_id,
            status: self
                .status
                .parse()
                .map_err(|e| bad_row(address, format!("status: {e}")))?,
            price_per_hour: self.price_micros.map(Usd::from_micros),
            offer: self
                .offer
                .map(|o| parse_json(address, &o, "offer"))
                .transpose()?,
            data: parse_json(address, &self.data, "data")?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: u64::try_from(self.version)
                .map_err(|_| bad_row(address, "negative version"))?,
        })
    }
}

/// An `intents` row.
pub struct IntentRow {
    id: i64,
    apply_id: String,
    address: String,
    operation: String,
    token: String,
    provider: Option<String>,
    started_at: i64,
    finished_at: Option<i64>,
    outcome: Option<String>,
    detail: Option<String>,
    payload: Option<String>,
}

impl IntentRow {
    /// Reads the [`INTENT_COLUMNS`] of a row.
    pub fn read(row: &Row) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            apply_id: row.get("apply_id")?,
            address: row.get("address")?,
            operation: row.get("operation")?,
            token: row.get("token")?,
            provider: row.get("provider")?,
            started_at: row.get("started_at")?,
            finished_at: row.get("finished_at")?,
            outcome: row.get("outcome")?,
            detail: row.get("detail")?,
            payload: row.get("payload")?,
        })
    }

    /// The journal entry it holds.
    pub fn decode(self) -> Result<Intent, StateError> {
        let address = &self.address;
        Ok(Intent {
            id: self.id,
            intent: NewIntent {
                apply_id: self.apply_id,
                payload: self
                    .payload
                    .map(|p| parse_json(address, &p, "payload"))
                    .transpose()?,
                address: address.parse().map_err(|e| bad_row(address, e))?,
                operation: self.operation,
                token: self.token,
                provider: self.provider,
            },
            started_at: self.started_at,
            finished_at: self.finished_at,
            outcome: self.outcome.as_deref().and_then(IntentOutcome::parse),
            detail: self.detail,
        })
    }
}

/// An `applies` row.
pub struct ApplyRow {
    id: String,
    plan_id: String,
    holder: String,
    operation: String,
    started_at: i64,
    finished_at: Option<i64>,
    outcome: Option<String>,
    summary: String,
}

impl ApplyRow {
    /// Reads the [`APPLY_COLUMNS`] of a row.
    pub fn read(row: &Row) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            plan_id: row.get("plan_id")?,
            holder: row.get("holder")?,
            operation: row.get("operation")?,
            started_at: row.get("started_at")?,
            finished_at: row.get("finished_at")?,
            outcome: row.get("outcome")?,
            summary: row.get("summary")?,
        })
    }

    /// The apply it records.
    pub fn decode(self) -> Result<ApplyRecord, StateError> {
        Ok(ApplyRecord {
            summary: parse_json(&self.id, &self.summary, "summary")?,
            id: self.id,
            plan_id: self.plan_id,
            holder: self.holder,
            operation: self.operation,
            started_at: self.started_at,
            finished_at: self.finished_at,
            outcome: self.outcome,
        })
    }
}

/// Reads the [`LOCK_COLUMNS`] of a `locks` row (plain columns, nothing to decode).
pub fn read_lock(row: &Row) -> rusqlite::Result<LockInfo> {
    Ok(LockInfo {
        id: row.get("id")?,
        request: LockRequest {
            holder: row.get("holder")?,
            pid: row.get("pid")?,
            host: row.get("host")?,
            operation: row.get("operation")?,
        },
        created_at: row.get("created_at")?,
    })
}
