//! `CliError`: every failure the CLI reports, each with its documented
//! exit code (see `dstack --help` and `schemas::exit_codes`).

use dstack_schemas::exit_codes;
use dstack_state::StateError;

/// A failure with a documented exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage the argument parser could not catch.
    Usage(String),
    /// Configuration problems; already rendered.
    InvalidConfig,
    /// The state store failed (locked, corrupt, too new, ...).
    State(StateError),
    /// The plan has errors; already rendered. The code says which kind.
    PlanErrors(i32),
    /// A saved plan no longer matches.
    StalePlan(Vec<String>),
    /// Apply finished with failed steps; already reported.
    ApplyPartial,
    /// The user said no.
    Declined,
    /// Ctrl+C.
    Interrupted,
    /// An attached job ended with this exit code (its end already reported).
    JobExit(i32),
    /// A file dstack reads is not a regular file (a FIFO, a socket) or
    /// cannot be read.
    File(crate::files::FileError),
    /// Standard output could not be written (said by `output::finish`).
    Output(crate::output::OutputError),
    /// Anything else.
    Unexpected(anyhow::Error),
}

impl CliError {
    /// Prints the error (unless already printed) and returns the exit code.
    pub fn report(self) -> i32 {
        match self {
            Self::Usage(msg) => {
                errln!("error: {msg}");
                exit_codes::USAGE
            }
            Self::InvalidConfig => exit_codes::INVALID_CONFIG,
            Self::State(StateError::Locked(info)) => {
                errln!("error: {}", StateError::Locked(info.clone()));
                errln!(
                    "  help: wait for it to finish; if its process died elsewhere, run `dstack state unlock {}`",
                    info.id
                );
                exit_codes::STATE_LOCKED
            }
            Self::State(e) => {
                errln!("error: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    errln!("  caused by: {s}");
                    source = s.source();
                }
                match e {
                    StateError::TooNew { .. }
                    | StateError::Corrupt { .. }
                    | StateError::BadRow { .. } => {
                        errln!(
                            "  help: the state file was not changed; restore it from a backup or point --state elsewhere"
                        );
                        exit_codes::STATE_ERROR
                    }
                    _ => exit_codes::UNEXPECTED,
                }
            }
            Self::PlanErrors(code) => code,
            Self::StalePlan(reasons) => {
                errln!("error: the saved plan is stale and was not applied:");
                for r in reasons {
                    errln!("  - {r}");
                }
                errln!("  help: run `dstack plan -o FILE` again and review the new plan");
                exit_codes::STALE_PLAN
            }
            Self::ApplyPartial => exit_codes::APPLY_PARTIAL,
            Self::Declined => {
                errln!("Apply cancelled.");
                exit_codes::DECLINED
            }
            Self::Interrupted => exit_codes::INTERRUPTED,
            Self::JobExit(code) => code,
            Self::Output(failed) => failed.exit_code(),
            Self::File(e) => {
                errln!("error: {e}");
                if let Some(source) = std::error::Error::source(&e) {
                    errln!("  caused by: {source}");
                }
                if matches!(e, crate::files::FileError::NotRegular(_)) {
                    errln!("  help: replace it with a regular file, or remove it");
                }
                exit_codes::INVALID_CONFIG
            }
            Self::Unexpected(err) => {
                errln!("error: {err:#}");
                exit_codes::UNEXPECTED
            }
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(err: anyhow::Error) -> Self {
        Self::Unexpected(err)
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        Self::Unexpected(err.into())
    }
}

impl CliError {
    /// A file that could not be read: a missing or special file is the
    /// user's to fix (exit 3), any other failure is unexpected.
    pub fn file(e: crate::files::FileError) -> Self {
        match e {
            crate::files::FileError::Io { .. } => Self::Unexpected(e.into()),
            _ => Self::File(e),
        }
    }
}

impl From<crate::output::OutputError> for CliError {
    fn from(err: crate::output::OutputError) -> Self {
        Self::Output(err)
    }
}

impl From<StateError> for CliError {
    fn from(err: StateError) -> Self {
        Self::State(err)
    }
}
