//! The async side of dstack, shared by the CLI and (later) a server: the
//! apply executor ([`apply`]: steps through providers and the job runtime,
//! each wrapped in an intent, in dependency order), the
//! job runtime that talks to `dstack-runner`s ([`runtime`]: submissions,
//! code upload, status and log sync), the 2022 workflows engine
//! ([`workflows`]), and reading the files they read ([`files`]: regular
//! files only), and the one DAG walker both run on ([`walk`]).
//!
//! Invariants: no terminal IO and no signal handling here (progress and
//! warnings go out through [`Output`]; cancellation comes in as a future);
//! no clap, no rendering, no concrete provider (the composition root hands
//! in what it decides, e.g. where local volumes live).

pub mod apply;
pub mod files;
pub mod output;
pub mod runtime;
pub mod testing;
pub mod walk;
pub mod workflows;

pub use output::Output;
