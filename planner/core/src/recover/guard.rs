//! The refusal recovery decided, applied to a plan: a create at an address
//! another state of this project already holds a live resource for is an
//! error of the plan (exit 9), so it is never applied.

use dstack_schemas::plan::{ActionWord, PlanDiagnostic, PlanDoc};

use super::Refusal;

/// Code of the diagnostic.
pub const OWNED_ELSEWHERE: &str = "dstack::plan::owned_elsewhere";

/// Marks every planned create at a refused address as an error.
pub fn refuse_duplicates(plan: &mut PlanDoc, refused: &[Refusal]) {
    let mut errors = Vec::new();
    for change in &plan.resource_changes {
        let Some(refusal) = refused.iter().find(|r| r.address == change.address) else {
            continue;
        };
        if !change.actions.contains(&ActionWord::Create) {
            continue;
        }
        errors.push(PlanDiagnostic {
            severity: "error".into(),
            code: OWNED_ELSEWHERE.into(),
            message: format!(
                "{} {} already exists as {}, tagged by another state of this project (lineage {}); creating it again would make a second one",
                refusal.provider,
                refusal.provider_id,
                refusal.address,
                refusal.lineage.as_deref().unwrap_or("none")
            ),
            address: Some(refusal.address.clone()),
            location: change.source.clone(),
            help: Some(
                "if that state is this project's lost or replaced state file, restore it (or its copy, `.dstack/state.db.backup`) and apply again; if it is gone for good, delete the resource with `dstack destroy --orphans`; if both states are meant to exist, give this project another name (DSTACK_PROJECT)".into(),
            ),
        });
    }
    if errors.is_empty() {
        return;
    }
    plan.diagnostics.extend(errors);
    plan.errored = true;
    plan.applyable = false;
    plan.complete = false;
}
