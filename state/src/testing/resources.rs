//! The [`ResourceStore`] suite: rows round-trip, versions guard writes,
//! listing is in address order (also by kind and by run), the lineage
//! is stable.

use dstack_schemas::addr::{ResourceAddr, ResourceKind};

use super::fixtures::{addr, resource};
use crate::model::Expected;
use crate::store::{ResourceStore, StateError};

/// Runs every resource check against `store` (which must start empty).
pub fn conformance(store: &dyn ResourceStore) {
    lineage_is_stable(store);
    rows_round_trip(store);
    versions_guard_writes(store);
    list_is_ordered(store);
    partial_listings_match_the_full_one(store);
    forgetting_removes_the_row_and_remembers_the_resource(store);
}

fn lineage_is_stable(store: &dyn ResourceStore) {
    let a = store.lineage().expect("lineage");
    assert!(a.len() >= 16, "lineage too short: {a}");
    assert_eq!(store.lineage().expect("lineage"), a, "lineage changed");
}

fn rows_round_trip(store: &dyn ResourceStore) {
    let r = resource("fleet/pool/instance/0");
    let stored = store.put(&r, Expected::Absent).expect("put");
    assert_eq!(stored.version, 1);
    let back = store.get(&r.address).expect("get").expect("row exists");
    assert_eq!(back.spec, r.spec);
    assert_eq!(back.price_per_hour, r.price_per_hour);
    assert_eq!(back.offer, r.offer);
    assert_eq!(back.data, r.data);
    assert_eq!(back.provider_id, r.provider_id);
    assert_eq!(back.version, 1);
    store
        .remove(&r.address, Expected::Version(1))
        .expect("remove");
    assert!(store.get(&r.address).expect("get").is_none());
}

fn versions_guard_writes(store: &dyn ResourceStore) {
    let r = resource("volume/data");
    store.put(&r, Expected::Absent).expect("first put");
    assert!(
        matches!(
            store.put(&r, Expected::Absent),
            Err(StateError::Conflict { .. })
        ),
        "double create allowed"
    );
    let v2 = store.put(&r, Expected::Version(1)).expect("update at v1");
    assert_eq!(v2.version, 2);
    assert!(
        matches!(
            store.put(&r, Expected::Version(1)),
            Err(StateError::Conflict { .. })
        ),
        "stale write allowed"
    );
    assert!(matches!(
        store.remove(&r.address, Expected::Version(1)),
        Err(StateError::Conflict { .. })
    ));
    store.remove(&r.address, Expected::Any).expect("remove any");
}

fn list_is_ordered(store: &dyn ResourceStore) {
    for a in [
        "run/b",
        "fleet/a/instance/10",
        "fleet/a/instance/2",
        "fleet/a",
        "run/a/job/0",
    ] {
        store.put(&resource(a), Expected::Absent).expect("put");
    }
    let listed: Vec<String> = store
        .list()
        .expect("list")
        .iter()
        .map(|r| r.address.to_string())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort_by_key(|a| a.parse::<ResourceAddr>().expect("addr"));
    assert_eq!(listed, sorted);
    assert_eq!(listed.len(), 5);
    for a in listed {
        store.remove(&addr(&a), Expected::Any).expect("cleanup");
    }
}

fn partial_listings_match_the_full_one(store: &dyn ResourceStore) {
    let addresses = [
        "run/a",
        "run/a/job/10",
        "run/a/job/2",
        "run/a/job/0",
        "run/ab",
        "run/ab/job/0",
        "run/a-b/job/1",
        "fleet/a",
        "fleet/a/instance/1",
        "volume/a",
    ];
    for a in addresses {
        store.put(&resource(a), Expected::Absent).expect("put");
    }
    kind_and_job_listings_match_the_full_one(store);
    run_statuses_match_the_full_listing_trimmed(store);
    for a in addresses {
        store.remove(&addr(a), Expected::Any).expect("cleanup");
    }
}

/// The addresses of `rows`, in order.
fn names(rows: Vec<crate::RecordedResource>) -> Vec<String> {
    rows.iter().map(|r| r.address.to_string()).collect()
}

/// `list_kinds` and `list_jobs_of` return what filtering `list` would.
fn kind_and_job_listings_match_the_full_one(store: &dyn ResourceStore) {
    let all = store.list().expect("list");
    let kinds = [ResourceKind::Run, ResourceKind::Job];
    let expected: Vec<String> = names(
        all.into_iter()
            .filter(|r| kinds.contains(&r.address.kind()))
            .collect(),
    );
    assert_eq!(names(store.list_kinds(&kinds).expect("kinds")), expected);
    assert_eq!(
        names(store.list_kinds(&[ResourceKind::Instance]).expect("kinds")),
        ["fleet/a/instance/1"]
    );
    assert!(store.list_kinds(&[]).expect("no kinds").is_empty());
    assert_eq!(
        names(store.list_jobs_of("a").expect("jobs")),
        ["run/a/job/0", "run/a/job/2", "run/a/job/10"]
    );
    assert_eq!(
        names(store.list_jobs_of("ab").expect("jobs")),
        ["run/ab/job/0"]
    );
    assert!(store.list_jobs_of("b").expect("jobs").is_empty());
}

/// `list_run_statuses` is the run and job listing with specs and job data
/// trimmed to what status lines read.
fn run_statuses_match_the_full_listing_trimmed(store: &dyn ResourceStore) {
    let kinds = [ResourceKind::Run, ResourceKind::Job];
    let mut run = resource("run/typed");
    run.spec = serde_json::json!({"type": "task", "commands": ["echo"]});
    store.put(&run, Expected::Absent).expect("put");
    let statuses = store.list_run_statuses().expect("statuses");
    let mut full = store.list_kinds(&kinds).expect("kinds");
    for row in &mut full {
        row.spec = crate::model::status_spec(row.address.kind(), &row.spec);
        if row.address.kind() == ResourceKind::Job {
            row.data = crate::model::status_data(&row.data);
        }
    }
    assert_eq!(statuses, full);
    let typed = statuses
        .iter()
        .find(|r| r.address == run.address)
        .expect("typed run");
    assert_eq!(typed.spec, serde_json::json!({"type": "task"}));
    assert_eq!(typed.data, run.data);
    let job = statuses
        .iter()
        .find(|r| r.address.to_string() == "run/a/job/0")
        .expect("job");
    assert_eq!(job.spec, serde_json::json!({}));
    let mut ran = resource("run/typed/job/0");
    ran.data = serde_json::json!({"exit_code": 0, "previous": {"x": 1},
        "runtime": {"message": "ok", "ports": [], "started_at": 5}});
    store.put(&ran, Expected::Absent).expect("put");
    let statuses = store.list_run_statuses().expect("statuses");
    let ran_row = statuses
        .iter()
        .find(|r| r.address == ran.address)
        .expect("job");
    assert_eq!(
        ran_row.data,
        serde_json::json!({"exit_code": 0, "runtime": {"message": "ok", "ports": []}})
    );
    store.remove(&ran.address, Expected::Any).expect("cleanup");
    store.remove(&run.address, Expected::Any).expect("cleanup");
}

fn forgetting_removes_the_row_and_remembers_the_resource(store: &dyn ResourceStore) {
    let r = resource("fleet/pool/instance/3");
    store.put(&r, Expected::Absent).expect("put");
    assert!(matches!(
        store.forget(&r.address, Expected::Version(7)),
        Err(StateError::Conflict { .. })
    ));
    let removed = store
        .forget(&r.address, Expected::Version(1))
        .expect("forget");
    assert_eq!(removed.provider_id, r.provider_id);
    assert!(store.get(&r.address).expect("get").is_none());
    let forgotten = store.forgotten().expect("forgotten");
    assert_eq!(forgotten.len(), 1);
    assert_eq!(forgotten[0].address, r.address);
    assert_eq!(
        (
            forgotten[0].provider.as_str(),
            forgotten[0].provider_id.as_str()
        ),
        ("fake", "i-1")
    );
    assert!(
        matches!(
            store.forget(&r.address, Expected::Any),
            Err(StateError::Conflict { .. })
        ),
        "no row to forget"
    );
    // A row without a provider id leaves nothing to remember.
    let mut local = resource("run/r");
    local.provider_id = None;
    store.put(&local, Expected::Absent).expect("put");
    store.forget(&local.address, Expected::Any).expect("forget");
    assert_eq!(store.forgotten().expect("forgotten").len(), 1);
}
