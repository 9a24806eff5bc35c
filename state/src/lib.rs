//! What dstack created, as recorded: one row per resource address, an
//! intent journal written around every provider call, apply history, the
//! state lock, and job logs.
//!
//! `model` is the data, `store` the traits every backend implements (one
//! per concept, [`StateStore`] all of them), `error` what goes wrong,
//! `status` how a row's status is read, `sqlite` the default backend, `mem` an in-memory one for tests, and
//! `testing` the conformance suites both must pass.
//!
//! Layering, bottom up: `model` imports no other module of the crate,
//! `error` builds on `model`, `store` on both, and the backends on `store`.

pub mod error;
pub mod mem;
pub mod model;
pub mod sqlite;
pub mod status;
pub mod store;
pub mod testing;

pub use error::StateError;
pub use model::{
    ApplyRecord, Expected, Forgotten, Intent, IntentOutcome, LockInfo, LockRequest, LogLine,
    LogSubmission, NewIntent, RecordedResource, WorkflowJob, WorkflowRun, now_ms,
};
pub use store::{
    ApplyHistory, IntentJournal, LogStore, ResourceStore, StateLock, StateStore, WorkflowStore,
    acquire_lock,
};
