//! `dstack completion bash|zsh|fish|...`: the shell completion script,
//! generated from the command-line syntax by clap_complete.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::CliError;

/// Prints the completion script of `shell`.
pub fn run(shell: clap_complete::Shell) -> Result<i32, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "dstack", &mut script);
    out!("{}", String::from_utf8_lossy(&script))?;
    Ok(0)
}
