//! `dstack-runner`: runs jobs and keeps their logs.
//!
//! * [`api`]: every value crossing the runner's HTTP API (shared by both ends).
//! * [`client`]: the client the CLI uses.
//! * [`archive`]: deterministic tar.gz packing (repo, files, artifacts).
//! * `daemon` (feature `daemon`): the HTTP server, the Docker and process
//!   executors, job supervision, durable logs and restart recovery.
//!
//! Invariants: a job id is a function of its submission token (submitting
//! twice is harmless); a job's status is final only after its log is sealed
//! (flushed and fsynced); a restarted runner never forgets a job, and ends
//! the ones it can no longer follow with reason `runner_restarted`.

pub mod api;
pub mod archive;
pub mod client;
#[cfg(feature = "daemon")]
pub mod daemon;

pub use client::{ClientError, RunnerClient};
