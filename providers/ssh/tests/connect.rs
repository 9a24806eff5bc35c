//! Connecting over a real sshd: keys (ed25519, RSA, encrypted), host key
//! pinning, jump hosts, and the typed errors of hosts that cannot be reached.

mod common;

use std::time::{Duration, Instant};

use common::{CMD, endpoint, host_key, hosts, quick, target};
use dstack_ssh::{ErrorKind, IdentityProblem, Session, Target, Unreachable};
use dstack_testhosts::{HostSet, HostSpec, KeyKind, KeyPair, TestUser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_use_returns_the_key_to_pin_and_a_changed_key_is_refused() {
    let hosts = hosts(&[HostSpec::new("box")]);
    let first = Session::connect(&target(&hosts, "box", "root"), &quick())
        .await
        .unwrap();
    let observed = first.host_key();
    assert_eq!(observed, host_key(&hosts, "box"));
    assert_eq!(observed.fingerprint(), hosts["box"].host_key().fingerprint);
    first.disconnect().await;

    let mut pinned = target(&hosts, "box", "root");
    pinned.endpoint.host_key = Some(observed.clone());
    let again = Session::connect(&pinned, &quick()).await.unwrap();
    assert_eq!(again.run("echo pinned", CMD).await.unwrap(), "pinned\n");
    again.disconnect().await;

    let rotated = hosts["box"].rotate_host_key().unwrap();
    let logins = || {
        hosts["box"]
            .sshd_log_text()
            .matches("Accepted publickey for root")
            .count()
    };
    let logins_before = logins();
    let refused = Session::connect(&pinned, &quick()).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        &ErrorKind::HostKeyChanged {
            expected: observed.fingerprint(),
            observed: rotated.fingerprint.clone(),
        }
    );
    assert!(
        refused
            .to_string()
            .contains(&format!("root@{}:22", hosts["box"].addr())),
        "{refused}"
    );
    // The refusal happens before authentication: the key was never offered.
    assert_eq!(logins(), logins_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_keys_and_non_root_users_log_in() {
    let hosts = HostSet::builder()
        .host(HostSpec::new("box").user(TestUser::Sudo))
        .rsa_key()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let rsa = hosts.rsa_key().unwrap();
    let mut target = target(&hosts, "box", TestUser::Sudo.name());
    target.endpoint.identity_file = rsa.private_path.clone();
    let session = Session::connect(&target, &quick()).await.unwrap();
    assert_eq!(session.run("id -un", CMD).await.unwrap(), "dstack-sudo\n");
    assert!(
        hosts["box"]
            .sshd_log_text()
            .contains("Accepted publickey for dstack-sudo")
    );
    assert!(
        hosts["box"].sshd_log_text().contains("RSA SHA256"),
        "an RSA key was used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_host_does_not_accept_is_auth_refused() {
    let hosts = hosts(&[HostSpec::new("box").user(TestUser::Sudo)]);
    let stranger =
        KeyPair::generate(hosts.scratch_dir(), "stranger", KeyKind::Ed25519, None).unwrap();
    let mut target = target(&hosts, "box", "root");
    target.endpoint.identity_file = stranger.private_path.clone();
    let refused = Session::connect(&target, &quick()).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        &ErrorKind::AuthRefused {
            user: "root".to_owned()
        }
    );
    assert!(
        refused.to_string().contains("stranger"),
        "names the key: {refused}"
    );

    // A user whose login the host does not allow at all is refused the same way.
    let nobody = common::target(&hosts, "box", TestUser::NoSudo.name());
    let refused = Session::connect(&nobody, &quick()).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        &ErrorKind::AuthRefused {
            user: "dstack-nosudo".to_owned()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_key_is_refused_before_connecting() {
    let hosts = hosts(&[HostSpec::new("box")]);
    for kind in [KeyKind::Ed25519, KeyKind::Rsa] {
        let name = format!("locked-{kind:?}");
        let locked = KeyPair::generate(hosts.scratch_dir(), &name, kind, Some("secret")).unwrap();
        let mut target = target(&hosts, "box", "root");
        target.endpoint.identity_file = locked.private_path.clone();
        let refused = Session::connect(&target, &quick()).await.unwrap_err();
        assert_eq!(
            refused.kind(),
            &ErrorKind::Identity {
                path: locked.private_path.clone(),
                problem: IdentityProblem::Encrypted
            },
            "{kind:?}"
        );
        assert!(
            refused.to_string().contains("passphrase-protected"),
            "{refused}"
        );
    }
    assert_eq!(hosts["box"].ssh_connections().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_behind_a_jump_host_is_reached_through_it() {
    let hosts = hosts(&[
        HostSpec::new("bastion"),
        HostSpec::new("inner")
            .behind("bastion")
            .user(TestUser::Sudo),
    ]);
    // Directly: no route.
    let direct = Target::new(endpoint(&hosts, "inner", "root"));
    let refused = Session::connect(&direct, &quick()).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        &ErrorKind::Unreachable(Unreachable::NoRoute)
    );

    let through = target(&hosts, "inner", TestUser::Sudo.name());
    assert_eq!(through.jumps.len(), 1);
    let session = Session::connect(&through, &quick()).await.unwrap();
    assert_eq!(
        session.run("hostname; id -un", CMD).await.unwrap(),
        "inner\ndstack-sudo\n"
    );
    let keys = session.host_keys();
    assert_eq!(
        keys,
        [host_key(&hosts, "bastion"), host_key(&hosts, "inner")]
    );
    assert!(
        session.label().contains("(via root@"),
        "{}",
        session.label()
    );

    // Each hop is pinned on its own: a changed jump host key is refused too.
    let mut pinned = through.clone();
    pinned.jumps[0].host_key = Some(keys[0].clone());
    pinned.endpoint.host_key = Some(keys[1].clone());
    hosts["bastion"].rotate_host_key().unwrap();
    let refused = Session::connect(&pinned, &quick()).await.unwrap_err();
    assert!(
        matches!(refused.kind(), ErrorKind::HostKeyChanged { .. }),
        "{refused}"
    );
    assert_eq!(
        refused.host(),
        format!("root@{}:22", hosts["bastion"].addr())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jump_host_that_cannot_reach_the_next_hop_says_so() {
    let hosts = hosts(&[
        HostSpec::new("bastion"),
        HostSpec::new("inner").behind("bastion"),
    ]);
    hosts["inner"].kill_sshd().unwrap();
    let refused = Session::connect(&target(&hosts, "inner", "root"), &quick())
        .await
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        &ErrorKind::Unreachable(Unreachable::ForwardFailed)
    );
    assert!(
        refused.host().contains(&hosts["inner"].addr().to_string()),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_hosts_fail_with_the_kind_and_within_the_timeout() {
    let hosts = hosts(&[HostSpec::new("box")]);
    let target = target(&hosts, "box", "root");

    hosts["box"].kill_sshd().unwrap();
    let refused = Session::connect(&target, &quick()).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        &ErrorKind::Unreachable(Unreachable::Refused),
        "{refused:?}"
    );
    hosts["box"].start_sshd().unwrap();

    hosts["box"].link_down().unwrap();
    let started = Instant::now();
    let silent = Session::connect(&target, &quick()).await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(
        silent.kind(),
        &ErrorKind::Unreachable(Unreachable::Timeout(Duration::from_secs(3)))
    );
    assert!(silent.is_unreachable());
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    hosts["box"].link_up().unwrap();
    Session::connect(&target, &quick()).await.unwrap();

    let mut unknown = target.clone();
    unknown.endpoint.host = "no-such-host.invalid".to_owned();
    let unresolved = Session::connect(&unknown, &quick()).await.unwrap_err();
    assert_eq!(
        unresolved.kind(),
        &ErrorKind::Unreachable(Unreachable::Resolve)
    );
}
