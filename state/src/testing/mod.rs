//! Conformance suites: one per store trait (each takes a fresh store of
//! that trait and panics with the property that failed), and
//! [`conformance`], every suite against one [`StateStore`](crate::StateStore).
//! Each runs against the memory store and the SQLite store (in memory and
//! in a file) in `all`'s tests; a new store adds itself there.

mod all;
mod fixtures;
pub mod journal;
pub mod lock;
pub mod logs;
pub mod resources;
pub mod workflows;

pub use all::conformance;
