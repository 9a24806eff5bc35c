//! One module per subcommand; `run` dispatches.

mod schema;
mod validate;

use crate::cli::{Cli, Command};
use crate::error::CliError;

/// Runs the parsed command, returning the exit code.
pub fn run(cli: Cli) -> Result<i32, CliError> {
    match cli.command {
        Command::Validate { files, format } => validate::run(&cli.project_dir, &files, format),
        Command::Schema { name } => schema::run(&name),
    }
}
