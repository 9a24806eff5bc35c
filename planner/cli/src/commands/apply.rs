//! `dstack apply` (plan, confirm, apply; or apply a saved plan exactly) and
//! `dstack destroy`.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dstack_engine::apply::{
    ApplyContext, ApplyEvent, ApplyOutcome, ApplyReport, Cancel, Op, StepCounts, StepOutcome,
    apply_plan,
};
use dstack_planner::render::text::{Style, render_plan};
use dstack_planner::saved::check_saved;
use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::plan::PlanDoc;
use dstack_state::{LockInfo, LockRequest, acquire_lock};

use super::plan::{
    PlanRequest, Planned, error_code, make_plan, persist_recovery, print_plan_diagnostics,
};
use crate::cli::PlanArgs;
use crate::context::{Project, ProjectOptions, load_configs};
use crate::error::CliError;
use crate::render::color_enabled;
use dstack_engine::runtime::RUNTIME_NAME;

/// How an apply is run.
pub struct ApplyOptions {
    /// Skip the confirmation.
    pub yes: bool,
    /// Steps at once.
    pub parallelism: usize,
    /// Wait for the lock this long.
    pub lock_timeout: Duration,
    /// Do not attach to started runs.
    pub detach: bool,
    /// Replace every run configured (`--force`).
    pub force: bool,
}

/// Holds the state lock; released on drop.
struct LockGuard<'a> {
    project: &'a Project,
    info: LockInfo,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.project.state.unlock(&self.info.id);
    }
}

fn lock<'a>(
    project: &'a Project,
    operation: &str,
    timeout: Duration,
) -> Result<LockGuard<'a>, CliError> {
    let request = LockRequest::for_this_process(operation);
    if timeout > Duration::ZERO
        && let Ok(Some(held)) = project.state.current_lock()
    {
        errln!(
            "Waiting up to {} for the state lock held by {} ({})...",
            humantime::format_duration(timeout),
            held.request.holder,
            held.request.operation
        );
    }
    let info = acquire_lock(project.state.as_ref(), &request, timeout)?;
    Ok(LockGuard { project, info })
}

use super::confirm::confirm;

fn style() -> Style {
    Style::new(color_enabled() && std::io::stdout().is_terminal())
}

/// `dstack apply [PLAN_FILE]`.
pub fn run(
    options: &ProjectOptions,
    plan_file: Option<&Path>,
    args: &PlanArgs,
    overrides: &crate::overrides::RunOverrides,
    apply: ApplyOptions,
) -> Result<i32, CliError> {
    if plan_file.is_some() && (!overrides.is_empty() || apply.force) {
        return Err(CliError::Usage(
            "a saved plan is applied exactly as planned: pass overrides and --force to `dstack plan -o FILE` instead".into(),
        ));
    }
    let saved = plan_file.map(read_saved_plan).transpose()?;
    // A plan that read no rows (made against no state) is applied to a
    // state created with the plan's lineage, so it is not stale by lineage
    // alone; one that read rows never lends its lineage to a new state.
    let lineage = saved
        .as_ref()
        .filter(|p| p.reads.iter().all(|r| r.version.is_none()))
        .map(|p| p.lineage.as_str());
    let project = Project::open_to_change(options, lineage)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let _lock = lock(&project, "apply", apply.lock_timeout)?;
    project.state_file.backup()?;
    let (plan, planned) = match (plan_file, saved) {
        (Some(path), Some(saved)) => (check_saved_plan(&project, path, saved, &runtime)?, None),
        _ => {
            let planned = runtime.block_on(make_plan(
                &project,
                PlanRequest {
                    args,
                    destroy: false,
                    targets: Vec::new(),
                    persist_recovery: true,
                    overrides: Some(overrides),
                    force: apply.force,
                },
            ))?;
            (planned.plan.clone(), Some(planned))
        }
    };
    // Passing a saved plan is the approval (its review happened when it was made).
    let apply = ApplyOptions {
        yes: apply.yes || plan_file.is_some(),
        ..apply
    };
    carry_out(&project, &runtime, plan, planned, &apply, "Apply")
}

/// Reads a saved plan.
fn read_saved_plan(path: &Path) -> Result<PlanDoc, CliError> {
    let text = dstack_engine::files::read_text(path).map_err(|e| {
        let why = match &e {
            dstack_engine::files::FileError::Io { source, .. } => format!("{e}: {source}"),
            _ => e.to_string(),
        };
        CliError::Usage(format!("cannot read the plan: {why}"))
    })?;
    let plan: PlanDoc = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{} is not a dstack plan: {e}", path.display())))?;
    if plan.format_version.split('.').next() != Some("1") {
        return Err(CliError::Usage(format!(
            "{} has plan format {}, this dstack reads 1.x",
            path.display(),
            plan.format_version
        )));
    }
    Ok(plan)
}

/// Checks a saved plan still matches the present.
fn check_saved_plan(
    project: &Project,
    path: &Path,
    plan: PlanDoc,
    runtime: &tokio::runtime::Runtime,
) -> Result<PlanDoc, CliError> {
    let providers = project.providers()?;
    let market = runtime.block_on(crate::context::gather_market(project, &providers))?;
    let observed = runtime.block_on(crate::context::sweep(&providers));
    let (configs, digest) = if plan.operation == dstack_schemas::plan::PlanOperation::Apply {
        let files: Vec<std::path::PathBuf> = match plan.config_scope.as_str() {
            "files" => plan
                .config_files
                .iter()
                .map(std::path::PathBuf::from)
                .collect(),
            _ => Vec::new(),
        };
        let (configs, _, digest) = load_configs(project, &files)?;
        (configs, Some(digest))
    } else {
        (Vec::new(), None)
    };
    let recorded = project.state.list()?;
    let lineage = project.state.lineage()?;
    let desired = dstack_planner::desired::build_desired(&configs);
    let recovery =
        dstack_planner::recover::plan_recovery(&dstack_planner::recover::RecoveryInput {
            open: &project.state.open_intents()?,
            recorded: &recorded,
            forgotten: &project.state.forgotten()?,
            observed: &observed,
            project: &project.name,
            lineage: &lineage,
            desired: &desired.resources,
        });
    persist_recovery(project.state.as_ref(), &recorded, &recovery)?;
    // A resource of another state may have appeared since planning.
    let mut plan = plan;
    dstack_planner::recover::refuse_duplicates(&mut plan, &recovery.refused);
    let refused: Vec<_> = plan
        .diagnostics
        .iter()
        .filter(|d| d.code == dstack_planner::recover::OWNED_ELSEWHERE)
        .collect();
    if !refused.is_empty() {
        for d in refused {
            let place = d
                .address
                .as_ref()
                .map_or(String::new(), |a| format!("{a}: "));
            errln!("error: {place}{}", d.message);
            if let Some(help) = &d.help {
                errln!("  help: {help}");
            }
        }
        return Err(CliError::PlanErrors(
            dstack_schemas::exit_codes::STATE_ERROR,
        ));
    }
    let recorded = project.state.list()?;
    check_saved(&plan, &lineage, &recorded, digest.as_deref(), &market)
        .map_err(|s| CliError::StalePlan(s.reasons))?;
    if plan.errored {
        return Err(CliError::Usage(format!(
            "{} has errors and cannot be applied",
            path.display()
        )));
    }
    Ok(plan)
}

/// Shows the plan, asks, applies, reports.
fn carry_out(
    project: &Project,
    runtime: &tokio::runtime::Runtime,
    plan: PlanDoc,
    planned: Option<Planned>,
    options: &ApplyOptions,
    verb: &str,
) -> Result<i32, CliError> {
    if let Some(p) = &planned {
        print_plan_diagnostics(p);
    }
    out!("{}", render_plan(&plan, style()))?;
    if plan.errored {
        return Err(CliError::PlanErrors(error_code(&plan)));
    }
    if !plan.has_changes {
        return Ok(0);
    }
    if !options.yes
        && !confirm(&format!(
            "Do you want to perform these actions ({} {})?",
            verb.to_lowercase(),
            plan.plan_id
        ))?
    {
        return Err(CliError::Declined);
    }
    let (configs, providers) = match planned {
        Some(p) => (p.configs, p.providers),
        None => (
            crate::overrides::reapply(
                load_configs(project, &[])
                    .map(|(c, _, _)| c)
                    .unwrap_or_default(),
                &plan.overrides,
            ),
            project.providers()?,
        ),
    };
    let report = execute(
        project,
        runtime,
        &plan,
        configs,
        providers,
        options.parallelism,
    )?;
    print_report(&report, verb)?;
    if report.outcome == ApplyOutcome::Interrupted {
        return Err(CliError::Interrupted);
    }
    if report.outcome != ApplyOutcome::Succeeded {
        return Err(CliError::ApplyPartial);
    }
    follow_submitted(project, runtime, &report, options)
}

/// After a successful apply, attaches to the one run it submitted (unless
/// detached or not local), or says how to follow several.
fn follow_submitted(
    project: &Project,
    runtime: &tokio::runtime::Runtime,
    report: &ApplyReport,
    options: &ApplyOptions,
) -> Result<i32, CliError> {
    let runs = submitted_runs(report);
    if options.detach || runs.is_empty() || project.runtime().name() != RUNTIME_NAME {
        return Ok(0);
    }
    match runs.as_slice() {
        [run] => {
            outln!()?;
            super::attach::attach(
                project,
                &project.runtime(),
                runtime,
                run,
                super::jobs::JobPick {
                    job: 0,
                    replica: None,
                },
                super::attach::Follow {
                    replay: true,
                    since: None,
                    diagnose: false,
                },
            )
        }
        _ => {
            outln!(
                "\nSubmitted runs {}; follow one with `dstack logs NAME -f`.",
                runs.join(", ")
            )?;
            Ok(0)
        }
    }
}

/// Runs with a job submitted by this apply, in order.
fn submitted_runs(report: &ApplyReport) -> Vec<String> {
    let mut runs: Vec<String> = Vec::new();
    for step in &report.steps {
        if let (ResourceAddr::Job(run, _), Op::Create, StepOutcome::Done { .. }) =
            (&step.address, step.op, &step.outcome)
            && !runs.contains(run)
        {
            runs.push(run.clone());
        }
    }
    runs
}

/// Runs the apply with progress and Ctrl+C handling.
fn execute(
    project: &Project,
    runtime: &tokio::runtime::Runtime,
    plan: &PlanDoc,
    configs: Vec<dstack_planner::desired::ProjectConfig>,
    providers: std::collections::BTreeMap<String, Arc<dyn dstack_provider::Provider>>,
    parallelism: usize,
) -> Result<ApplyReport, CliError> {
    let cancel = Cancel::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let ctx = ApplyContext {
        state: project.state.clone(),
        providers,
        runtime: project.runtime(),
        project: project.name.clone(),
        lineage: project.state.lineage()?,
        parallelism,
        configs,
        holder: LockRequest::for_this_process("apply").holder,
        cancel: cancel.clone(),
        events: Some(tx),
        instance_user_data: None,
    };
    runtime.block_on(async {
        let printer = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let _ = print_event(&event);
            }
        });
        let signal_cancel = cancel.clone();
        let watcher = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                errln!("\nInterrupt received: no new steps will start; waiting for running ones (Ctrl+C again to quit now; state stays consistent).");
                signal_cancel.cancel();
                if tokio::signal::ctrl_c().await.is_ok() {
                    errln!("Quitting now. Run `dstack plan` to see what exists.");
                    std::process::exit(dstack_schemas::exit_codes::INTERRUPTED);
                }
            }
        });
        let report = apply_plan(plan, &ctx).await;
        drop(ctx);
        watcher.abort();
        let _ = printer.await;
        report.map_err(CliError::State)
    })
}

/// One line of apply progress; a failure to print is remembered by
/// [`crate::output`] and the apply goes on.
fn print_event(event: &ApplyEvent) -> Result<(), crate::output::OutputError> {
    match event {
        ApplyEvent::Started { address, op } => outln!("{address}: {}...", progressive(op))?,
        ApplyEvent::Note { address, message } => outln!("{address}: {message}")?,
        ApplyEvent::Finished {
            address,
            op,
            secs,
            detail,
        } => {
            outln!(
                "{address}: {} complete after {secs:.1}s [{detail}]",
                noun(op)
            )?;
        }
        ApplyEvent::AlreadyGone {
            address,
            secs,
            detail,
            ..
        } => {
            outln!(
                "{address}: nothing to delete, it was already gone after {secs:.1}s [{detail}]"
            )?;
        }
        ApplyEvent::Failed { address, op, error } => {
            errln!("{address}: {} failed: {error}", noun(op))
        }
        ApplyEvent::Skipped { address, reason } => errln!("{address}: skipped ({reason})"),
    }
    Ok(())
}

fn progressive(op: &Op) -> &'static str {
    match op {
        Op::Create => "Creating",
        Op::Update => "Updating",
        Op::Delete => "Deleting",
    }
}

fn noun(op: &Op) -> &'static str {
    match op {
        Op::Create => "Creation",
        Op::Update => "Update",
        Op::Delete => "Deletion",
    }
}

fn print_report(report: &ApplyReport, verb: &str) -> Result<(), crate::output::OutputError> {
    let StepCounts {
        done,
        failed,
        skipped,
        not_started,
    } = report.counts();
    outln!()?;
    match report.outcome {
        ApplyOutcome::Succeeded => outln!(
            "{verb} complete! {done} step(s) done in {:.1}s ({}){}.",
            report.secs,
            report.apply_id,
            match already_gone(report) {
                0 => String::new(),
                n => format!("; {n} found nothing to delete (already gone)"),
            }
        )?,
        other => {
            let other = other.as_str();
            outln!(
                "{verb} {other}: {done} done, {failed} failed, {skipped} skipped, {not_started} not started ({}).",
                report.apply_id
            )?;
            for step in &report.steps {
                if let StepOutcome::Failed { error, .. } = &step.outcome {
                    outln!("  failed: {} {}: {error}", step.op, step.address)?;
                }
            }
            outln!(
                "State records exactly what exists; fix the cause and run `dstack apply` again."
            )?;
        }
    }
    Ok(())
}

/// Deletes that found nothing there.
fn already_gone(report: &ApplyReport) -> usize {
    report
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.outcome,
                StepOutcome::Done {
                    already_gone: true,
                    ..
                }
            )
        })
        .count()
}

/// `dstack destroy`.
pub fn destroy(
    options: &ProjectOptions,
    targets: Vec<ResourceAddr>,
    apply: ApplyOptions,
) -> Result<i32, CliError> {
    let project = Project::open_to_change(options, None)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let _lock = lock(&project, "destroy", apply.lock_timeout)?;
    project.state_file.backup()?;
    let args = PlanArgs {
        files: Vec::new(),
        replace: Vec::new(),
        no_recreate: false,
        refresh: false,
    };
    let planned = runtime.block_on(make_plan(
        &project,
        PlanRequest {
            args: &args,
            destroy: true,
            targets,
            persist_recovery: true,
            overrides: None,
            force: false,
        },
    ))?;
    carry_out(
        &project,
        &runtime,
        planned.plan.clone(),
        Some(planned),
        &apply,
        "Destroy",
    )
}

/// `dstack destroy --orphans`: deletes resources tagged as ours that
/// state does not know.
pub fn destroy_orphans(options: &ProjectOptions, yes: bool) -> Result<i32, CliError> {
    let project = Project::open_to_change(options, None)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let _lock = lock(&project, "destroy --orphans", Duration::ZERO)?;
    project.state_file.backup()?;
    let providers = project.providers()?;
    let observed = runtime.block_on(crate::context::sweep(&providers));
    let recorded = super::plan::with_canonical_ids(project.state.list()?, &providers);
    let known: std::collections::BTreeSet<(String, String)> = recorded
        .iter()
        .filter_map(|r| Some((r.provider.clone()?, r.provider_id.clone()?)))
        .collect();
    let orphans: Vec<(String, dstack_provider::ResourceInfo)> = observed
        .resources
        .into_iter()
        .filter(|(p, r)| !known.contains(&(p.clone(), r.provider_id.clone())))
        .collect();
    if orphans.is_empty() {
        outln!("No orphans: every resource tagged as dstack's is in state.")?;
        return Ok(0);
    }
    outln!("Resources tagged as dstack's that state does not know:")?;
    for (provider, r) in &orphans {
        let rate = r.price.map_or(String::new(), |p| format!(" {p}"));
        outln!(
            "  - {provider} {} {}{rate} ({})",
            r.kind,
            r.provider_id,
            r.address().map_or("no address".into(), |a| a.to_string())
        )?;
    }
    if !yes && !confirm(&format!("Delete these {} resource(s)?", orphans.len()))? {
        return Err(CliError::Declined);
    }
    let mut failed = 0;
    for (provider, r) in &orphans {
        let Some(p) = providers.get(provider) else {
            continue;
        };
        let result = runtime.block_on(async {
            match r.kind {
                dstack_schemas::addr::ResourceKind::Volume => p.delete_volume(&r.provider_id).await,
                dstack_schemas::addr::ResourceKind::Gateway => {
                    p.delete_gateway(&r.provider_id).await
                }
                _ => p.delete_instance(&r.provider_id).await,
            }
        });
        match result {
            Ok(()) => outln!("{provider} {}: deleted", r.provider_id)?,
            Err(e) => {
                failed += 1;
                errln!("{provider} {}: {e}", r.provider_id);
            }
        }
    }
    if failed > 0 {
        Err(CliError::ApplyPartial)
    } else {
        Ok(0)
    }
}
