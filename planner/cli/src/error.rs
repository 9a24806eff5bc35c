//! `CliError`: every failure the CLI reports, each with its exit code.

use dstack_schemas::exit_codes;

/// A failure with a documented exit code.
#[derive(Debug)]
pub enum CliError {
    /// Bad usage the argument parser could not catch.
    Usage(String),
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
            Self::Unexpected(err) => {
                eprintln!("error: {err:#}");
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
