//! The conformance suite every [`StateStore`] must pass. Call
//! [`conformance`] with a fresh store; it panics with the failed property.

use std::time::Duration;

use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::money::Usd;

use crate::model::{Expected, IntentOutcome, LockRequest, LogLine, NewIntent, RecordedResource};
use crate::store::{StateError, StateStore, acquire_lock};

fn addr(text: &str) -> ResourceAddr {
    text.parse().expect("test address")
}

fn resource(address: &str) -> RecordedResource {
    let mut r = RecordedResource::new(addr(address), serde_json::json!({"nodes": 1}), "fp1".into());
    r.provider = Some("fake".into());
    r.provider_id = Some("i-1".into());
    r.price_per_hour = Some(Usd::from_micros(1_006_000));
    r.offer = Some(serde_json::json!({"instance_type": "g5.xlarge"}));
    r.data = serde_json::json!({"ip": "10.0.0.1"});
    r
}

/// Runs every check against `store` (which must start empty).
pub fn conformance(store: &dyn StateStore) {
    lineage_is_stable(store);
    rows_round_trip(store);
    versions_guard_writes(store);
    list_is_ordered(store);
    intents_journal(store);
    apply_history(store);
    lock_excludes_and_names_holder(store);
    stale_lock_of_dead_process_is_broken(store);
    logs_append_idempotently(store);
    workflow_runs_and_cache(store);
}

fn lineage_is_stable(store: &dyn StateStore) {
    let a = store.lineage().expect("lineage");
    assert!(a.len() >= 16, "lineage too short: {a}");
    assert_eq!(store.lineage().expect("lineage"), a, "lineage changed");
}

fn rows_round_trip(store: &dyn StateStore) {
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

fn versions_guard_writes(store: &dyn StateStore) {
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

fn list_is_ordered(store: &dyn StateStore) {
    for a in ["run/b", "fleet/a/instance/1", "fleet/a", "run/a/job/0"] {
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
    assert_eq!(listed.len(), 4);
    for a in listed {
        store.remove(&addr(&a), Expected::Any).expect("cleanup");
    }
}

fn intents_journal(store: &dyn StateStore) {
    let intent = NewIntent {
        apply_id: "apply-1".into(),
        address: addr("fleet/a/instance/0"),
        operation: "create".into(),
        token: "tok-1".into(),
        provider: Some("fake".into()),
        payload: Some(serde_json::json!({"spec": {"nodes": 1}})),
    };
    let id = store.begin_intent(&intent).expect("begin");
    let open = store.open_intents().expect("open");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].intent, intent);
    store
        .finish_intent(id, IntentOutcome::Done, Some("i-9"))
        .expect("finish");
    assert!(store.open_intents().expect("open").is_empty());
    let all = store.intents_of("apply-1").expect("of apply");
    assert_eq!(all[0].outcome, Some(IntentOutcome::Done));
    assert_eq!(all[0].detail.as_deref(), Some("i-9"));
}

fn apply_history(store: &dyn StateStore) {
    let first = store
        .begin_apply("plan-1", "me@host", "apply")
        .expect("begin apply");
    store
        .finish_apply(&first, "succeeded", &serde_json::json!({"created": 2}))
        .expect("finish");
    let second = store
        .begin_apply("plan-2", "me@host", "destroy")
        .expect("begin apply");
    let history = store.applies(10).expect("history");
    assert_eq!(history[0].id, second, "newest first");
    assert_eq!(history[1].outcome.as_deref(), Some("succeeded"));
    assert_eq!(history[1].summary["created"], 2);
    store
        .finish_apply(&second, "failed", &serde_json::json!({}))
        .expect("finish");
}

fn lock_excludes_and_names_holder(store: &dyn StateStore) {
    let me = LockRequest::for_this_process("apply");
    let held = store.try_lock(&me).expect("lock free");
    match store.try_lock(&LockRequest::for_this_process("destroy")) {
        Err(StateError::Locked(info)) => {
            assert_eq!(info.id, held.id);
            assert_eq!(info.request.operation, "apply");
            let message = StateError::Locked(info).to_string();
            assert!(
                message.contains(&me.holder) && message.contains(&held.id),
                "{message}"
            );
        }
        other => panic!("second lock not refused: {other:?}"),
    }
    let waited = acquire_lock(store, &me, Duration::from_millis(300));
    assert!(
        matches!(waited, Err(StateError::Locked(_))),
        "timeout not honoured"
    );
    assert!(matches!(
        store.unlock("nope"),
        Err(StateError::NoSuchLock(_))
    ));
    store.unlock(&held.id).expect("unlock");
    assert!(store.current_lock().expect("current").is_none());
}

fn stale_lock_of_dead_process_is_broken(store: &dyn StateStore) {
    let mut dead = LockRequest::for_this_process("apply");
    dead.pid = u32::MAX - 7; // no such process
    store.try_lock(&dead).expect("lock");
    let mine = store
        .try_lock(&LockRequest::for_this_process("apply"))
        .expect("stale lock broken");
    store.unlock(&mine.id).expect("unlock");
}

fn workflow_runs_and_cache(store: &dyn StateStore) {
    let run = |name: &str, at: i64| crate::WorkflowRun {
        name: name.into(),
        workflow: "train".into(),
        status: "running".into(),
        variables: serde_json::json!({}),
        repo: serde_json::json!({}),
        created_at: at,
        finished_at: None,
    };
    store.put_workflow_run(&run("train-1", 1)).expect("put run");
    store.put_workflow_run(&run("train-2", 2)).expect("put run");
    let mut done = run("train-1", 1);
    done.status = "done".into();
    store.put_workflow_run(&done).expect("replace run");
    let names: Vec<String> = store
        .workflow_runs()
        .expect("runs")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["train-2", "train-1"]);
    assert_eq!(
        store
            .workflow_run("train-1")
            .expect("get")
            .expect("found")
            .status,
        "done"
    );
    assert!(store.workflow_run("nope").expect("get").is_none());
    let job = |run: &str, status: &str, finished: i64| crate::WorkflowJob {
        run: run.into(),
        workflow: "prepare".into(),
        input_hash: "h1".into(),
        status: status.into(),
        exit_code: Some(0),
        reason: None,
        runner_job: Some("j1".into()),
        instance: None,
        artifacts: serde_json::json!([]),
        artifacts_sha: None,
        reused_from: None,
        submitted_at: 0,
        finished_at: Some(finished),
    };
    assert!(store.done_workflow_job("h1").expect("cache").is_none());
    store
        .put_workflow_job(&job("train-1", "running", 5))
        .expect("put job");
    assert!(
        store.done_workflow_job("h1").expect("cache").is_none(),
        "only done jobs are reused"
    );
    store
        .put_workflow_job(&job("train-1", "done", 5))
        .expect("replace job");
    store
        .put_workflow_job(&job("train-2", "done", 9))
        .expect("put job");
    assert_eq!(store.workflow_jobs("train-1").expect("jobs").len(), 1);
    assert_eq!(
        store
            .done_workflow_job("h1")
            .expect("cache")
            .expect("hit")
            .run,
        "train-2",
        "the newest done job wins"
    );
}

fn logs_append_idempotently(store: &dyn StateStore) {
    let line = |offset: u64, text: &str| LogLine {
        job: "run/r/job/0".into(),
        submission: 0,
        offset,
        timestamp: 1,
        stream: "stdout".into(),
        text: text.into(),
    };
    store
        .append_logs(&[line(0, "a"), line(2, "b")])
        .expect("append");
    store
        .append_logs(&[line(2, "b"), line(4, "c")])
        .expect("append again");
    let all: Vec<String> = store
        .logs("run/r/job/0", None, None)
        .expect("logs")
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(all, ["a", "b", "c"]);
    let tail: Vec<String> = store
        .logs("run/r/job/0", Some(0), Some(2))
        .expect("logs")
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(tail, ["c"]);
}

#[cfg(test)]
mod tests {
    use super::conformance;

    #[test]
    fn mem_store_conforms() {
        conformance(&crate::mem::MemStore::new());
    }

    #[test]
    fn sqlite_store_conforms() {
        conformance(&crate::sqlite::SqliteStore::open_in_memory().expect("open"));
    }

    #[test]
    fn sqlite_file_store_conforms_and_reopens() {
        let dir =
            std::env::temp_dir().join(format!("dstack-state-{}", crate::sqlite::random_id(6)));
        let path = dir.join("state.db");
        let store = crate::sqlite::SqliteStore::open(&path).expect("open");
        conformance(&store);
        let lineage = crate::store::StateStore::lineage(&store).expect("lineage");
        drop(store);
        let again = crate::sqlite::SqliteStore::open(&path).expect("reopen");
        assert_eq!(
            crate::store::StateStore::lineage(&again).expect("lineage"),
            lineage
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
