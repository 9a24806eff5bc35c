//! One module per subcommand; `run` dispatches.

mod apply;
mod attach;
mod completion;
mod delete;
mod jobs;
mod logs;
mod offer;
mod plan;
mod resource_views;
mod resources;
mod run_get;
mod schema;
mod state;
mod stop;
mod validate;
mod workflows;

use crate::cli::{ArtifactsCommand, Cli, Command};
use crate::cli_resources::{FleetCommand, GatewayCommand, VolumeCommand};
use crate::context::ProjectOptions;
use crate::error::CliError;
use dstack_schemas::addr::ResourceKind;

/// Runs the parsed command, returning the exit code.
pub fn run(cli: Cli) -> Result<i32, CliError> {
    let project = ProjectOptions {
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
        } => plan::run(
            &project,
            &args,
            format,
            out.as_deref(),
            detailed_exitcode,
            destroy,
        ),
        Command::Apply {
            plan_file,
            args,
            yes,
            parallelism,
            lock_timeout,
            detach,
        } => apply::run(
            &project,
            plan_file.as_deref(),
            &args,
            apply::ApplyOptions {
                yes,
                parallelism,
                lock_timeout,
                detach,
            },
        ),
        Command::Destroy {
            targets,
            orphans,
            yes,
            parallelism,
            lock_timeout,
        } => {
            if orphans {
                apply::destroy_orphans(&project, yes)
            } else {
                apply::destroy(
                    &project,
                    targets,
                    apply::ApplyOptions {
                        yes,
                        parallelism,
                        lock_timeout,
                        detach: true,
                    },
                )
            }
        }
        Command::State { command } => state::run(&project, command),
        Command::Offer(args) => offer::run(&project, &args),
        Command::Ps {
            all,
            last,
            json,
            watch,
            verbose,
        } => jobs::ps(
            &project,
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
            submission,
            diagnose,
        } => logs::logs(
            &project,
            logs::LogsOptions {
                run,
                follow,
                job,
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
            &project,
            &runs,
            stop::StopOptions {
                abort,
                yes,
                timeout,
            },
        ),
        Command::Attach { run, job, diagnose } => {
            attach::attach_command(&project, &run, job, diagnose)
        }
        Command::Run {
            workflow,
            run,
            json,
            vars,
        } => match (workflow.as_str(), run) {
            ("get", Some(name)) if vars.is_empty() => run_get::run_get(&project, &name, json),
            (_, Some(extra)) => Err(crate::error::CliError::Usage(format!(
                "`dstack run {workflow} {extra}`: only `dstack run get NAME` takes a second \
                 argument (a workflow is run as `dstack run WORKFLOW`)"
            ))),
            (_, None) if json => Err(crate::error::CliError::Usage(
                "--json goes with `dstack run get NAME`".into(),
            )),
            (_, None) => workflows::run(&project, &workflow, &vars),
        },
        Command::Fleet { command, list } => match command.unwrap_or(FleetCommand::List(list)) {
            FleetCommand::List(args) => resources::list(&project, ResourceKind::Fleet, &args),
            FleetCommand::Get(args) => resources::get(&project, ResourceKind::Fleet, &args),
            FleetCommand::Delete { args, instances }
            | FleetCommand::DeleteInstance { args, instances } => {
                delete::fleet(&project, &args, &instances)
            }
        },
        Command::Volume { command, list } => match command.unwrap_or(VolumeCommand::List(list)) {
            VolumeCommand::List(args) => resources::list(&project, ResourceKind::Volume, &args),
            VolumeCommand::Get(args) => resources::get(&project, ResourceKind::Volume, &args),
            VolumeCommand::Delete(args) => delete::named(&project, ResourceKind::Volume, &args),
        },
        Command::Gateway { command, list } => match command.unwrap_or(GatewayCommand::List(list)) {
            GatewayCommand::List(args) => resources::list(&project, ResourceKind::Gateway, &args),
            GatewayCommand::Get(args) => resources::get(&project, ResourceKind::Gateway, &args),
            GatewayCommand::Delete(args) => delete::named(&project, ResourceKind::Gateway, &args),
            GatewayCommand::Update {
                name,
                set_default,
                domain,
            } => delete::gateway_update(&project, &name, set_default, domain.as_deref()),
        },
        Command::Delete(args) => delete::by_file(&project, &args),
        Command::Completion { shell } => completion::run(shell),
        Command::Artifacts { command } => match command {
            ArtifactsCommand::List { run, json } => workflows::artifacts_list(&project, &run, json),
            ArtifactsCommand::Download {
                run,
                workflow,
                output,
            } => workflows::artifacts_download(
                &project,
                &run,
                workflow.as_deref(),
                output.as_deref(),
            ),
        },
        Command::Runner { args } => {
            let mut argv = vec![std::ffi::OsString::from("dstack runner")];
            argv.extend(args);
            Ok(dstack_runner::daemon::cli::main_from_args(argv))
        }
    }
}
