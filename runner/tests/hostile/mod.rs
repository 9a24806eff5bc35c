//! Input at the edge of its types, through the runner's HTTP API: durations
//! the clock cannot hold, negative and oversized numbers, limits the engine
//! cannot count, relative mount sources. The runner answers every one (a
//! 400 naming the field, or the job runs without that deadline), never
//! panics, and keeps serving.

use std::time::Duration;

use crate::common::{Runner, collect_log, sh, submission, wait_finished, wait_for_line};
use dstack_runner::api::{ExecutorKind, JobStatus, Mount};

/// A job whose every duration is `secs`: it runs with no deadline; a stop
/// sends SIGTERM (which it ignores, and the grace never ends); the abort
/// then kills it and its log is sealed.
async fn endless_durations_run_and_can_be_stopped(runner: &Runner, secs: u64) {
    let mut sub = submission(
        "huge",
        sh("trap '' TERM; echo ready; while true; do sleep 0.1; done"),
    );
    sub.max_duration_secs = Some(secs);
    sub.stop_grace_secs = Some(secs);
    let info = runner
        .client
        .submit(&sub)
        .await
        .expect("the runner answers");
    wait_for_line(&runner.client, &info.id, "ready").await;
    let health = runner.client.health().await.expect("still serving");
    assert_eq!(health.active_jobs, 1);
    let stopping = runner
        .client
        .stop(&info.id, false)
        .await
        .expect("stop answers");
    assert!(!stopping.status.is_finished(), "{stopping:?}");
    wait_for_line(&runner.client, &info.id, "stop requested: SIGTERM sent").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let info = runner.client.job(&info.id).await.expect("job answers");
    assert_eq!(info.status, JobStatus::Terminating, "SIGTERM is ignored");
    runner
        .client
        .stop(&info.id, true)
        .await
        .expect("abort answers");
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(
        (info.status, info.reason.as_deref(), info.sealed),
        (JobStatus::Aborted, Some("aborted_by_user"), true),
        "{info:?}"
    );
    let log = collect_log(&runner.client, &info.id).await;
    assert!(
        log.last()
            .expect("a log")
            .record
            .m
            .starts_with("aborted by user"),
        "{log:?}"
    );
}

#[tokio::test]
async fn durations_past_the_clock_are_no_deadline_and_never_panic() {
    let runner = Runner::start();
    endless_durations_run_and_can_be_stopped(&runner, u64::MAX).await;
    // Far, but within what the clock holds: the timer copes too.
    endless_durations_run_and_can_be_stopped(&runner, 1_000_000_000_000).await;
    let log = std::fs::read_to_string(runner.dir.path().join("runner.log")).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}

/// POSTs raw JSON to `/api/jobs`; the status and the body.
async fn post_raw(runner: &Runner, body: serde_json::Value) -> (u16, serde_json::Value) {
    let token = std::fs::read_to_string(runner.dir.path().join("token")).unwrap();
    let reply = reqwest::Client::new()
        .post(format!("{}/api/jobs", runner.client.url()))
        .bearer_auth(token.trim())
        .json(&body)
        .send()
        .await
        .expect("the runner answers");
    let status = reply.status().as_u16();
    (status, reply.json().await.expect("a JSON error body"))
}

#[tokio::test]
async fn numbers_outside_their_types_are_400s_naming_the_field() {
    let runner = Runner::start();
    let mut base = serde_json::to_value(submission("raw", sh("true"))).unwrap();
    for (field, value) in [
        ("max_duration_secs", serde_json::json!(-1)),
        ("max_duration_secs", serde_json::json!(1e19)),
        ("stop_grace_secs", serde_json::json!(-5)),
    ] {
        base[field] = value.clone();
        let (status, body) = post_raw(&runner, base.clone()).await;
        assert_eq!(status, 400, "{field}: {value}: {body}");
        assert_eq!(body["error"], "bad_request");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(field), "{field}: {message}");
        base[field] = serde_json::Value::Null;
    }
    let mut sub = submission("mem", sh("true"));
    sub.executor = ExecutorKind::Docker;
    sub.image = Some("busybox:latest".into());
    sub.limits.memory_mb = Some(u64::MAX);
    let err = runner.client.submit(&sub).await.unwrap_err().to_string();
    assert!(
        err.contains("(400)") && err.contains("limits.memory_mb"),
        "{err}"
    );
    sub.limits.memory_mb = None;
    sub.limits.cpus = Some(-1.0);
    let err = runner.client.submit(&sub).await.unwrap_err().to_string();
    assert!(
        err.contains("(400)") && err.contains("limits.cpus"),
        "{err}"
    );
    runner.client.health().await.expect("still serving");
}

#[tokio::test]
async fn a_relative_mount_source_is_a_400_naming_it() {
    let runner = Runner::start();
    let mut sub = submission("relmount", sh("true"));
    sub.executor = ExecutorKind::Docker;
    sub.image = Some("busybox:latest".into());
    sub.mounts = vec![Mount {
        source: "./.dstack/volumes/cache".into(),
        target: "/cache".into(),
        read_only: false,
    }];
    let err = runner.client.submit(&sub).await.unwrap_err().to_string();
    assert!(err.contains("(400)"), "{err}");
    assert!(
        err.ends_with(
            "mounts[0].source `./.dstack/volumes/cache` is a relative path; give the absolute path of the host directory"
        ),
        "{err}"
    );
    assert!(runner.client.jobs().await.unwrap().is_empty());
}
