//! Deleting by name (`dstack fleet|volume|gateway delete`) and by file
//! (`dstack delete -f FILE`). Each is a `dstack destroy --target` of the
//! addresses named: the same plan shown, the same confirmation, the same
//! engine and state lock. Nothing here deletes on its own.

use std::time::Duration;

use dstack_planner::desired::{LOCAL_FLEET, build_desired};
use dstack_schemas::addr::{ResourceAddr, ResourceKind};

use super::apply::{ApplyOptions, destroy};
use super::resources::require;
use crate::cli_resources::{DeleteArgs, DeleteFileArgs};
use crate::context::{Project, ProjectOptions, load_configs};
use crate::error::CliError;

fn options(yes: bool) -> ApplyOptions {
    ApplyOptions {
        yes,
        parallelism: 10,
        lock_timeout: Duration::ZERO,
        detach: true,
        force: false,
    }
}

/// `dstack fleet delete NAME [-i NUM]...`.
pub fn fleet(
    project_options: &ProjectOptions,
    args: &DeleteArgs,
    instances: &[u32],
) -> Result<i32, CliError> {
    if args.name == LOCAL_FLEET {
        return Err(CliError::Usage(
            "the `local` fleet is this machine and cannot be deleted; \
             turn it off with `local: {enabled: false}` in .dstack/backends.yml"
                .into(),
        ));
    }
    let project = Project::open(project_options)?;
    let fleet = require(&project, ResourceKind::Fleet, &args.name)?;
    let targets = if instances.is_empty() {
        vec![ResourceAddr::Fleet(args.name.clone())]
    } else {
        let known: Vec<u32> = fleet.instances.iter().map(|i| i.num).collect();
        instances
            .iter()
            .map(|n| {
                if known.contains(n) {
                    Ok(ResourceAddr::Instance(args.name.clone(), *n))
                } else {
                    Err(CliError::Usage(format!(
                        "fleet {} has no instance {n} (it has {}); `dstack fleet get {}` lists them",
                        args.name,
                        list_nums(&known),
                        args.name
                    )))
                }
            })
            .collect::<Result<_, _>>()?
    };
    drop(project);
    destroy(project_options, targets, options(args.yes))
}

fn list_nums(nums: &[u32]) -> String {
    if nums.is_empty() {
        return "none".into();
    }
    nums.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `dstack volume|gateway delete NAME`.
pub fn named(
    project_options: &ProjectOptions,
    kind: ResourceKind,
    args: &DeleteArgs,
) -> Result<i32, CliError> {
    let project = Project::open(project_options)?;
    let view = require(&project, kind, &args.name)?;
    let target: ResourceAddr = view
        .address
        .parse()
        .map_err(|_| CliError::Usage(format!("{} is not an address", view.address)))?;
    drop(project);
    destroy(project_options, vec![target], options(args.yes))
}

/// `dstack delete -f FILE...`: the top-level resources the files define.
pub fn by_file(project_options: &ProjectOptions, args: &DeleteFileArgs) -> Result<i32, CliError> {
    let project = Project::open(project_options)?;
    let (configs, _, _) = load_configs(&project, &args.files)?;
    let desired = build_desired(&configs);
    let defined: Vec<ResourceAddr> = desired
        .resources
        .keys()
        .filter(|a| a.parent().is_none())
        .cloned()
        .collect();
    if defined.is_empty() {
        return Err(CliError::Usage(format!(
            "{} define no resource to delete",
            shown(&args.files)
        )));
    }
    let mut targets = Vec::new();
    for addr in defined {
        if project.state.get(&addr)?.is_some() {
            targets.push(addr);
        } else {
            errln!("{addr}: not in state, nothing to delete");
        }
    }
    drop(project);
    if targets.is_empty() {
        outln!("Nothing to delete: no resource these files define is recorded.")?;
        return Ok(0);
    }
    destroy(project_options, targets, options(args.yes))
}

fn shown(files: &[std::path::PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
