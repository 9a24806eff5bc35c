//! The harness's network: direct hosts, a host reachable only through
//! another, and link down / up, checked with the real `ssh` client.

mod common;

use std::net::{SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};

use common::{build, ssh};
use dstack_testhosts::HostSpec;

#[test]
fn a_host_behind_another_is_reachable_only_through_it() {
    let hosts = build(&[
        HostSpec::new("bastion"),
        HostSpec::new("inner").behind("bastion"),
    ]);
    let inner = &hosts["inner"];
    assert_eq!(inner.jump_host(), Some("bastion"));

    let direct = TcpStream::connect_timeout(
        &SocketAddrV4::new(inner.addr(), 22).into(),
        Duration::from_secs(2),
    );
    let problem = direct.expect_err("the inner host must not be reachable from the machine");
    assert_eq!(
        problem.kind(),
        std::io::ErrorKind::HostUnreachable,
        "{problem}"
    );

    let through = ssh(&hosts, "inner", "root", "hostname");
    assert!(through.success(), "{through:?}");
    assert_eq!(through.stdout.trim(), "inner");
    // The inner host sees the bastion's end of its link as the peer.
    let peer = ssh(&hosts, "inner", "root", "echo $SSH_CLIENT");
    assert!(
        peer.stdout.starts_with(&format!("{} ", inner.peer_addr())),
        "{peer:?}"
    );
}

#[test]
fn link_down_makes_a_connect_time_out_and_link_up_restores_it() {
    let hosts = build(&[HostSpec::new("flaky")]);
    let host = &hosts["flaky"];
    host.link_down().unwrap();
    let started = Instant::now();
    let cut = ssh(&hosts, "flaky", "root", "true");
    assert_eq!(cut.code, Some(255), "{cut:?}");
    assert!(
        cut.stderr.contains("timed out"),
        "a silent drop, not a refusal: {cut:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "gave up after {:?}",
        started.elapsed()
    );

    host.link_up().unwrap();
    let back = ssh(&hosts, "flaky", "root", "echo back");
    assert_eq!(back.stdout.trim(), "back", "{back:?}");
}

#[test]
fn a_killed_sshd_refuses_connections_until_it_is_started_again() {
    let hosts = build(&[HostSpec::new("box")]);
    let host = &hosts["box"];
    host.kill_sshd().unwrap();
    let refused = ssh(&hosts, "box", "root", "true");
    assert!(refused.stderr.contains("Connection refused"), "{refused:?}");
    host.start_sshd().unwrap();
    assert!(ssh(&hosts, "box", "root", "true").success());
}

#[test]
fn a_rotated_host_key_is_what_the_host_presents() {
    let hosts = build(&[HostSpec::new("box")]);
    let host = &hosts["box"];
    let old = host.host_key();
    let new = host.rotate_host_key().unwrap();
    assert_ne!(old.fingerprint, new.fingerprint);
    let scanned = std::process::Command::new("ssh-keyscan")
        .args(["-T", "5", "-t", "ed25519", &host.addr().to_string()])
        .output()
        .unwrap();
    let scanned = String::from_utf8_lossy(&scanned.stdout);
    assert!(scanned.contains(&new.public_openssh()), "{scanned}");
}

#[test]
fn ssh_connections_counts_established_sessions() {
    let hosts = build(&[HostSpec::new("box")]);
    let host = &hosts["box"];
    assert_eq!(host.ssh_connections().unwrap(), 0);
    let mut held = hosts
        .ssh_command("box", "root")
        .arg("sleep 30")
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.ssh_connections().unwrap() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(host.ssh_connections().unwrap(), 1);
    held.kill().unwrap();
    held.wait().unwrap();
}
