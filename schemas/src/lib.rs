//! Every format shared between dstack crates or with users: the
//! configuration model and its mini-grammars, diagnostics, money, and the
//! wire and file formats of later stages.
//!
//! Data types, parsing and validation only: no IO, no async, no SQL.

pub mod action;
pub mod addr;
pub mod backends;
pub mod config;
pub mod diag;
pub mod exit_codes;
pub mod grammar;
pub mod inspect;
pub mod money;
pub mod offer;
pub mod plan;
pub mod recorded;
pub mod spec;
pub mod status;
pub mod words;
pub mod yaml;
