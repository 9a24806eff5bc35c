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
    /// Anything else.
    Unexpected(anyhow::Error),
}

impl CliError {
    /// Prints the error (unless already printed) and returns the exit code.
    pub fn report(self) -> i32 {
        match self {
            Self::Usage(msg) => {
                eprintln!("error: {msg}");
                exit_codes::USAGE
            }
            Self::InvalidConfig => exit_codes::INVALID_CONFIG,
            Self::State(StateError::Locked(info)) => {
                eprintln!("error: {}", StateError::Locked(info.clone()));
                eprintln!(
                    "  help: wait for it to finish; if its process died elsewhere, run `dstack state unlock {}`",
                    info.id
                );
                exit_codes::STATE_LOCKED
            }
            Self::State(e) => {
                eprintln!("error: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    eprintln!("  caused by: {s}");
                    source = s.source();
                }
                match state_help(&e) {
                    Some(help) => {
                        eprintln!("  help: {help}");
                        exit_codes::STATE_ERROR
                    }
                    None => exit_codes::UNEXPECTED,
                }
            }
            Self::PlanErrors(code) => code,
            Self::StalePlan(reasons) => {
                eprintln!("error: the saved plan is stale and was not applied:");
                for r in reasons {
                    eprintln!("  - {r}");
                }
                eprintln!("  help: run `dstack plan -o FILE` again and review the new plan");
                exit_codes::STALE_PLAN
            }
            Self::ApplyPartial => exit_codes::APPLY_PARTIAL,
            Self::Declined => {
                eprintln!("Apply cancelled.");
                exit_codes::DECLINED
            }
            Self::Interrupted => exit_codes::INTERRUPTED,
            Self::JobExit(code) => code,
            Self::Unexpected(err) => {
                eprintln!("error: {err:#}");
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
            let backup = crate::context::backup_path(std::path::Path::new(path));
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

impl From<StateError> for CliError {
    fn from(err: StateError) -> Self {
        Self::State(err)
    }
}
