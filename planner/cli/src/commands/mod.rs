//! One module per subcommand; `run` dispatches.
//!
//! Layering: shared views and helpers (`jobs`, `resource_views`,
//! `confirm`, `since`) are under the commands that show them; a command
//! module (`ps`, `run_get`, `apply`, ...) may use a lower one, never the
//! reverse, so there are no import circles.

mod apply;
mod attach;
mod completion;
mod confirm;
mod delete;
mod gateway_update;
mod help;
mod inspect;
mod jobs;
mod logs;
mod offer;
pub mod offer_table;
mod plan;
mod ps;
mod resource_views;
mod resources;
mod run_get;
mod schema;
pub mod since;
mod state;
mod stop;
mod validate;
mod workflows;

use crate::cli::{ArtifactsCommand, Cli, Command};
use crate::context::ProjectOptions;
use crate::error::CliError;

/// Runs the parsed command, returning the exit code.
pub fn run(cli: Cli) -> Result<i32, CliError> {
    let project = &ProjectOptions {
        dir: cli.project_dir.clone(),
        state: cli.state.clone(),
    };
    match cli.command {
        Command::Validate { files, format } => validate::run(&cli.project_dir, &files, format),
        Command::Schema { name } => schema::run(&name),
        Command::Plan {
            args,
            format,
            out,
            detailed_exitcode,
            destroy,
            overrides,
        } => plan::run(
            project,
            &args,
            format,
            out.as_deref(),
            detailed_exitcode,
            destroy,
            &overrides,
        ),
        Command::Apply {
            help: Some(topic), ..
        } => help::apply_help(topic.as_deref()),
        Command::Apply {
            help: None,
            plan_file,
            args,
            yes,
            parallelism,
            lock_timeout,
            detach,
            force,
            overrides,
        } => apply::run(
            project,
            plan_file.as_deref(),
            &args,
            &overrides,
            apply::ApplyOptions {
                yes,
                parallelism,
                lock_timeout,
                detach,
                force,
            },
        ),
        command @ Command::Destroy { .. } => destroy_command(project, command),
        Command::State { command } => state::run(project, command),
        Command::Offer(args) => offer::run(project, &args),
        command @ (Command::Ps { .. }
        | Command::Logs { .. }
        | Command::Stop { .. }
        | Command::Attach { .. }) => job_command(project, command),
        Command::Run {
            workflow,
            run,
            json,
            vars,
            parallelism,
        } => inspect::run(project, &workflow, run, json, &vars, parallelism),
        command @ (Command::Fleet { .. }
        | Command::Volume { .. }
        | Command::Gateway { .. }
        | Command::Delete(_)
        | Command::Completion { .. }) => inspect::resource_command(project, command),
        Command::Artifacts { command } => artifacts_command(project, command),
        Command::Runner { args } => {
            let mut argv = vec![std::ffi::OsString::from("dstack runner")];
            argv.extend(args);
            Ok(dstack_runner::daemon::cli::main_from_args(argv))
        }
    }
}

/// `dstack destroy`: the targets (or everything), or with `--orphans` the
/// resources tagged as ours that state does not know.
fn destroy_command(project: &ProjectOptions, command: Command) -> Result<i32, CliError> {
    match command {
        Command::Destroy {
            targets,
            orphans,
            yes,
            parallelism,
            lock_timeout,
        } => {
            if orphans {
                apply::destroy_orphans(project, yes)
            } else {
                apply::destroy(
                    project,
                    targets,
                    apply::ApplyOptions {
                        yes,
                        parallelism,
                        lock_timeout,
                        detach: true,
                        force: false,
                    },
                )
            }
        }
        _ => unreachable!("run sends only destroy here"),
    }
}

/// The commands about one run's jobs: `ps`, `logs`, `stop`, `attach`.
fn job_command(project: &ProjectOptions, command: Command) -> Result<i32, CliError> {
    match command {
        Command::Ps {
            all,
            last,
            json,
            watch,
            verbose,
        } => ps::ps(
            project,
            jobs::PsOptions {
                all,
                last,
                json,
                watch,
                verbose,
            },
        ),
        Command::Logs {
            run,
            follow,
            job,
            replica,
            since,
            submission,
            diagnose,
        } => logs::logs(
            project,
            logs::LogsOptions {
                run,
                follow,
                job: jobs::JobPick { job, replica },
                since: since::millis(since),
                submission,
                diagnose,
            },
        ),
        Command::Stop {
            runs,
            abort,
            yes,
            timeout,
        } => stop::stop(
            project,
            &runs,
            stop::StopOptions {
                abort,
                yes,
                timeout,
            },
        ),
        Command::Attach {
            run,
            job,
            replica,
            logs,
            since,
            diagnose,
        } => attach::attach_command(
            project,
            &run,
            jobs::JobPick { job, replica },
            attach::Follow {
                replay: logs,
                since: since::millis(since),
                diagnose,
            },
        ),
        _ => unreachable!("run sends only ps, logs, stop and attach here"),
    }
}

/// `dstack artifacts list` and `download`.
fn artifacts_command(project: &ProjectOptions, command: ArtifactsCommand) -> Result<i32, CliError> {
    match command {
        ArtifactsCommand::List { run, json } => workflows::artifacts_list(project, &run, json),
        ArtifactsCommand::Download {
            run,
            workflow,
            output,
        } => workflows::artifacts_download(project, &run, workflow.as_deref(), output.as_deref()),
    }
}
