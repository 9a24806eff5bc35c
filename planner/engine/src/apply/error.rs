//! Why a step failed, as data: a kind that a policy can act on (a retry on
//! no capacity, a stop on bad credentials) and the message the user reads.

use std::fmt;

use dstack_provider::{ErrorKind, ProviderError};
use serde::Serialize;

use super::runtime::RuntimeError;

/// What kind of failure ended a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepErrorKind {
    /// No offer had capacity or quota (dstack's `no-capacity` event).
    NoCapacity,
    /// The provider refused or failed otherwise.
    Provider,
    /// State could not be read or written.
    State,
    /// The job runtime (a runner) failed.
    Runtime,
    /// The plan cannot be carried out as configured (an unconfigured
    /// backend, a missing volume or configuration, an unset variable).
    Config,
    /// A bug: the step panicked.
    Internal,
}

/// A failed step: its kind and what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// What kind of failure.
    pub kind: StepErrorKind,
    /// The message, naming what failed and, where known, what to do.
    pub message: String,
}

impl StepError {
    /// A failure of `kind`.
    pub fn new(kind: StepErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A state read or write failed.
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(StepErrorKind::State, message)
    }

    /// The configuration or plan cannot be carried out.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(StepErrorKind::Config, message)
    }

    /// A provider failed with `error`; `message` says what was being done.
    pub fn provider(error: &ProviderError, message: impl Into<String>) -> Self {
        Self::new(Self::provider_kind(error.kind), message)
    }

    /// The step kind of a provider failure of kind `kind`.
    pub fn provider_kind(kind: ErrorKind) -> StepErrorKind {
        match kind {
            ErrorKind::NoCapacity | ErrorKind::QuotaExceeded => StepErrorKind::NoCapacity,
            _ => StepErrorKind::Provider,
        }
    }

    /// The same failure with `message` instead.
    pub fn with_message(self, message: impl Into<String>) -> Self {
        Self::new(self.kind, message)
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<dstack_state::StateError> for StepError {
    fn from(e: dstack_state::StateError) -> Self {
        Self::state(e.to_string())
    }
}

impl From<ProviderError> for StepError {
    fn from(e: ProviderError) -> Self {
        Self::provider(&e, e.to_string())
    }
}

impl From<RuntimeError> for StepError {
    fn from(e: RuntimeError) -> Self {
        Self::new(StepErrorKind::Runtime, e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_and_quota_are_no_capacity_and_the_rest_provider_failures() {
        for (kind, step) in [
            (ErrorKind::NoCapacity, StepErrorKind::NoCapacity),
            (ErrorKind::QuotaExceeded, StepErrorKind::NoCapacity),
            (ErrorKind::AuthFailed, StepErrorKind::Provider),
            (ErrorKind::Transient, StepErrorKind::Provider),
        ] {
            assert_eq!(StepError::provider_kind(kind), step, "{kind:?}");
        }
    }
}
