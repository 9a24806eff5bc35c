//! Fleets that ask for the same resources share one offer ranking; fleets
//! that ask differently each get offers that fit them.

use dstack_engine::testing::{TestProject, configs};
use dstack_planner::plan::PlanOptions;

fn fleet(name: &str, memory: &str) -> (String, String) {
    (
        format!("{name}.dstack.yml"),
        format!("type: fleet\nname: {name}\nnodes: 1\nresources:\n  gpu: 0\n  memory: {memory}\n"),
    )
}

#[test]
fn each_fleet_gets_the_cheapest_offer_for_its_own_requirements() {
    let offers = dstack_provider::catalog::shipped()
        .offers("aws")
        .into_iter()
        .filter(|o| o.region == "us-east-1")
        .collect();
    let project = TestProject::new(offers, std::time::Duration::ZERO);
    let files = [
        fleet("small-a", "4GB.."),
        fleet("big", "16GB.."),
        fleet("small-b", "4GB.."),
    ];
    let plan = project.plan(&configs(&files), &PlanOptions::default());
    assert!(!plan.errored, "{:?}", plan.diagnostics);
    let memory = |fleet: &str| {
        let address = format!("fleet/{fleet}/instance/0");
        let change = plan
            .resource_changes
            .iter()
            .find(|c| c.address.to_string() == address)
            .unwrap_or_else(|| panic!("{address} planned"));
        let offer = change.offer.as_ref().expect("an offer");
        (offer.instance_type.clone(), offer.memory.gb())
    };
    let (small_a, small_b, big) = (memory("small-a"), memory("small-b"), memory("big"));
    assert_eq!(small_a, small_b);
    assert!(big.1 >= 16.0, "{big:?}");
    assert!(small_a.1 < 16.0, "{small_a:?}");
}
