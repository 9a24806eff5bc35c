//! `dstack state list|show|rm|unlock|history`.

use dstack_schemas::addr::ResourceAddr;
use dstack_state::status::status_of;
use dstack_state::{Expected, LockRequest, acquire_lock};

use crate::cli::StateCommand;
use crate::context::{Project, ProjectOptions};
use crate::error::CliError;

use super::jobs::age;

/// Runs a state subcommand.
pub fn run(options: &ProjectOptions, command: StateCommand) -> Result<i32, CliError> {
    let project = Project::open(options)?;
    match command {
        StateCommand::List { json } => {
            synced(&project)?;
            list(&project, json)
        }
        StateCommand::Show { address } => {
            synced(&project)?;
            show(&project, &address)
        }
        StateCommand::Rm { address } => remove(&project, &address),
        StateCommand::Unlock { id } => {
            project.state.unlock(&id)?;
            outln!("Lock {id} released.")?;
            Ok(0)
        }
        StateCommand::History { limit } => {
            for a in project.state.applies(limit)? {
                outln!(
                    "{}  {:<8} {:<12} {}  {}  {}",
                    a.id,
                    a.operation,
                    a.outcome.as_deref().unwrap_or("running"),
                    age(a.started_at),
                    a.holder,
                    a.summary
                )?;
            }
            Ok(0)
        }
    }
}

/// Brings job statuses from the runners first, as `ps` does, so both show
/// the same status.
fn synced(project: &Project) -> Result<(), CliError> {
    let runtime = tokio::runtime::Runtime::new()?;
    super::jobs::sync_quietly(project, project.runtime().as_ref(), &runtime);
    Ok(())
}

fn list(project: &Project, json: bool) -> Result<i32, CliError> {
    let rows = project.state.list()?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(anyhow::Error::from)?
        )?;
        return Ok(0);
    }
    if rows.is_empty() {
        outln!("No resources recorded.")?;
        return Ok(0);
    }
    outln!(
        "{:<40} {:<10} {:<10} {:<24} {:>10}  UPDATED",
        "ADDRESS",
        "STATUS",
        "BACKEND",
        "ID",
        "$/H"
    )?;
    for r in &rows {
        outln!(
            "{:<40} {:<10} {:<10} {:<24} {:>10}  {}",
            r.address.to_string(),
            status_of(r, &rows),
            r.provider.as_deref().unwrap_or("-"),
            r.provider_id.as_deref().unwrap_or("-"),
            r.price_per_hour.map_or("-".into(), |p| p.short()),
            age(r.updated_at)
        )?;
    }
    Ok(0)
}

fn show(project: &Project, address: &ResourceAddr) -> Result<i32, CliError> {
    match project.state.get(address)? {
        Some(row) => {
            outln!(
                "{}",
                serde_json::to_string_pretty(&row).map_err(anyhow::Error::from)?
            )?;
            Ok(0)
        }
        None => Err(CliError::Usage(format!(
            "{address} is not recorded (see `dstack state list`)"
        ))),
    }
}

fn remove(project: &Project, address: &ResourceAddr) -> Result<i32, CliError> {
    let info = acquire_lock(
        project.state.as_ref(),
        &LockRequest::for_this_process("state rm"),
        std::time::Duration::ZERO,
    )?;
    if let Err(e) = project.state_file.backup() {
        let _ = project.state.unlock(&info.id);
        return Err(e);
    }
    let result = match project.state.get(address)? {
        Some(row) => {
            project
                .state
                .forget(address, Expected::Version(row.version))?;
            outln!("Removed {address} from state. The resource itself was not deleted")?;
            if let (Some(p), Some(id)) = (row.provider, row.provider_id) {
                outln!(
                    "  ({p} {id} still exists; plans list it as an orphan and never adopt it back; `dstack destroy --orphans` deletes it)."
                )?;
            }
            Ok(0)
        }
        None => Err(CliError::Usage(format!("{address} is not recorded"))),
    };
    let _ = project.state.unlock(&info.id);
    result
}
