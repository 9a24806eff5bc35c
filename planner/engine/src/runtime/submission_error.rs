//! Why a job's submission cannot be built, as data: a kind and the message
//! the user reads. A leaf under `runtime::submission` and
//! `workflows::spec`, which both build submissions.

use std::fmt;

/// What kind of problem stops a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionErrorKind {
    /// The configuration is not a run (task, service, dev environment).
    NotARun,
    /// The job names a node or replica group the run does not have.
    UnknownGroup,
    /// The image and the local runtime do not go together.
    Executor,
    /// A variable, inherited env value or secret has no value.
    UnsetValue,
    /// The entrypoint cannot be split into words.
    Entrypoint,
    /// There is no command to run on a host process.
    NothingToRun,
    /// A volume cannot be mounted.
    Volume,
    /// A workflow uses a provider `dstack run` does not support, or one
    /// without what it needs.
    Provider,
}

/// A submission that cannot be built: its kind and what to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionError {
    /// What kind of problem.
    pub kind: SubmissionErrorKind,
    /// The message, naming the run or workflow and what to do.
    pub message: String,
}

impl SubmissionError {
    /// A problem of `kind`.
    pub fn new(kind: SubmissionErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// The configuration is not a run.
    pub fn not_a_run() -> Self {
        Self::new(SubmissionErrorKind::NotARun, "not a run configuration")
    }
}

impl fmt::Display for SubmissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SubmissionError {}
