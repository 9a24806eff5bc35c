//! `dstack ps`: the runs (and workflow runs) as a table, JSON or verbose
//! listing, once or watched. It sits above `jobs`, `workflows` and
//! `run_get`, whose views it shows; none of them import it.

use std::io::IsTerminal;
use std::time::Duration;

use super::jobs::{PsOptions, open, render_ps, selected, synced_run_views};
use crate::context::ProjectOptions;
use crate::error::CliError;

/// `dstack ps`.
pub fn ps(options: &ProjectOptions, ps: PsOptions) -> Result<i32, CliError> {
    let (project, runtime, rt) = open(options)?;
    if ps.json && ps.watch {
        return Err(CliError::Usage(
            "--json and --watch cannot be used together".into(),
        ));
    }
    loop {
        let mut views = synced_run_views(&project, runtime.as_ref(), &rt)?;
        views.extend(super::workflows::run_views(project.state.as_ref())?);
        views.sort_by_key(|v| std::cmp::Reverse(v.submitted_at));
        let views = selected(views, &ps);
        if ps.json {
            super::run_get::ps_json(project.state.as_ref(), &views)?;
            return Ok(0);
        }
        if ps.watch && std::io::stdout().is_terminal() {
            out!("\x1b[2J\x1b[H")?;
        }
        if views.is_empty() {
            outln!("No runs. Start one with `dstack apply -f TASK.dstack.yml`.")?;
        } else if ps.verbose {
            out!(
                "{}",
                super::run_get::render_verbose(project.state.as_ref(), &views)
            )?;
        } else {
            out!("{}", render_ps(&views))?;
        }
        crate::output::flush()?;
        if !ps.watch {
            return Ok(0);
        }
        let interrupted = rt.block_on(async {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => false,
                _ = tokio::signal::ctrl_c() => true,
            }
        });
        if interrupted {
            return Ok(0);
        }
    }
}
