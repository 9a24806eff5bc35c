//! Dispatch of the resource and inspection commands (`fleet`, `volume`,
//! `gateway`, `delete`, `completion`, `run get`), apart from the rest so
//! each family stays in its own modules.

use dstack_schemas::addr::ResourceKind;

use super::{completion, delete, gateway_update, resources, run_get, workflows};
use crate::cli::Command;
use crate::cli_resources::{FleetCommand, GatewayCommand, VolumeCommand};
use crate::context::ProjectOptions;
use crate::error::CliError;

/// `dstack run WORKFLOW` or `dstack run get NAME`: only `get` takes a
/// second argument, so `dstack run get` alone runs a workflow named `get`.
pub fn run(
    project: &ProjectOptions,
    workflow: &str,
    run: Option<String>,
    json: bool,
    vars: &[(String, String)],
    parallelism: usize,
) -> Result<i32, CliError> {
    match (workflow, run) {
        ("get", Some(name)) if vars.is_empty() => run_get::run_get(project, &name, json),
        (_, Some(extra)) => Err(CliError::Usage(format!(
            "`dstack run {workflow} {extra}`: only `dstack run get NAME` takes a second \
             argument (a workflow is run as `dstack run WORKFLOW`)"
        ))),
        (_, None) if json => Err(CliError::Usage(
            "--json goes with `dstack run get NAME`".into(),
        )),
        (_, None) => workflows::run(project, workflow, vars, parallelism),
    }
}

/// `fleet`, `volume`, `gateway`, `delete` and `completion`.
pub fn resource_command(project: &ProjectOptions, command: Command) -> Result<i32, CliError> {
    match command {
        Command::Fleet { command, list } => {
            fleet(project, command.unwrap_or(FleetCommand::List(list)))
        }
        Command::Volume { command, list } => {
            volume(project, command.unwrap_or(VolumeCommand::List(list)))
        }
        Command::Gateway { command, list } => {
            gateway(project, command.unwrap_or(GatewayCommand::List(list)))
        }
        Command::Delete(args) => delete::by_file(project, &args),
        Command::Completion { shell } => completion::run(shell),
        other => Err(CliError::Usage(format!(
            "{other:?} is not a resource command"
        ))),
    }
}

fn fleet(project: &ProjectOptions, command: FleetCommand) -> Result<i32, CliError> {
    match command {
        FleetCommand::List(args) => resources::list(project, ResourceKind::Fleet, &args),
        FleetCommand::Get(args) => resources::get(project, ResourceKind::Fleet, &args),
        FleetCommand::Delete { args, instances }
        | FleetCommand::DeleteInstance { args, instances } => {
            delete::fleet(project, &args, &instances)
        }
    }
}

fn volume(project: &ProjectOptions, command: VolumeCommand) -> Result<i32, CliError> {
    match command {
        VolumeCommand::List(args) => resources::list(project, ResourceKind::Volume, &args),
        VolumeCommand::Get(args) => resources::get(project, ResourceKind::Volume, &args),
        VolumeCommand::Delete(args) => delete::named(project, ResourceKind::Volume, &args),
    }
}

fn gateway(project: &ProjectOptions, command: GatewayCommand) -> Result<i32, CliError> {
    match command {
        GatewayCommand::List(args) => resources::list(project, ResourceKind::Gateway, &args),
        GatewayCommand::Get(args) => resources::get(project, ResourceKind::Gateway, &args),
        GatewayCommand::Delete(args) => delete::named(project, ResourceKind::Gateway, &args),
        GatewayCommand::Update {
            name,
            set_default,
            domain,
        } => gateway_update::run(project, &name, set_default, domain.as_deref()),
    }
}
