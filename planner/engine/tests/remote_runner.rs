//! A runner on a real sshd test host (installed by `dstack-sshfleet`),
//! reached only through an SSH tunnel to its loopback port: eight calls at
//! once share one SSH connection, a lost link fails calls within the
//! pool's bounds, and the same client works again once the host is back.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dstack_engine::runtime::remote::RemoteRunners;
use dstack_ssh::{ConnectOptions, Endpoint, PoolOptions, Session, Target};
use dstack_sshfleet::install::{InstallOptions, RunnerBinary, install};
use dstack_testhosts::{HostSet, HostSpec};

fn runner_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let path = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("dstack-runner");
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p dstack-runner`; the workspace test run builds it)",
        path.display()
    );
    path
}

fn quick() -> PoolOptions {
    PoolOptions {
        connect: ConnectOptions {
            connect_timeout: Duration::from_secs(3),
            keepalive_interval: Duration::from_secs(1),
            keepalive_max: 3,
            max_sessions: 16,
        },
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        ping_timeout: Duration::from_secs(2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_runner_calls_share_one_ssh_connection_and_survive_a_lost_link() {
    let hosts = HostSet::builder()
        .host(HostSpec::new("r"))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let host = &hosts["r"];
    let target = Target::new(
        Endpoint::new(
            host.addr().to_string(),
            "root",
            &hosts.user_key().private_path,
        )
        .port(host.port()),
    );
    let installer = Session::connect(&target, &quick().connect).await.unwrap();
    let binary = RunnerBinary::new(&runner_binary(), &["serve"]).unwrap();
    let runner = install(&installer, &binary, &InstallOptions::default())
        .await
        .unwrap();
    installer.disconnect().await;

    let remote = RemoteRunners::new(quick());
    let calls = (0..8).map(|_| async {
        let client = remote
            .client(&target, runner.port, &runner.token)
            .await
            .unwrap();
        client.health().await.unwrap()
    });
    let answers = futures_util::future::join_all(calls).await;
    assert!(
        answers.iter().all(|h| h.pid == answers[0].pid),
        "one runner answered"
    );
    assert_eq!(
        remote.connects(&target),
        1,
        "one SSH connection for eight calls"
    );
    assert_eq!(host.ssh_connections().unwrap(), 1);

    host.link_down().unwrap();
    let started = Instant::now();
    let client = remote
        .client(&target, runner.port, &runner.token)
        .await
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(30), client.health()).await;
    assert!(
        matches!(lost, Ok(Err(_))),
        "a call fails while the link is down: {lost:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    host.link_up().unwrap();
    let mut back = None;
    for _ in 0..40 {
        if let Ok(h) = client.health().await {
            back = Some(h);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        back.map(|h| h.pid),
        Some(answers[0].pid),
        "the same runner, reached again"
    );
}
