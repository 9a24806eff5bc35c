//! `dstack gateway update NAME --set-default [--domain D]`: dstack changes a
//! gateway on its server; in embedded mode the gateway's file declares
//! both, so the command says what to write and apply instead.

use dstack_schemas::addr::ResourceKind;

use super::resources::require;
use crate::context::{Project, ProjectOptions};
use crate::error::CliError;

/// `dstack gateway update NAME`: dstack changes a gateway's default and
/// domain on its server; here they are declared in the gateway's file.
pub fn run(
    project_options: &ProjectOptions,
    name: &str,
    set_default: bool,
    domain: Option<&str>,
) -> Result<i32, CliError> {
    let project = Project::open(project_options)?;
    let view = require(&project, ResourceKind::Gateway, name)?;
    let mut wanted = Vec::new();
    if set_default {
        wanted.push("`default: true`".to_string());
    }
    if let Some(d) = domain {
        wanted.push(format!("`domain: {d}`"));
    }
    if wanted.is_empty() {
        return Err(CliError::Usage(
            "nothing to update: pass --set-default or --domain DOMAIN".into(),
        ));
    }
    Err(CliError::Usage(format!(
        "`gateway update` changes a gateway on a dstack server, and this project has none \
         (embedded mode: its state is {}). Write {} in the configuration of {} and run \
         `dstack apply`, which updates it in place",
        project.state_file.path.display(),
        wanted.join(" and "),
        view.address
    )))
}
