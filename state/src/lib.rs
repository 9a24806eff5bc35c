//! What dstack created, as recorded: one row per resource address, an
//! intent journal written around every provider call, apply history, the
//! state lock, and job logs.
//!
//! `model` is the data, `store` the trait every backend implements,
//! `sqlite` the default backend, `mem` an in-memory one for tests, and
//! `testing` the conformance suite both must pass.

pub mod mem;
pub mod model;
pub mod sqlite;
pub mod store;
pub mod testing;

pub use model::{
    ApplyRecord, Expected, Intent, IntentOutcome, LockInfo, LockRequest, LogLine, NewIntent,
    RecordedResource, WorkflowJob, WorkflowRun, now_ms,
};
pub use store::{StateError, StateStore, acquire_lock};
