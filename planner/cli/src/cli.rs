//! Command-line syntax (clap). Every flag is documented here.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use dstack_schemas::exit_codes;

/// dstack in Rust: declarative GPU infrastructure with plans you can trust.
#[derive(Debug, Parser)]
#[command(name = "dstack", version, about, after_help = exit_code_help())]
pub struct Cli {
    /// Project directory (configs, `.dstack/state.db`).
    #[arg(long, global = true, env = "DSTACK_PROJECT_DIR", default_value = ".")]
    pub project_dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

fn exit_code_help() -> String {
    let mut help = String::from("Exit codes:\n");
    for (code, meaning) in exit_codes::ALL {
        help.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    help
}

impl Cli {
    /// Parses `std::env::args`, exiting with [`exit_codes::USAGE`] on bad usage.
    pub fn parse_args() -> Self {
        match Self::try_parse() {
            Ok(cli) => cli,
            Err(err) => {
                let code = if err.use_stderr() {
                    exit_codes::USAGE
                } else {
                    exit_codes::OK
                };
                let _ = err.print();
                std::process::exit(code);
            }
        }
    }
}

/// Output format of machine-readable commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For programs (versioned).
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check configuration files and report every problem with its place.
    Validate {
        /// Files or directories (default: the project directory).
        #[arg(short = 'f', long = "file")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Print the JSON Schema of a configuration type (for editors).
    Schema {
        /// `configuration` (any type), a type such as `task`, or `workflows`.
        #[arg(default_value = "configuration")]
        name: String,
    },
}
