//! A failed step says what kind of failure ended it, so a policy (retry on
//! no capacity) can act on the kind rather than on the message text.

use std::sync::Arc;

use dstack_engine::apply::{ApplyOutcome, StepErrorKind, StepOutcome};
use dstack_engine::testing::{TestProject, configs, shipped_offers};
use dstack_planner::plan::PlanOptions;
use dstack_provider::fake::{FailureRule, FakeProvider};

fn offers() -> Vec<dstack_schemas::offer::Offer> {
    shipped_offers("us-east-1")
}

/// Applies one fleet of 2 instances on a cloud whose instance creates all
/// fail with `kind`; the kinds of the failed steps.
fn failed_kinds(kind: &str) -> Vec<StepErrorKind> {
    let mut project = TestProject::new(offers(), std::time::Duration::ZERO);
    project.cloud = Arc::new(
        FakeProvider::new("aws", offers()).with_failures(vec![FailureRule {
            operation: "create_instance".into(),
            instance_type: None,
            region: None,
            address: None,
            kind: kind.into(),
            times: None,
        }]),
    );
    let configs = configs(&[(
        "fleet.dstack.yml".into(),
        "type: fleet\nname: pool\nnodes: 2\nresources:\n  gpu: A10G\n".into(),
    )]);
    let plan = project.plan(&configs, &PlanOptions::default());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(project.apply(&plan, &configs));
    assert_eq!(report.outcome, ApplyOutcome::Partial, "{:?}", report.steps);
    report
        .steps
        .iter()
        .filter_map(|s| match &s.outcome {
            StepOutcome::Failed { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect()
}

#[test]
fn every_offer_out_of_capacity_is_a_no_capacity_failure() {
    assert_eq!(
        failed_kinds("no-capacity"),
        [StepErrorKind::NoCapacity, StepErrorKind::NoCapacity]
    );
    assert_eq!(
        failed_kinds("quota-exceeded"),
        [StepErrorKind::NoCapacity, StepErrorKind::NoCapacity]
    );
}

#[test]
fn refused_credentials_are_a_provider_failure() {
    assert_eq!(
        failed_kinds("auth-failed"),
        [StepErrorKind::Provider, StepErrorKind::Provider]
    );
}
