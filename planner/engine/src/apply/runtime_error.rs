//! Why a job runtime call failed, as data: a kind a caller can branch on
//! (a stop of a job the runner no longer knows is done; an unreachable
//! runner is not a rejection) and the message the user reads.

use std::fmt;

/// What kind of failure a runtime call ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeErrorKind {
    /// The runner does not know the job (or archive): it may be gone
    /// already, so a stop is then done.
    NotFound,
    /// The runner could not be reached (refused, timed out, dropped).
    Unreachable,
    /// The runner answered and refused the request.
    Rejected,
    /// Something answered that is not a runner's protocol (a proxy, another
    /// server, a broken reply).
    Protocol,
    /// The job cannot be started as configured (its submission cannot be
    /// built, its instance runs no runner).
    Config,
    /// Work on this machine failed: packing the repo or files, starting the
    /// local runner.
    Local,
    /// Recorded state could not be read or written.
    State,
    /// A bug: a worker task panicked or was cancelled.
    Internal,
}

/// A runtime failure: its kind and what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeError {
    /// What kind of failure.
    pub kind: RuntimeErrorKind,
    /// What went wrong.
    pub message: String,
}

impl RuntimeError {
    /// A failure of `kind`.
    pub fn new(kind: RuntimeErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Work on this machine failed.
    pub fn local(message: impl Into<String>) -> Self {
        Self::new(RuntimeErrorKind::Local, message)
    }

    /// The runtime does not know the job.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(RuntimeErrorKind::NotFound, message)
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuntimeError {}
