//! `dstack-runner serve`: the runner daemon on its own (cloud instances run
//! this; the `dstack` CLI embeds the same daemon as `dstack runner serve`).

fn main() {
    std::process::exit(dstack_runner::daemon::cli::main_from_args(
        std::env::args_os(),
    ));
}
