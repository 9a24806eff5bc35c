//! Plans against SQLite state listed fingerprint-first (an unchanged row's
//! spec is never parsed) are exactly the plans against rows read in full,
//! and a change to one field of any kind is still planned.

use std::sync::Arc;

use dstack_engine::testing::{TestProject, configs};
use dstack_planner::plan::PlanOptions;
use dstack_state::sqlite::SqliteStore;

const FLEET: &str =
    "type: fleet\nname: pool\nnodes: 2\nresources:\n  gpu: 0\n  memory: 8GB..\nidle_duration: 1h\n";
const VOLUME: &str = "type: volume\nname: data\nbackend: aws\nregion: us-east-1\nsize: 10GB\n";
const TASK: &str = "type: task\nname: train\ncommands:\n  - echo hi\nresources:\n  gpu: 0\nfleets: [pool]\nenv:\n  - A=1\n";

fn files(fleet: &str, volume: &str, task: &str) -> Vec<(String, String)> {
    vec![
        ("f.dstack.yml".into(), fleet.into()),
        ("v.dstack.yml".into(), volume.into()),
        ("t.dstack.yml".into(), task.into()),
    ]
}

fn applied_project() -> TestProject {
    let offers = dstack_provider::catalog::shipped()
        .offers("aws")
        .into_iter()
        .filter(|o| o.region == "us-east-1")
        .collect();
    let mut project = TestProject::new(offers, std::time::Duration::ZERO);
    project.state = Arc::new(SqliteStore::open_in_memory().expect("state"));
    let configs = configs(&files(FLEET, VOLUME, TASK));
    let plan = project.plan(&configs, &PlanOptions::default());
    assert!(!plan.errored, "{:?}", plan.diagnostics);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let report = runtime.block_on(project.apply(&plan, &configs));
    assert_eq!(report.outcome.as_str(), "succeeded", "{:?}", report.steps);
    project
}

#[test]
fn an_unchanged_project_plans_as_with_full_rows() {
    let project = applied_project();
    let configs = configs(&files(FLEET, VOLUME, TASK));
    let options = PlanOptions::default();
    let lazy = project.plan(&configs, &options);
    let full = project.plan_full(&configs, &options);
    assert!(!lazy.has_changes, "{:?}", lazy.summary);
    assert_eq!(lazy.resource_changes, full.resource_changes);
    assert_eq!(lazy.plan_id, full.plan_id);
}

#[test]
fn one_changed_field_of_each_kind_is_planned() {
    let project = applied_project();
    let options = PlanOptions::default();
    let cases = [
        (
            "fleet/pool",
            files(&FLEET.replace("1h", "2h"), VOLUME, TASK),
        ),
        (
            "fleet/pool",
            files(&FLEET.replace("nodes: 2", "nodes: 3"), VOLUME, TASK),
        ),
        (
            "volume/data",
            files(FLEET, &VOLUME.replace("10GB", "20GB"), TASK),
        ),
        (
            "run/train",
            files(FLEET, VOLUME, &TASK.replace("echo hi", "echo bye")),
        ),
        (
            "run/train",
            files(FLEET, VOLUME, &TASK.replace("A=1", "A=2")),
        ),
    ];
    for (address, files) in cases {
        let configs = configs(&files);
        let lazy = project.plan(&configs, &options);
        let full = project.plan_full(&configs, &options);
        let changed: Vec<String> = lazy
            .effective_changes()
            .map(|c| c.address.to_string())
            .collect();
        assert!(
            changed.iter().any(|a| a == address),
            "{address} not planned to change: {changed:?}"
        );
        assert_eq!(lazy.resource_changes, full.resource_changes, "{address}");
        assert_eq!(lazy.plan_id, full.plan_id, "{address}");
    }
}

#[test]
fn a_no_op_change_shares_one_spec_and_writes_it_twice() {
    let project = applied_project();
    let plan = project.plan(
        &configs(&files(FLEET, VOLUME, TASK)),
        &PlanOptions::default(),
    );
    let no_ops: Vec<_> = plan
        .resource_changes
        .iter()
        .filter(|c| c.actions == [dstack_schemas::plan::ActionWord::NoOp])
        .collect();
    assert!(no_ops.len() >= 4, "{:?}", plan.summary);
    for change in no_ops {
        let (Some(before), Some(after)) = (&change.before, &change.after) else {
            panic!("{}: no before or after", change.address);
        };
        assert!(Arc::ptr_eq(before, after), "{}: two copies", change.address);
    }
    // Shared in memory or not, the document reads and writes the same JSON.
    let json = serde_json::to_string(&plan).expect("json");
    let back: dstack_schemas::plan::PlanDoc = serde_json::from_str(&json).expect("read back");
    assert_eq!(serde_json::to_string(&back).expect("json"), json);
    assert_eq!(back, plan);
}
