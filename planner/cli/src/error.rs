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
    File(dstack_engine::files::FileError),
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
                match state_help(&e) {
                    Some(help) => {
                        errln!("  help: {help}");
                        exit_codes::STATE_ERROR
                    }
                    None => exit_codes::UNEXPECTED,
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
                if matches!(e, dstack_engine::files::FileError::NotRegular(_)) {
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

/// What to do about a state file that cannot be used (exit code 9); `None`
/// for other state errors.
fn state_help(error: &StateError) -> Option<String> {
    let unchanged = "the state file was left as it is";
    Some(match error {
        StateError::Corrupt { path, .. } => {
            let backup = crate::backup::backup_path(std::path::Path::new(path));
            if backup.exists() {
                format!(
                    "{unchanged}. The copy taken at the start of the last apply or destroy is {backup}; restore it with `cp {backup} {path}` (resources created after that copy are adopted from their tags by the next apply), or point --state elsewhere",
                    backup = backup.display()
                )
            } else {
                format!(
                    "{unchanged}, and there is no backup ({}) to restore; move it away to start from empty state, or point --state elsewhere",
                    backup.display()
                )
            }
        }
        StateError::ReadOnly { .. } => format!(
            "{unchanged}; nothing is damaged. Make it and its directory writable for this user (or run as their owner), or point --state elsewhere"
        ),
        StateError::Denied { .. } => format!(
            "{unchanged}; nothing is damaged. Make it readable for this user (or run as its owner), or point --state elsewhere"
        ),
        StateError::TooNew { .. } => unchanged.to_string(),
        StateError::BadRow { .. } => {
            format!("{unchanged}; restore it from a backup or point --state elsewhere")
        }
        _ => return None,
    })
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
    pub fn file(e: dstack_engine::files::FileError) -> Self {
        match e {
            dstack_engine::files::FileError::Io { .. } => Self::Unexpected(e.into()),
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
