//! `dstack plan`, and the planning every mutating command shares.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use dstack_planner::desired::ProjectConfig;
use dstack_planner::desired::{Desired, build_desired};
use dstack_planner::market::{Market, Observed};
use dstack_planner::plan::{PlanInput, PlanOptions, Scope, build_plan_with, needs_recorded_spec};
use dstack_planner::recover::{
    OWNED_ELSEWHERE, Recovery, RecoveryInput, plan_recovery, refuse_duplicates, with_adopted,
};
use dstack_planner::render::markdown::render_markdown;
use dstack_planner::render::render_json;
use dstack_planner::render::text::{Style, render_plan};
use dstack_provider::Provider;
use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::diag::{Diagnostic, Span};
use dstack_schemas::exit_codes;
use dstack_schemas::plan::{ConfigOverride, PlanDoc};
use dstack_state::{Expected, StateStore};

use crate::cli::{PlanArgs, PlanFormat};
use crate::context::{Project, ProjectOptions, gather_market, load_configs, now_rfc3339, sweep};
use crate::error::CliError;
use crate::overrides::RunOverrides;
use crate::render::{color_enabled, diagnostic_text};

/// A plan and what it was made from.
pub struct Planned {
    /// The plan.
    pub plan: PlanDoc,
    /// Configurations read.
    pub configs: Vec<ProjectConfig>,
    /// Offers.
    pub market: Market,
    /// Providers.
    pub providers: BTreeMap<String, Arc<dyn Provider>>,
    /// What the sweep found.
    pub observed: Observed,
    /// How interrupted applies were settled.
    pub recovery: Recovery,
}

/// What to plan.
pub struct PlanRequest<'a> {
    /// Options from the command line.
    pub args: &'a PlanArgs,
    /// Plan deletions of everything recorded.
    pub destroy: bool,
    /// `--target`s of destroy.
    pub targets: Vec<ResourceAddr>,
    /// Write adopted resources and settle intents (apply, under the lock).
    pub persist_recovery: bool,
    /// Per-run overrides from the command line.
    pub overrides: Option<&'a RunOverrides>,
    /// `apply --force`: replace every run configured.
    pub force: bool,
}

/// Reads configurations, asks providers, settles interrupted applies, plans.
pub async fn make_plan(project: &Project, request: PlanRequest<'_>) -> Result<Planned, CliError> {
    let (configs, scope, digest, overrides) = requested_configs(project, &request)?;
    let providers = project.providers()?;
    let market = gather_market(project, &providers).await?;
    let observed = sweep(&providers).await;
    record_ended_jobs(project).await;
    let desired = if request.destroy {
        Default::default()
    } else {
        build_desired(&configs)
    };
    let (recorded, lineage, recovery) = settled_recorded(project, &request, &desired, &observed)?;
    let recorded = with_canonical_ids(recorded, &providers);
    let options = plan_options(&request, &configs);
    let input = PlanInput {
        configs: &configs,
        config_digest: digest,
        scope,
        recorded: &recorded,
        lineage: &lineage,
        market: &market,
        observed: &observed,
        options: &options,
        created_at: now_rfc3339(),
    };
    let mut plan = build_plan_with(&input, desired);
    refuse_duplicates(&mut plan, &recovery.refused);
    plan.overrides = overrides;
    Ok(Planned {
        plan,
        configs,
        market,
        providers,
        observed,
        recovery,
    })
}

/// The configurations to plan (none for a destroy) with the command
/// line's overrides applied: the configs, their scope, their digest and
/// the overrides as the plan records them.
fn requested_configs(
    project: &Project,
    request: &PlanRequest<'_>,
) -> Result<(Vec<ProjectConfig>, Scope, String, Vec<ConfigOverride>), CliError> {
    let (configs, scope, digest) = if request.destroy {
        (
            Vec::new(),
            dstack_planner::plan::Scope::Project,
            String::new(),
        )
    } else {
        load_configs(project, &request.args.files)?
    };
    let (configs, overrides) = match request.overrides {
        Some(o) => {
            crate::overrides::apply(configs, o).map_err(|e| CliError::Usage(e.to_string()))?
        }
        None => (configs, Vec::new()),
    };
    Ok((configs, scope, digest, overrides))
}

/// Records as ended the jobs that ended since the last look (a warning for
/// each one that could not be asked).
async fn record_ended_jobs(project: &Project) {
    // Jobs that ended since the last look are recorded as ended.
    for warning in dstack_engine::runtime::sync::sync_unfinished(
        project.state.as_ref(),
        project.runtime().as_ref(),
    )
    .await
    {
        errln!("warning: {warning}");
    }
}

/// The recorded rows the plan compares against, the state's lineage, and
/// how interrupted applies are settled (written to state when the request
/// persists recovery, else only applied to the rows read).
fn settled_recorded(
    project: &Project,
    request: &PlanRequest<'_>,
    desired: &Desired,
    observed: &Observed,
) -> Result<(Vec<dstack_state::RecordedResource>, String, Recovery), CliError> {
    let spec_options = PlanOptions {
        destroy: request.destroy,
        refresh: request.args.refresh,
        ..PlanOptions::default()
    };
    // Unchanged rows come without their spec JSON parsed: the plan only
    // compares their fingerprints.
    let need_spec = needs_recorded_spec(desired, &spec_options);
    let recorded = project.state.list_specs_where(&need_spec)?;
    let lineage = project.state.lineage()?;
    let recovery = plan_recovery(&RecoveryInput {
        open: &project.state.open_intents()?,
        recorded: &recorded,
        forgotten: &project.state.forgotten()?,
        observed,
        project: &project.name,
        lineage: &lineage,
        desired: &desired.resources,
    });
    if request.persist_recovery {
        persist_recovery(project.state.as_ref(), &recorded, &recovery)?;
    }
    let recorded = if request.persist_recovery {
        project.state.list_specs_where(&need_spec)?
    } else {
        with_adopted(recorded, &recovery)
    };
    Ok((recorded, lineage, recovery))
}

/// The plan's options: the request's, with every configured run replaced
/// under `--force`.
fn plan_options(request: &PlanRequest<'_>, configs: &[ProjectConfig]) -> PlanOptions {
    let mut replace = request.args.replace.clone();
    if request.force {
        for address in crate::overrides::run_addresses(configs) {
            if !replace.contains(&address) {
                replace.push(address);
            }
        }
    }
    PlanOptions {
        destroy: request.destroy,
        replace,
        no_recreate: request.args.no_recreate,
        refresh: request.args.refresh,
        targets: request.targets.clone(),
    }
}

/// Recorded rows with each provider id in the form its backend gives today
/// (local volume ids recorded relative to some directory become the absolute
/// path), so they compare equal to what the sweep observes.
pub fn with_canonical_ids(
    mut rows: Vec<dstack_state::RecordedResource>,
    providers: &BTreeMap<String, Arc<dyn Provider>>,
) -> Vec<dstack_state::RecordedResource> {
    for row in &mut rows {
        let provider = row.provider.as_ref().and_then(|p| providers.get(p));
        if let (Some(provider), Some(id)) = (provider, &row.provider_id) {
            row.provider_id = Some(provider.canonical_id(row.address.kind(), id));
        }
    }
    rows
}

/// Writes adopted rows and closes the intents recovery decided on.
pub fn persist_recovery(
    state: &dyn StateStore,
    recorded: &[dstack_state::RecordedResource],
    recovery: &Recovery,
) -> Result<(), CliError> {
    for row in &recovery.adopted {
        let expected = recorded
            .iter()
            .find(|r| r.address == row.address)
            .map_or(Expected::Absent, |r| Expected::Version(r.version));
        state.put(row, expected)?;
    }
    for (id, outcome, detail) in &recovery.settle {
        state.finish_intent(*id, *outcome, Some(detail))?;
    }
    Ok(())
}

/// Prints the plan's diagnostics with YAML snippets where they have a place.
pub fn print_plan_diagnostics(planned: &Planned) {
    let color = color_enabled();
    for note in &planned.recovery.notes {
        errln!("note: {note}");
    }
    for (backend, why) in &planned.market.failures {
        errln!("warning: backend {backend} gave no offers: {why}");
    }
    for (backend, why) in &planned.observed.failures {
        errln!(
            "warning: could not list resources of {backend} (orphans and drift there are unknown): {why}"
        );
    }
    for d in &planned.plan.diagnostics {
        let file = d
            .location
            .as_ref()
            .and_then(|l| planned.configs.iter().find(|c| c.file.name() == l.file));
        let (Some(location), Some(config)) = (&d.location, file) else {
            let place = d
                .address
                .as_ref()
                .map_or(String::new(), |a| format!("{a}: "));
            errln!("{}: {place}{}", d.severity, d.message);
            if let Some(help) = &d.help {
                errln!("  help: {help}");
            }
            continue;
        };
        let start = config.file.offset_of(location.line, location.column);
        let line_end = config.file.text()[start..]
            .find('\n')
            .map_or(config.file.text().len(), |i| start + i);
        let code = d.code.clone();
        let mut diag = if d.severity == "error" {
            Diagnostic::error(code, &d.message)
        } else {
            Diagnostic::warning(code, d.message.as_str())
        };
        diag = diag.at(
            Span::new(start, (line_end - start).max(1)),
            d.address
                .as_ref()
                .map_or("here".to_string(), |a| a.to_string()),
        );
        if let Some(help) = &d.help {
            diag = diag.help(help);
        }
        errln!("{}", diagnostic_text(&config.file, &diag, color));
    }
}

/// The exit code for a plan with errors: a create another state's
/// resource refuses (a state problem), then configuration problems.
pub fn error_code(plan: &PlanDoc) -> i32 {
    if plan
        .diagnostics
        .iter()
        .any(|d| d.severity == "error" && d.code == OWNED_ELSEWHERE)
    {
        return exit_codes::STATE_ERROR;
    }
    let config_error = plan.diagnostics.iter().any(|d| {
        d.severity == "error"
            && !matches!(
                d.code.as_str(),
                "dstack::plan::no_offer" | "dstack::plan::no_capacity" | "dstack::plan::no_fleets"
            )
    });
    if config_error {
        return exit_codes::INVALID_CONFIG;
    }
    let no_offer = plan.diagnostics.iter().any(|d| {
        d.severity == "error"
            && matches!(
                d.code.as_str(),
                "dstack::plan::no_offer" | "dstack::plan::no_capacity" | "dstack::plan::no_fleets"
            )
    });
    if no_offer {
        exit_codes::NO_OFFER
    } else {
        exit_codes::INVALID_CONFIG
    }
}

/// `dstack plan`.
pub fn run(
    options: &ProjectOptions,
    args: &PlanArgs,
    format: PlanFormat,
    out: Option<&Path>,
    detailed_exitcode: bool,
    destroy: bool,
    overrides: &RunOverrides,
) -> Result<i32, CliError> {
    let project = Project::open(options)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let planned = runtime.block_on(make_plan(
        &project,
        PlanRequest {
            args,
            destroy,
            targets: Vec::new(),
            persist_recovery: false,
            overrides: (!destroy).then_some(overrides),
            force: false,
        },
    ))?;
    print_plan_diagnostics(&planned);
    let plan = &planned.plan;
    match format {
        PlanFormat::Text => out!(
            "{}",
            render_plan(
                plan,
                Style::new(color_enabled() && std::io::IsTerminal::is_terminal(&std::io::stdout()))
            )
        )?,
        PlanFormat::Json => outln!("{}", render_json(plan))?,
        PlanFormat::Markdown => out!("{}", render_markdown(plan))?,
    }
    if let Some(path) = out {
        std::fs::write(path, render_json(plan) + "\n")?;
        if format == PlanFormat::Text {
            outln!(
                "\nSaved the plan to {}. Apply exactly this plan with `dstack apply {}`.",
                path.display(),
                path.display()
            )?;
        }
    } else if format == PlanFormat::Text && plan.has_changes && !plan.errored {
        outln!(
            "\nNote: this plan was not saved (-o FILE); `dstack apply` will plan again before applying."
        )?;
    }
    if plan.errored {
        return Err(CliError::PlanErrors(error_code(plan)));
    }
    Ok(
        match (
            detailed_exitcode,
            plan.has_changes,
            plan.resource_drift.is_empty(),
        ) {
            (true, true, _) => exit_codes::CHANGES_PRESENT,
            (true, false, false) => exit_codes::DRIFT_PRESENT,
            _ => exit_codes::OK,
        },
    )
}
