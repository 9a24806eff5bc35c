//! The [`WorkflowStore`] suite: runs are replaced by name and listed
//! newest first; the newest `done` job with given inputs is the cache hit.

use crate::store::WorkflowStore;
use dstack_schemas::status::Status;

/// Runs every workflow check against `store` (which must start empty).
pub fn conformance(store: &dyn WorkflowStore) {
    workflow_runs_and_cache(store);
}

fn workflow_runs_and_cache(store: &dyn WorkflowStore) {
    let run = |name: &str, at: i64| crate::WorkflowRun {
        name: name.into(),
        workflow: "train".into(),
        status: Status::Running,
        variables: serde_json::json!({}),
        repo: serde_json::json!({}),
        created_at: at,
        finished_at: None,
    };
    store.put_workflow_run(&run("train-1", 1)).expect("put run");
    store.put_workflow_run(&run("train-2", 2)).expect("put run");
    let mut done = run("train-1", 1);
    done.status = Status::Done;
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
        Status::Done
    );
    assert!(store.workflow_run("nope").expect("get").is_none());
    let job = |run: &str, status: &str, finished: i64| crate::WorkflowJob {
        run: run.into(),
        workflow: "prepare".into(),
        input_hash: "h1".into(),
        status: status.parse().expect("status"),
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
