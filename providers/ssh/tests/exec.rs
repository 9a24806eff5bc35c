//! Running commands over a real sshd: output, exit codes, streaming,
//! timeouts and the sudo probe.

mod common;

use std::time::{Duration, Instant};

use common::{CMD, hosts, quick, target};
use dstack_ssh::{ErrorKind, ExecEvent, ExitStatus, Session};
use dstack_testhosts::{HostSpec, TestUser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_returns_output_and_exit_codes() {
    let hosts = hosts(&[HostSpec::new("box")]);
    let session = Session::connect(&target(&hosts, "box", "root"), &quick())
        .await
        .unwrap();

    let ok = session.exec("hostname; echo oops >&2", CMD).await.unwrap();
    assert_eq!(ok.stdout_text(), "box\n");
    assert_eq!(ok.stderr_text(), "oops\n");
    assert_eq!(ok.status, ExitStatus::Code(0));

    let failed = session.exec("exit 42", CMD).await.unwrap();
    assert_eq!(failed.status, ExitStatus::Code(42));
    assert!(!failed.success());

    let killed = session.exec("kill -TERM $$", CMD).await.unwrap();
    assert_eq!(killed.status, ExitStatus::Signal("TERM".to_owned()));

    let refused = session.run("echo bad >&2; exit 3", CMD).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::Remote);
    assert!(refused.to_string().contains("bad"), "{refused}");

    // Standard input is closed: a command reading it does not hang.
    let read = session.exec("cat; echo done", CMD).await.unwrap();
    assert_eq!(read.stdout_text(), "done\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_streams_output_as_it_comes() {
    let hosts = hosts(&[HostSpec::new("box")]);
    let session = Session::connect(&target(&hosts, "box", "root"), &quick())
        .await
        .unwrap();
    let mut process = session
        .spawn("echo first; sleep 1; echo second >&2; exit 7")
        .await
        .unwrap();
    process.close_stdin().await.unwrap();
    let started = Instant::now();
    let first = process.next_event().await.unwrap();
    assert_eq!(first, Some(ExecEvent::Stdout(b"first\n".to_vec())));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "first line arrived before the sleep ended"
    );
    let mut rest = Vec::new();
    while let Some(event) = process.next_event().await.unwrap() {
        rest.push(event);
    }
    assert_eq!(
        rest,
        [
            ExecEvent::Stderr(b"second\n".to_vec()),
            ExecEvent::Exit(ExitStatus::Code(7))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_runs_too_long_times_out_and_is_killed() {
    // OpenSSH delivers signal requests only to sessions of non-root users
    // ("session signalling requires privilege separation" for root).
    let hosts = hosts(&[HostSpec::new("box").user(TestUser::NoSudo)]);
    let user = TestUser::NoSudo.name();
    let session = Session::connect(&target(&hosts, "box", user), &quick())
        .await
        .unwrap();
    let slow = session
        .exec(
            "echo $$ > /tmp/slow.pid; exec sleep 600",
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert_eq!(slow.kind(), &ErrorKind::Timeout(Duration::from_secs(1)));
    // The connection is still fine, and the command is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive = session
            .exec(
                "kill -0 $(cat /tmp/slow.pid) 2>/dev/null && echo alive || echo gone",
                CMD,
            )
            .await
            .unwrap();
        if alive.stdout_text().trim() == "gone" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the timed-out command still runs; sshd log:\n{}",
            hosts["box"].sshd_log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwordless_sudo_is_detected() {
    let hosts = hosts(&[HostSpec::new("box")
        .user(TestUser::Sudo)
        .user(TestUser::NoSudo)]);
    let probe = |user: &str| {
        let target = target(&hosts, "box", user);
        async move {
            let session = Session::connect(&target, &quick()).await.unwrap();
            session.has_passwordless_sudo(CMD).await.unwrap()
        }
    };
    assert!(probe("root").await);
    assert!(probe(TestUser::Sudo.name()).await);
    assert!(!probe(TestUser::NoSudo.name()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_commands_at_once_share_one_connection() {
    let hosts = hosts(&[HostSpec::new("box")]);
    let session = Session::connect(&target(&hosts, "box", "root"), &quick())
        .await
        .unwrap();
    // More than sshd's MaxSessions (10): the session queues the excess.
    let runs = (0..24).map(|i| {
        let session = session.clone();
        async move { session.run(&format!("sleep 0.2; echo {i}"), CMD).await }
    });
    let outputs = futures_join_all(runs).await;
    for (i, output) in outputs.into_iter().enumerate() {
        let output = output.unwrap_or_else(|e| panic!("{e:?}\n{}", hosts["box"].sshd_log_text()));
        assert_eq!(output.trim(), i.to_string());
    }
    assert_eq!(hosts["box"].ssh_connections().unwrap(), 1);
}

/// Joins futures without an extra dependency.
async fn futures_join_all<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_command_does_not_keep_its_session_open_on_the_host() {
    let hosts = hosts(&[HostSpec::new("box")]);
    let session = Session::connect(&target(&hosts, "box", "root"), &quick())
        .await
        .unwrap();
    // More than sshd's MaxSessions (10) commands that wait for their input,
    // each abandoned by its caller.
    for _ in 0..12 {
        let started = session.spawn("cat").await.unwrap();
        drop(started);
    }
    let started = Instant::now();
    let output = session.exec("echo still-room", CMD).await.unwrap();
    assert_eq!(output.stdout_text(), "still-room\n");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
