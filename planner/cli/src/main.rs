//! The `dstack` command: argument parsing, the composition root (the only
//! place that names concrete providers and stores), rendering and exit codes.

#![deny(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod output;

mod backup;
mod cli;
mod cli_resources;
mod commands;
mod context;
mod error;
mod overrides;
mod project;
mod render;

/// mimalloc: a plan of many resources is mostly small allocations, which
/// the system allocator serves at about twice the cost (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = cli::Cli::parse_args();
    let code = match commands::run(args) {
        Ok(code) => code,
        Err(err) => err.report(),
    };
    std::process::exit(output::finish(code));
}
