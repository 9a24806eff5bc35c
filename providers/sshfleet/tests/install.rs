//! The runner installed on real sshd test hosts (own network and mount
//! namespaces): uploaded, started on the host's loopback, reached through
//! an SSH tunnel with its token, left alone when unchanged, upgraded in
//! place, restarted by its supervisor, brought back after a reboot, and
//! removed without a trace; a user without sudo gets the fix.

use std::path::PathBuf;
use std::time::Duration;

use dstack_ssh::{ConnectOptions, Endpoint, Session, Target};
use dstack_sshfleet::install::{
    Change, InstallErrorKind, InstallOptions, RunnerBinary, ServiceKind, install, uninstall,
};
use dstack_testhosts::{HostSet, HostSpec, TestUser};

/// `target/<profile>/dstack-runner`, next to this test's `deps/` directory.
fn runner_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("dstack-runner");
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p dstack-runner`; the workspace test run builds it)",
        path.display()
    );
    path
}

fn hosts(specs: &[HostSpec]) -> HostSet {
    specs
        .iter()
        .cloned()
        .fold(HostSet::builder(), |b, s| b.host(s))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn connect(hosts: &HostSet, name: &str, user: &str) -> Session {
    let host = &hosts[name];
    let endpoint = Endpoint::new(
        host.addr().to_string(),
        user,
        &hosts.user_key().private_path,
    )
    .port(host.port());
    let options = ConnectOptions {
        connect_timeout: Duration::from_secs(5),
        ..ConnectOptions::default()
    };
    Session::connect(&Target::new(endpoint), &options)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn options() -> InstallOptions {
    InstallOptions {
        command_timeout: Duration::from_secs(30),
        start_patience: Duration::from_secs(15),
        ..InstallOptions::default()
    }
}

/// The runner's `/api/health` through a tunnel: `(status, pid)`.
async fn health(session: &Session, port: u16, token: &str) -> (u16, u64) {
    try_health(session, port, token)
        .await
        .expect("health answers")
}

async fn try_health(session: &Session, port: u16, token: &str) -> Result<(u16, u64), String> {
    let tunnel = session.tunnel(port).await.map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/api/health", tunnel.http_url()))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| e.to_string())?;
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    Ok((status, body["pid"].as_u64().unwrap_or(0)))
}

async fn wait_health(session: &Session, port: u16, token: &str, not_pid: u64) -> u64 {
    for _ in 0..50 {
        let answer =
            tokio::time::timeout(Duration::from_secs(5), try_health(session, port, token)).await;
        if let Ok(Ok((200, pid))) = answer
            && pid != not_pid
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the runner did not come back (other than pid {not_pid})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_is_installed_kept_upgraded_and_removed() {
    let set = hosts(&[HostSpec::new("a")]);
    let binary = RunnerBinary::new(&runner_binary(), &["serve"]).unwrap();
    let session = connect(&set, "a", "root").await;

    let first = install(&session, &binary, &options()).await.unwrap();
    assert_eq!(first.change, Change::Installed);
    assert_eq!(
        first.service,
        ServiceKind::Supervised,
        "test hosts run no systemd"
    );
    assert!(
        first.token.len() >= 32,
        "a token of its own: {:?}",
        first.token
    );
    let (status, pid) = health(&session, first.port, &first.token).await;
    assert_eq!(status, 200);
    let (wrong, _) = health(&session, first.port, "not-the-token").await;
    assert_eq!(wrong, 401, "the runner checks its token");
    let listening = set["a"].root("ss -Htln").unwrap().stdout;
    assert!(
        listening.contains("127.0.0.1:10999"),
        "loopback only:\n{listening}"
    );
    assert!(!listening.contains("0.0.0.0:10999") && !listening.contains("*:10999"));

    // Unchanged: same binary, service up.
    let again = install(&session, &binary, &options()).await.unwrap();
    assert_eq!(again.change, Change::Unchanged);
    assert_eq!(again.token, first.token);
    assert_eq!(health(&session, first.port, &first.token).await, (200, pid));

    // The runner outlives the SSH session that started it.
    session.disconnect().await;
    let session = connect(&set, "a", "root").await;
    assert_eq!(health(&session, first.port, &first.token).await, (200, pid));

    // Killed, it is restarted by its supervisor.
    set["a"].root(&format!("kill -9 {pid}")).unwrap();
    let pid = wait_health(&session, first.port, &first.token, pid).await;

    // A different binary (same program, other bytes) is an upgrade in place.
    let other = std::env::temp_dir().join(format!("dstack-runner-other-{}", std::process::id()));
    let mut bytes = std::fs::read(runner_binary()).unwrap();
    bytes.extend_from_slice(b"\0upgrade");
    std::fs::write(&other, &bytes).unwrap();
    let newer = RunnerBinary::new(&other, &["serve"]).unwrap();
    let upgraded = install(&session, &newer, &options()).await.unwrap();
    assert_eq!(upgraded.change, Change::Upgraded);
    assert_eq!(upgraded.token, first.token, "the token survives an upgrade");
    let new_pid = wait_health(&session, first.port, &first.token, pid).await;
    let version = set["a"]
        .root("cat /opt/dstack-runner/version")
        .unwrap()
        .stdout;
    assert_eq!(version.trim(), newer.version());
    std::fs::remove_file(&other).unwrap();

    // After a reboot nothing runs it; install starts it again.
    session.disconnect().await;
    set["a"].reboot().unwrap();
    let session = connect(&set, "a", "root").await;
    let back = install(&session, &newer, &options()).await.unwrap();
    assert_eq!(back.change, Change::Restarted);
    wait_health(&session, first.port, &first.token, new_pid).await;

    // Removed: files, processes.
    let removed = uninstall(&session, &options()).await.unwrap();
    assert_eq!(removed.items, vec!["/opt/dstack-runner".to_string()]);
    assert!(
        !set["a"]
            .root_output("test -e /opt/dstack-runner")
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let procs = set["a"].root("ps -eo args").unwrap().stdout;
    assert!(
        !procs.contains("dstack-runner"),
        "nothing left running:\n{procs}"
    );
    assert!(
        !procs.contains("supervise.sh"),
        "nothing left running:\n{procs}"
    );
    let nothing = uninstall(&session, &options()).await.unwrap();
    assert!(nothing.items.is_empty(), "{nothing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sudo_user_installs_as_root_and_a_user_without_sudo_is_told_the_fix() {
    let set = hosts(&[HostSpec::new("s")
        .user(TestUser::Sudo)
        .user(TestUser::NoSudo)]);
    let binary = RunnerBinary::new(&runner_binary(), &["serve"]).unwrap();

    let plain = connect(&set, "s", TestUser::NoSudo.name()).await;
    let refused = install(&plain, &binary, &options()).await.unwrap_err();
    assert_eq!(refused.kind, InstallErrorKind::NoSudo);
    assert!(refused.detail.contains("passwordless sudo"), "{refused}");
    assert!(
        refused.to_string().contains(&set["s"].addr().to_string()),
        "names the host: {refused}"
    );

    let sudo = connect(&set, "s", TestUser::Sudo.name()).await;
    let done = install(&sudo, &binary, &options()).await.unwrap();
    assert_eq!(done.change, Change::Installed);
    let owner = set["s"]
        .root("stat -c %U /opt/dstack-runner/bin/dstack-runner")
        .unwrap()
        .stdout;
    assert_eq!(owner.trim(), "root");
    assert_eq!(health(&sudo, done.port, &done.token).await.0, 200);
    let removed = uninstall(&sudo, &options()).await.unwrap();
    assert_eq!(removed.items, vec!["/opt/dstack-runner".to_string()]);
}
