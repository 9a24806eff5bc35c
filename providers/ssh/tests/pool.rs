//! The pool against real sshd hosts: one connection shared by every
//! caller, bounded failure when a host goes away, reconnects when it is back.

mod common;

use std::time::{Duration, Instant};

use common::{CMD, host_key, hosts, http, quick, serve_on_loopback, target};
use dstack_ssh::{ErrorKind, Pool, PoolOptions, SshError, Unreachable};
use dstack_testhosts::{HostSpec, TestUser};

fn options() -> PoolOptions {
    PoolOptions {
        connect: quick(),
        backoff_initial: Duration::from_millis(500),
        backoff_max: Duration::from_secs(2),
        ping_timeout: Duration::from_secs(2),
    }
}

/// Calls `exec` until it succeeds or `patience` runs out; returns the errors
/// seen on the way.
async fn until_ok(client: &dstack_ssh::Client, patience: Duration) -> Vec<SshError> {
    let deadline = Instant::now() + patience;
    let mut errors = Vec::new();
    loop {
        match client.exec("true", CMD).await {
            Ok(output) if output.success() => return errors,
            Ok(output) => panic!("{output:?}"),
            Err(error) => errors.push(error),
        }
        assert!(
            Instant::now() < deadline,
            "no reconnect within {patience:?}: {errors:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_jobs_on_a_host_share_one_ssh_connection() {
    let hosts = hosts(&[HostSpec::new("box").user(TestUser::Sudo)]);
    let pool = Pool::new(options());
    let jobs = (0..8).map(|i| {
        // Each job asks the pool itself, as separate callers would.
        let client = pool.client(target(&hosts, "box", "root"));
        tokio::spawn(async move { client.run(&format!("sleep 0.3; echo job-{i}"), CMD).await })
    });
    for (i, job) in jobs.collect::<Vec<_>>().into_iter().enumerate() {
        assert_eq!(job.await.unwrap().unwrap(), format!("job-{i}\n"));
    }
    assert_eq!(hosts["box"].ssh_connections().unwrap(), 1);
    let client = pool.client(target(&hosts, "box", "root"));
    assert_eq!(client.connects(), 1);
    let logins = hosts["box"]
        .sshd_log_text()
        .matches("Accepted publickey for root")
        .count();
    assert_eq!(logins, 1);
    // First use pinned what the host presented.
    assert_eq!(client.host_keys().await, [Some(host_key(&hosts, "box"))]);
    // Another user is another connection.
    let other = pool.client(target(&hosts, "box", TestUser::Sudo.name()));
    assert_eq!(other.connects(), 0);
    assert_eq!(other.run("id -un", CMD).await.unwrap(), "dstack-sudo\n");
    assert_eq!(hosts["box"].ssh_connections().unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_goes_away_fails_calls_in_bounded_time_and_is_reconnected_when_back() {
    let hosts = hosts(&[HostSpec::new("box")]);
    let pool = Pool::new(options());
    let client = pool.client(target(&hosts, "box", "root"));
    assert!(client.exec("true", CMD).await.unwrap().success());

    hosts["box"].link_down().unwrap();
    // The call in flight on the silent connection: keep-alives (1 s × 3) end it.
    let started = Instant::now();
    let lost = client.exec("echo hi", CMD).await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(
        lost.kind(),
        &ErrorKind::Unreachable(Unreachable::KeepaliveLost),
        "{lost}"
    );
    assert!(waited < Duration::from_secs(8), "took {waited:?}");
    // The reconnect times out (3 s) ...
    let started = Instant::now();
    let timed_out = client.exec("echo hi", CMD).await.unwrap_err();
    assert_eq!(
        timed_out.kind(),
        &ErrorKind::Unreachable(Unreachable::Timeout(Duration::from_secs(3)))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // ... and during the backoff calls fail at once with the same error.
    let started = Instant::now();
    let backing_off = client.exec("echo hi", CMD).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(backing_off.kind(), timed_out.kind());
    let liveness = client.check().await.unwrap_err();
    assert!(liveness.is_unreachable(), "{liveness}");

    hosts["box"].link_up().unwrap();
    let errors = until_ok(&client, Duration::from_secs(15)).await;
    assert!(errors.iter().all(SshError::is_unreachable), "{errors:?}");
    client.check().await.unwrap();
    assert!(client.connects() >= 3, "{}", client.connects());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebooted_host_is_reconnected_and_its_tunnel_follows() {
    let hosts = hosts(&[HostSpec::new("box")]);
    serve_on_loopback(&hosts, "box", 8090, "before");
    let pool = Pool::new(options());
    let client = pool.client(target(&hosts, "box", "root"));
    let tunnel = client.tunnel(8090).await.unwrap();
    let url = format!("{}/index.html", tunnel.http_url());
    assert_eq!(
        http().get(&url).send().await.unwrap().text().await.unwrap(),
        "before"
    );

    hosts["box"].reboot().unwrap();
    serve_on_loopback(&hosts, "box", 8090, "after");
    let errors = until_ok(&client, Duration::from_secs(15)).await;
    assert!(
        errors
            .iter()
            .all(|e| matches!(e.kind(), ErrorKind::Disconnected) || e.is_unreachable()),
        "{errors:?}"
    );
    assert_eq!(client.connects(), 2);
    assert_eq!(
        http().get(&url).send().await.unwrap().text().await.unwrap(),
        "after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_key_changed_after_first_use_is_refused_on_reconnect() {
    let hosts = hosts(&[HostSpec::new("box")]);
    let pool = Pool::new(options());
    let client = pool.client(target(&hosts, "box", "root"));
    client.exec("true", CMD).await.unwrap();
    hosts["box"].rotate_host_key().unwrap();
    client.close().await;
    let refused = client.exec("true", CMD).await.unwrap_err();
    assert!(
        matches!(refused.kind(), ErrorKind::HostKeyChanged { .. }),
        "{refused}"
    );
}
