//! The `dstack` command: argument parsing, the composition root (the only
//! place that names concrete providers and stores), rendering and exit codes.

mod cli;
mod commands;
mod context;
mod error;
mod project;
mod render;
mod runtime;
mod workflows;

fn main() {
    let args = cli::Cli::parse_args();
    let code = match commands::run(args) {
        Ok(code) => code,
        Err(err) => err.report(),
    };
    std::process::exit(code);
}
