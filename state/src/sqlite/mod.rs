//! `SqliteStore`: the default state backend, a SQLite file (WAL, full
//! sync) at `.dstack/state.db`. `store` is the connection, `classify`
//! (a leaf under all of them) its error classifier, `open` opens or creates
//! the file, `migrate` its schema,
//! `backup` copies it, `rows` reads rows into named structs, and one module
//! per store trait holds that trait's SQL.
//! `group` lets concurrent writes share one transaction and one fsync.
//! `listing` reads runs and jobs without decoding the whole table.

mod backup;
mod classify;
mod group;
mod journal;
mod listing;
mod lock;
mod logs;
mod migrate;
mod open;
mod resources;
mod rows;
#[cfg(test)]
pub(crate) mod scratch;
mod store;
mod workflows;

pub use migrate::SCHEMA_VERSION;
pub use store::{SqliteStore, random_id};
