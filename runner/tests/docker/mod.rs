//! The Docker executor against the real engine. `.ci/docker-up` starts
//! dockerd and builds the image these tests use (`busybox:latest`, from
//! Debian's busybox-static); without an engine these tests fail, they are
//! not skipped.

use std::io::{Read, Write};
use std::time::Duration;

use crate::common::{Runner, collect_log, submission, wait_finished, wait_for_line};
use dstack_runner::api::{ExecutorKind, JobStatus, JobSubmission, LogStream, PortRequest};

fn image() -> String {
    std::env::var("DSTACK_TEST_IMAGE").unwrap_or_else(|_| "busybox:latest".into())
}

fn docker_job(name: &str, script: &str) -> JobSubmission {
    let mut sub = submission(name, vec!["/bin/sh".into(), "-c".into(), script.into()]);
    sub.executor = ExecutorKind::Docker;
    sub.image = Some(image());
    sub
}

async fn require_docker(runner: &Runner) {
    let health = runner.client.health().await.unwrap();
    assert!(
        health.docker.is_some(),
        "Docker is not reachable ({:?}); run `bash .ci/docker-up` first",
        health.docker_error
    );
}

fn container_exists(id: &str) -> bool {
    std::process::Command::new("docker")
        .args(["container", "inspect", id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn docker_exit_codes_env_and_cleanup() {
    let runner = Runner::start();
    require_docker(&runner).await;
    let mut sub = docker_job(
        "dock",
        "echo \"$GREETING in $(pwd)\"; echo to-stderr >&2; exit 7",
    );
    sub.env.insert("GREETING".into(), "hi".into());
    let info = runner.client.submit(&sub).await.unwrap();
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(
        (info.status, info.exit_code, info.reason.as_deref()),
        (
            JobStatus::Failed,
            Some(7),
            Some("container_exited_with_error")
        ),
        "{info:?}"
    );
    let log = collect_log(&runner.client, &info.id).await;
    let out: Vec<_> = crate::common::lines(&log, LogStream::Stdout);
    let err: Vec<_> = crate::common::lines(&log, LogStream::Stderr);
    assert_eq!(out, ["hi in /workflow"]);
    assert_eq!(err, ["to-stderr"]);
    let container = info.container.expect("container id recorded");
    crate::common::eventually(
        || !container_exists(&container),
        "the container to be removed",
    )
    .await;

    let ok = runner
        .client
        .submit(&docker_job("dock-ok", "exit 0"))
        .await
        .unwrap();
    let ok = wait_finished(&runner.client, &ok.id).await;
    assert_eq!((ok.status, ok.exit_code), (JobStatus::Done, Some(0)));
}

#[tokio::test]
async fn docker_ports_are_published_on_loopback() {
    let runner = Runner::start();
    require_docker(&runner).await;
    let mut sub = docker_job(
        "web",
        "mkdir -p /www && echo served-by-busybox > /www/index.html && echo listening && exec httpd -f -p 8080 -h /www",
    );
    sub.ports = vec![PortRequest {
        container: 8080,
        host: None,
    }];
    let info = runner.client.submit(&sub).await.unwrap();
    wait_for_line(&runner.client, &info.id, "listening").await;
    let running = runner.client.job(&info.id).await.unwrap();
    assert_eq!(running.status, JobStatus::Running);
    assert_eq!(running.ports.len(), 1, "{running:?}");
    let port = running.ports[0].host;
    let body = http_get(port).await;
    assert!(body.contains("served-by-busybox"), "{body}");
    runner.client.stop(&info.id, false).await.unwrap();
    let done = wait_finished(&runner.client, &info.id).await;
    assert_eq!(done.status, JobStatus::Terminated);
}

async fn http_get(port: u16) -> String {
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            if s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
                .is_ok()
            {
                let mut out = String::new();
                if s.read_to_string(&mut out).is_ok() && out.contains("200") {
                    return out;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing answered on 127.0.0.1:{port}");
}

#[tokio::test]
async fn docker_stopped_job_keeps_its_whole_log_and_artifacts() {
    let runner = Runner::start();
    require_docker(&runner).await;
    let mut sub = docker_job(
        "dstop",
        "i=0; while true; do i=$((i+1)); echo \"line $i\"; echo \"line $i\" >> seen.txt; sleep 0.01; done",
    );
    sub.artifacts = vec!["seen.txt".into()];
    let info = runner.client.submit(&sub).await.unwrap();
    wait_for_line(&runner.client, &info.id, "line 50").await;
    runner.client.stop(&info.id, false).await.unwrap();
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(
        (info.status, info.reason.as_deref()),
        (JobStatus::Terminated, Some("terminated_by_user")),
        "{info:?}"
    );
    let log = collect_log(&runner.client, &info.id).await;
    let lines: Vec<&str> = crate::common::lines(&log, LogStream::Stdout);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("line {}", i + 1));
    }
    let tar = runner.client.artifacts(&info.id).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    dstack_runner::archive::unpack(&tar, dir.path(), 1 << 30).unwrap();
    let seen = std::fs::read_to_string(dir.path().join("seen.txt")).unwrap();
    let seen: Vec<&str> = seen.lines().collect();
    assert!(seen.len() >= 50);
    assert!(lines.len() >= seen.len());
    assert_eq!(&lines[..seen.len()], &seen[..]);
}

#[tokio::test]
async fn docker_missing_image_fails_with_a_reason() {
    let runner = Runner::start();
    require_docker(&runner).await;
    let mut sub = docker_job("noimg", "true");
    sub.image = Some("dstack-test/does-not-exist:never".into());
    let info = runner.client.submit(&sub).await.unwrap();
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(
        (info.status, info.reason.as_deref()),
        (JobStatus::Failed, Some("creating_container_error"))
    );
    assert!(
        info.message
            .as_deref()
            .unwrap()
            .contains("dstack-test/does-not-exist:never"),
        "{info:?}"
    );
}

#[tokio::test]
async fn docker_archives_and_mounts() {
    let runner = Runner::start();
    require_docker(&runner).await;
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("data.txt"), "from the archive\n").unwrap();
    let files = dstack_runner::archive::list_files(src.path(), &[]).unwrap();
    let sha = runner
        .client
        .upload_archive(dstack_runner::archive::pack(src.path(), &files, 1 << 20).unwrap())
        .await
        .unwrap();
    let volume = tempfile::tempdir().unwrap();
    let mut sub = docker_job(
        "arch",
        "cat data.txt; cat /inputs/x/data.txt; echo written > /vol/out.txt",
    );
    sub.archives = vec![
        dstack_runner::api::ArchiveMount {
            archive: sha.clone(),
            path: ".".into(),
            label: "repo".into(),
        },
        dstack_runner::api::ArchiveMount {
            archive: sha,
            path: "/inputs/x".into(),
            label: "inputs".into(),
        },
    ];
    sub.mounts = vec![dstack_runner::api::Mount {
        source: volume.path().display().to_string(),
        target: "/vol".into(),
        read_only: false,
    }];
    let info = runner.client.submit(&sub).await.unwrap();
    let info = wait_finished(&runner.client, &info.id).await;
    assert_eq!(info.status, JobStatus::Done, "{info:?}");
    let log = collect_log(&runner.client, &info.id).await;
    let out = crate::common::lines(&log, LogStream::Stdout);
    assert_eq!(out, ["from the archive", "from the archive"]);
    assert_eq!(
        std::fs::read_to_string(volume.path().join("out.txt")).unwrap(),
        "written\n"
    );
}
