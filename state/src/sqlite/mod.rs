//! `SqliteStore`: the default state backend, a SQLite file (WAL, full
//! sync) at `.dstack/state.db`. `store` opens and migrates it, `rows` reads
//! its rows into named structs, and one module per store trait holds that
//! trait's SQL.

mod journal;
mod lock;
mod logs;
mod resources;
mod rows;
mod store;
mod workflows;

pub use store::{SCHEMA_VERSION, SqliteStore, random_id};
