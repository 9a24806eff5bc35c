//! The one way the CLI writes to standard output and standard error
//! ([`out!`], [`outln!`], [`errln!`]); nothing else prints. Writes never
//! panic. A closed pipe (the reader went away: `dstack plan | head -c1`) ends
//! the command quietly with exit 141, as a process killed by SIGPIPE would; any
//! other write error (`dstack plan > /dev/full`) is reported on stderr and
//! exits 1. The first failure is remembered and later writes are dropped, so a
//! command that must not stop half-way (an apply) finishes its work and then
//! exits with the failure; commands that only print stop at once (`?`).
//!
//! Standard error is best effort: when it cannot be written there is nowhere
//! to say so, and the command goes on.

use std::fmt;
use std::io::{self, Write};
use std::sync::OnceLock;

use dstack_schemas::exit_codes;

/// Standard output could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// The reader closed the pipe.
    #[error("standard output was closed by its reader")]
    Closed,
    /// Any other write error.
    #[error("cannot write to standard output: {0}")]
    Failed(String),
}

impl OutputError {
    fn of(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::BrokenPipe => Self::Closed,
            _ => Self::Failed(err.to_string()),
        }
    }

    /// The exit code this failure ends the command with.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Closed => exit_codes::OUTPUT_CLOSED,
            Self::Failed(_) => exit_codes::UNEXPECTED,
        }
    }
}

/// The first failure to write standard output.
static FAILURE: OnceLock<OutputError> = OnceLock::new();

fn record(err: &io::Error) -> OutputError {
    FAILURE.get_or_init(|| OutputError::of(err)).clone()
}

/// The first failure to write standard output, if any.
pub fn failure() -> Option<OutputError> {
    FAILURE.get().cloned()
}

/// Writes to standard output; after a failure, writes nothing and returns it.
pub fn write_out(args: fmt::Arguments) -> Result<(), OutputError> {
    if let Some(failed) = failure() {
        return Err(failed);
    }
    io::stdout().lock().write_fmt(args).map_err(|e| record(&e))
}

/// Writes raw bytes to standard output (a job's log, an archive listing).
pub fn write_out_bytes(bytes: &[u8]) -> Result<(), OutputError> {
    if let Some(failed) = failure() {
        return Err(failed);
    }
    io::stdout().lock().write_all(bytes).map_err(|e| record(&e))
}

/// Flushes standard output (before waiting, so what was said is seen).
pub fn flush() -> Result<(), OutputError> {
    if let Some(failed) = failure() {
        return Err(failed);
    }
    io::stdout().flush().map_err(|e| record(&e))
}

/// Writes to standard error, best effort.
pub fn write_err(args: fmt::Arguments) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Writes raw bytes to standard error, best effort.
pub fn write_err_bytes(bytes: &[u8]) {
    let _ = io::stderr().lock().write_all(bytes);
}

/// The process exit code: `code`, unless standard output failed (then the
/// failure's code, and a message for errors other than a closed pipe).
pub fn finish(code: i32) -> i32 {
    let _ = flush();
    match failure() {
        None => code,
        Some(OutputError::Closed) => exit_codes::OUTPUT_CLOSED,
        Some(failed) => {
            write_err(format_args!("error: {failed}\n"));
            failed.exit_code()
        }
    }
}

/// `print!` that never panics: `Result<(), OutputError>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!($($arg)*))
    };
}

/// `println!` that never panics: `Result<(), OutputError>`.
macro_rules! outln {
    () => {
        $crate::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics (best effort).
macro_rules! errln {
    () => {
        $crate::output::write_err(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// The engine's output on this process's stdout and stderr (same
/// never-panic rules as the macros above).
#[derive(Debug, Default, Clone, Copy)]
pub struct Terminal;

impl dstack_engine::Output for Terminal {
    fn out(&self, text: &str) {
        let _ = write_out_bytes(text.as_bytes());
    }
    fn err(&self, text: &str) {
        write_err_bytes(text.as_bytes());
    }
}
