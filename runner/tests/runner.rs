//! The `dstack-runner` binary, driven over HTTP as the CLI drives it: the
//! process executor here; the Docker executor (against a real engine, see
//! `.ci/docker-up`) in the `docker` module.

mod common;
mod docker;
mod hostile;
mod secrets;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Runner, collect_log, sh, submission, wait_finished};
use dstack_runner::api::{ExecutorKind, JobStatus, LogStream};

#[tokio::test]
async fn exit_codes_become_statuses_and_reasons() {
    let runner = Runner::start();
    let ok = runner
        .client
        .submit(&submission("ok", sh("echo fine")))
        .await
        .unwrap();
    let bad = runner
        .client
        .submit(&submission("bad", sh("echo oops >&2; exit 3")))
        .await
        .unwrap();
    let ok = wait_finished(&runner.client, &ok.id).await;
    let bad = wait_finished(&runner.client, &bad.id).await;
    assert_eq!(
        (ok.status, ok.exit_code, ok.reason.as_deref()),
        (JobStatus::Done, Some(0), Some("done_by_runner"))
    );
    assert_eq!(
        (bad.status, bad.exit_code, bad.reason.as_deref()),
        (
            JobStatus::Failed,
            Some(3),
            Some("container_exited_with_error")
        )
    );
    assert!(bad.sealed && ok.sealed, "finished jobs have sealed logs");
    let log = collect_log(&runner.client, &bad.id).await;
    let err: Vec<_> = common::lines(&log, LogStream::Stderr);
    assert_eq!(err, ["oops"]);
    assert_eq!(log.last().unwrap().record.m, "exited with code 3");
}

#[tokio::test]
async fn env_working_dir_archives_and_artifacts() {
    let runner = Runner::start();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("pkg")).unwrap();
    std::fs::write(src.path().join("pkg/input.txt"), "from the repo\n").unwrap();
    let files = dstack_runner::archive::list_files(src.path(), &[]).unwrap();
    let bytes = dstack_runner::archive::pack(src.path(), &files, 1 << 20).unwrap();
    let sha = runner.client.upload_archive(bytes.clone()).await.unwrap();
    // A second upload of the same bytes is a no-op.
    assert_eq!(runner.client.upload_archive(bytes).await.unwrap(), sha);
    let mut sub = submission(
        "env",
        sh(
            "echo \"$GREETING from $(pwd | sed 's#.*/##')\"; cat input.txt; mkdir -p out; echo result > out/r.txt",
        ),
    );
    sub.env = BTreeMap::from([("GREETING".into(), "hello world".into())]);
    // Only the basics of the runner's environment reach a host job.
    sub.command[2] = format!(
        "test -z \"$CLI_ONLY_SECRET\" && test -n \"$PATH\" && {}",
        sub.command[2]
    );
    sub.working_dir = Some("pkg".into());
    sub.archives = vec![dstack_runner::api::ArchiveMount {
        archive: sha,
        path: "/workflow".into(),
        label: "repo".into(),
    }];
    sub.artifacts = vec!["out".into()];
    let info = runner.client.submit(&sub).await.unwrap();
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(info.status, JobStatus::Done, "{info:?}");
    let log = collect_log(&runner.client, &info.id).await;
    let out = common::lines(&log, LogStream::Stdout);
    assert_eq!(out, ["hello world from pkg", "from the repo"]);
    let log_len = collect_log(&runner.client, &info.id).await.len();
    assert_eq!(info.artifacts.len(), 1);
    assert_eq!((info.artifacts[0].files, info.artifacts[0].bytes), (1, 7));
    let tar = runner.client.artifacts(&info.id).await.unwrap();
    let entries = dstack_runner::archive::entries(&tar).unwrap();
    assert_eq!(entries, [(std::path::PathBuf::from("out/r.txt"), 7)]);
    // The work tree goes once the job has ended; record, log and artifacts stay.
    let job_dir = runner.dir.path().join("jobs").join(&info.id);
    common::eventually(
        || !job_dir.join("work").exists(),
        "the finished job's work tree to be deleted",
    )
    .await;
    assert!(job_dir.join("log.jsonl").exists() && job_dir.join("artifacts").exists());
    assert_eq!(collect_log(&runner.client, &info.id).await.len(), log_len);
}

#[tokio::test]
async fn submitting_twice_is_one_job() {
    let runner = Runner::start();
    let sub = submission("twice", sh("echo once"));
    let a = runner.client.submit(&sub).await.unwrap();
    let b = runner.client.submit(&sub).await.unwrap();
    assert_eq!(a.id, b.id);
    wait_finished(&runner.client, &a.id).await;
    let lines = collect_log(&runner.client, &a.id).await;
    assert_eq!(lines.iter().filter(|e| e.record.m == "once").count(), 1);
    assert_eq!(runner.client.jobs().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_stopped_job_keeps_its_whole_log() {
    let runner = Runner::start();
    // Every line goes to the log and to a file (outside the job's work
    // tree, which goes with the job); after the stop, every line the job
    // managed to write must be in the sealed log, in order.
    let outside = tempfile::tempdir().unwrap();
    let seen_path = outside.path().join("seen.txt");
    let script = "i=0; while true; do i=$((i+1)); echo \"line $i\"; echo \"line $i\" >> \"$SEEN\"; sleep 0.01; done";
    let mut sub = submission("stopme", sh(script));
    sub.env = BTreeMap::from([("SEEN".into(), seen_path.display().to_string())]);
    let info = runner.client.submit(&sub).await.unwrap();
    common::wait_for_line(&runner.client, &info.id, "line 50").await;
    runner.client.stop(&info.id, false).await.unwrap();
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(
        (info.status, info.reason.as_deref()),
        (JobStatus::Terminated, Some("terminated_by_user"))
    );
    let log = collect_log(&runner.client, &info.id).await;
    let lines: Vec<&str> = common::lines(&log, LogStream::Stdout);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(
            *line,
            format!("line {}", i + 1),
            "log lines are consecutive"
        );
    }
    let seen = std::fs::read_to_string(&seen_path).unwrap();
    let seen: Vec<&str> = seen.lines().collect();
    assert!(seen.len() >= 50);
    assert!(
        lines.len() >= seen.len(),
        "log has {} lines, the job wrote {}",
        lines.len(),
        seen.len()
    );
    assert_eq!(&lines[..seen.len()], &seen[..]);
    assert!(log.last().unwrap().record.m.starts_with("stopped by user"));
}

#[tokio::test]
async fn abort_kills_at_once_and_grace_is_bounded() {
    let runner = Runner::start();
    // Ignores SIGTERM: only the kill after the grace period ends it.
    let mut sub = submission(
        "stubborn",
        sh("trap '' TERM; echo ready; while true; do sleep 0.1; done"),
    );
    sub.stop_grace_secs = Some(1);
    let info = runner.client.submit(&sub).await.unwrap();
    common::wait_for_line(&runner.client, &info.id, "ready").await;
    runner.client.stop(&info.id, false).await.unwrap();
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(info.status, JobStatus::Terminated);
    let log = collect_log(&runner.client, &info.id).await;
    assert!(
        log.iter().any(|e| e.record.m.contains("killing it")),
        "{log:?}"
    );

    let info = runner
        .client
        .submit(&submission("abort", sh("echo ready; sleep 600")))
        .await
        .unwrap();
    common::wait_for_line(&runner.client, &info.id, "ready").await;
    runner.client.stop(&info.id, true).await.unwrap();
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(
        (info.status, info.reason.as_deref()),
        (JobStatus::Aborted, Some("aborted_by_user"))
    );
}

#[tokio::test]
async fn max_duration_terminates() {
    let runner = Runner::start();
    let mut sub = submission("slow", sh("echo start; sleep 600"));
    sub.max_duration_secs = Some(1);
    let info = runner.client.submit(&sub).await.unwrap();
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(
        (info.status, info.reason.as_deref()),
        (JobStatus::Terminated, Some("max_duration_exceeded"))
    );
}

#[tokio::test]
async fn children_of_the_job_go_with_it() {
    let runner = Runner::start();
    let info = runner
        .client
        .submit(&submission("kids", sh("sleep 600 & echo child $!; wait")))
        .await
        .unwrap();
    let line = common::wait_for_line(&runner.client, &info.id, "child ").await;
    let pid: i32 = line.trim_start_matches("child ").parse().unwrap();
    assert!(common::pid_alive(pid));
    runner.client.stop(&info.id, false).await.unwrap();
    wait_finished(&runner.client, &info.id).await;
    common::eventually(|| !common::pid_alive(pid), "the background child to die").await;
}

#[tokio::test]
async fn a_job_whose_runner_is_killed_is_failed_with_a_reason() {
    let mut runner = Runner::start();
    let info = runner
        .client
        .submit(&submission(
            "orphan",
            sh("echo before; sleep 600 & echo child $!; wait"),
        ))
        .await
        .unwrap();
    let line = common::wait_for_line(&runner.client, &info.id, "child ").await;
    let pid: i32 = line.trim_start_matches("child ").parse().unwrap();
    runner.kill9();
    assert!(
        runner
            .client
            .job(&info.id)
            .await
            .unwrap_err()
            .is_unreachable()
    );
    runner.restart();
    let after = runner.client.job(&info.id).await.unwrap();
    assert_eq!(after.status, JobStatus::Failed);
    assert_eq!(after.reason.as_deref(), Some("runner_restarted"));
    assert!(
        after
            .message
            .as_deref()
            .unwrap()
            .contains("the runner stopped while this job was running"),
        "{after:?}"
    );
    assert!(after.sealed);
    let log = collect_log(&runner.client, &info.id).await;
    assert!(
        log.iter().any(|e| e.record.m == "before"),
        "lines from before the kill survive"
    );
    assert!(log.last().unwrap().record.m.starts_with("runner restarted"));
    common::eventually(
        || !common::pid_alive(pid),
        "the job's leftover process to be killed",
    )
    .await;
}

#[tokio::test]
async fn bad_requests_are_refused_with_reasons() {
    let runner = Runner::start();
    let wrong = dstack_runner::RunnerClient::new(runner.client.url(), "not-the-token");
    let err = wrong.health().await.unwrap_err();
    assert!(
        err.to_string().contains("missing or wrong runner token"),
        "{err}"
    );
    let mut sub = submission("mount", sh("true"));
    sub.mounts = vec![dstack_runner::api::Mount {
        source: "/tmp".into(),
        target: "/data".into(),
        read_only: false,
    }];
    let err = runner.client.submit(&sub).await.unwrap_err();
    assert!(
        err.to_string().contains("needs the Docker executor"),
        "{err}"
    );
    let mut sub = submission("noarchive", sh("true"));
    sub.archives = vec![dstack_runner::api::ArchiveMount {
        archive: "0".repeat(64),
        path: ".".into(),
        label: "repo".into(),
    }];
    let err = runner.client.submit(&sub).await.unwrap_err();
    assert!(err.to_string().contains("was not uploaded"), "{err}");
    let mut sub = submission("docker-no-image", sh("true"));
    sub.executor = ExecutorKind::Docker;
    let err = runner.client.submit(&sub).await.unwrap_err();
    assert!(err.to_string().contains("needs an image"), "{err}");
    let err = runner
        .client
        .logs("jnope", 0, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    let health = runner.client.health().await.unwrap();
    assert_eq!(health.api, dstack_runner::api::API_VERSION);
}

#[tokio::test]
async fn logs_follow_live_with_long_polls() {
    let runner = Runner::start();
    let info = runner
        .client
        .submit(&submission(
            "live",
            sh("for i in 1 2 3; do echo tick $i; sleep 0.3; done"),
        ))
        .await
        .unwrap();
    let mut offset = 0;
    let mut seen = Vec::new();
    let mut polls = 0;
    loop {
        let page = runner
            .client
            .logs(&info.id, offset, Duration::from_secs(5))
            .await
            .unwrap();
        polls += 1;
        seen.extend(
            page.entries
                .iter()
                .filter(|e| e.record.s == LogStream::Stdout)
                .map(|e| e.record.m.clone()),
        );
        offset = page.next;
        if page.sealed {
            break;
        }
        assert!(polls < 100, "the log never sealed");
    }
    assert_eq!(seen, ["tick 1", "tick 2", "tick 3"]);
    assert!(polls >= 2, "lines arrived while the job ran");
}

#[tokio::test]
async fn sigterm_ends_every_job_with_a_sealed_log_before_exiting() {
    let mut runner = Runner::start();
    // One job stops on SIGTERM, one ignores it (its grace is long).
    let polite = runner
        .client
        .submit(&submission("polite", sh("echo up; sleep 600")))
        .await
        .unwrap();
    let mut stubborn = submission(
        "stubborn",
        sh("trap '' TERM; echo up; while true; do sleep 0.1; done"),
    );
    stubborn.stop_grace_secs = Some(600);
    let stubborn = runner.client.submit(&stubborn).await.unwrap();
    common::wait_for_line(&runner.client, &polite.id, "up").await;
    common::wait_for_line(&runner.client, &stubborn.id, "up").await;
    runner.terminate();
    runner.restart();
    let polite = runner.client.job(&polite.id).await.unwrap();
    let stubborn = runner.client.job(&stubborn.id).await.unwrap();
    assert_eq!(polite.status, JobStatus::Terminated, "{polite:?}");
    assert_eq!(
        stubborn.status,
        JobStatus::Aborted,
        "killed after the shutdown grace: {stubborn:?}"
    );
    assert!(polite.sealed && stubborn.sealed);
    assert_ne!(polite.reason.as_deref(), Some("runner_restarted"));
}

#[tokio::test]
async fn a_404_from_something_else_is_not_a_missing_job() {
    // A server that answers every request with a bare 404, as a proxy or
    // another service on the runner's address would.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().flatten().take(1) {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot here\n");
        }
    });
    let client = dstack_runner::client::RunnerClient::new(&url, "token");
    let err = client.job("j0123456789abcdef").await.unwrap_err();
    assert!(!err.is_not_found(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&url) && text.contains("is another server or a proxy answering there?"),
        "{text}"
    );
}
