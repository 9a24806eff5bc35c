//! Every format shared between dstack crates or with users.
//!
//! Data types, parsing and validation only: no IO, no async, no SQL.

pub mod diag;
pub mod grammar;
pub mod yaml;
