//! Helpers shared by the transport's tests: test hosts and targets for them.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::time::Duration;

use dstack_ssh::{ConnectOptions, Endpoint, HostKey, Target};
use dstack_testhosts::{HostSet, HostSpec};

/// Builds a set of `specs`, failing the test with the harness's reason.
pub fn hosts(specs: &[HostSpec]) -> HostSet {
    specs
        .iter()
        .cloned()
        .fold(HostSet::builder(), |builder, spec| builder.host(spec))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `user@host` with the set's ed25519 key, no pinned key.
pub fn endpoint(hosts: &HostSet, name: &str, user: &str) -> Endpoint {
    let host = &hosts[name];
    Endpoint::new(
        host.addr().to_string(),
        user,
        &hosts.user_key().private_path,
    )
    .port(host.port())
}

/// The target for host `name` as `user`, through its jump hosts as root.
pub fn target(hosts: &HostSet, name: &str, user: &str) -> Target {
    let mut jumps = Vec::new();
    let mut next = hosts[name].jump_host();
    while let Some(jump) = next {
        jumps.insert(0, endpoint(hosts, jump, "root"));
        next = hosts[jump].jump_host();
    }
    jumps
        .into_iter()
        .fold(Target::new(endpoint(hosts, name, user)), Target::via)
}

/// The host key the harness generated for host `name`.
pub fn host_key(hosts: &HostSet, name: &str) -> HostKey {
    HostKey::parse(&hosts[name].host_key().public).unwrap()
}

/// Short bounds so failure tests finish quickly.
pub fn quick() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(3),
        keepalive_interval: Duration::from_secs(1),
        keepalive_max: 3,
        max_sessions: 8,
    }
}

/// A generous bound for commands in tests.
pub const CMD: Duration = Duration::from_secs(30);

/// Serves `body` at `/index.html` on host `name`'s loopback port `port`
/// (busybox httpd), returning once it listens.
pub fn serve_on_loopback(hosts: &HostSet, name: &str, port: u16, body: &str) {
    let host = &hosts[name];
    host.root(&format!(
        "mkdir -p /root/www && printf %s {body} > /root/www/index.html && \
         (busybox httpd -f -p 127.0.0.1:{port} -h /root/www </dev/null >/dev/null 2>&1 &)",
        body = shlex::try_quote(body).unwrap()
    ))
    .unwrap();
    host.wait_listening(port, Duration::from_secs(10)).unwrap();
}

/// An HTTP client that never uses a proxy from the environment.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}
