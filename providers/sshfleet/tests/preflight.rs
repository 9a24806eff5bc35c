//! Probe and preflight against real sshd test hosts: GPU stand-ins report
//! their GPUs, a user without sudo gets the sudo failure, and a down link,
//! a stranger key and a changed host key each give their own failure from
//! one parallel call; a probed host splits into offers.

use std::time::{Duration, Instant};

use dstack_schemas::config::fleet::Blocks;
use dstack_ssh::{ConnectOptions, Endpoint, ErrorKind, HostKey, Session, Target, Unreachable};
use dstack_sshfleet::offers::offers;
use dstack_sshfleet::preflight::{FailureKind, Needs, check_hosts};
use dstack_sshfleet::probe::{Arch, Docker, GpuVendor, Privilege, probe};
use dstack_testhosts::{GpuProfile, HostSet, HostSpec, KeyKind, KeyPair, TestUser};

fn hosts(specs: &[HostSpec]) -> HostSet {
    specs
        .iter()
        .cloned()
        .fold(HostSet::builder(), |b, s| b.host(s))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn target(hosts: &HostSet, name: &str, user: &str) -> Target {
    let host = &hosts[name];
    let endpoint = Endpoint::new(
        host.addr().to_string(),
        user,
        &hosts.user_key().private_path,
    )
    .port(host.port());
    Target::new(endpoint)
}

fn quick() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(3),
        ..ConnectOptions::default()
    }
}

/// Needs that every test host meets (no Docker, any disk).
fn lenient() -> Needs {
    Needs {
        install_dir: "/opt/dstack-runner".into(),
        docker: false,
        min_disk_free_mib: 0,
        host_timeout: Duration::from_secs(10),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_hosts_report_their_gpus() {
    let hosts = hosts(&[
        HostSpec::new("a10g").gpus(&GpuProfile::A10G_X1),
        HostSpec::new("h100").gpus(&GpuProfile::H100_80GB_X8),
    ]);
    let session = Session::connect(&target(&hosts, "a10g", "root"), &quick())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let facts = probe(&session, "/opt/dstack-runner", Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(facts.privilege, Privilege::Root);
    assert_eq!(facts.docker, Docker::Absent);
    assert!(matches!(facts.arch, Arch::X86_64 | Arch::Aarch64));
    assert!(facts.cpus >= 1 && facts.memory_mib > 0 && facts.disk_free_mib > 0);
    assert_eq!(facts.gpus.len(), 1);
    assert_eq!(facts.gpus[0].name, "NVIDIA A10G");
    assert_eq!(facts.gpus[0].memory_mib, 23028);
    assert_eq!(facts.gpus[0].vendor, GpuVendor::Nvidia);

    let targets = [target(&hosts, "h100", "root")];
    let report = check_hosts(&targets, &quick(), &lenient()).await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let gpus = &report.facts[0].1.gpus;
    assert_eq!(gpus.len(), 8);
    assert!(
        gpus.iter()
            .all(|g| g.name == "NVIDIA H100 80GB HBM3" && g.memory_mib == 81559)
    );

    let halves = offers("h100", &report.facts[0].1, Blocks::Count(2)).unwrap();
    assert_eq!(halves.len(), 2);
    let gpu = halves[0].gpu.as_ref().unwrap();
    assert_eq!((gpu.name.as_str(), gpu.count), ("H100", 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_sudo_fails_with_the_fix() {
    let hosts = hosts(&[HostSpec::new("box")
        .user(TestUser::NoSudo)
        .user(TestUser::Sudo)]);
    let targets = [
        target(&hosts, "box", TestUser::NoSudo.name()),
        target(&hosts, "box", TestUser::Sudo.name()),
    ];
    let report = check_hosts(&targets, &quick(), &lenient()).await;
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let failure = &report.failures[0];
    assert_eq!(
        failure.kind,
        FailureKind::NoSudo {
            user: "dstack-nosudo".into()
        }
    );
    assert!(failure.to_string().contains("NOPASSWD"), "{failure}");
    assert_eq!(report.facts.len(), 1);
    assert_eq!(report.facts[0].1.privilege, Privilege::PasswordlessSudo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_broken_hosts_give_three_failures_in_one_call() {
    let hosts = hosts(&[
        HostSpec::new("down"),
        HostSpec::new("stranger"),
        HostSpec::new("moved"),
    ]);
    hosts["down"].link_down().unwrap();
    let stranger =
        KeyPair::generate(hosts.scratch_dir(), "stranger", KeyKind::Ed25519, None).unwrap();
    let mut wrong_key = target(&hosts, "stranger", "root");
    wrong_key.endpoint.identity_file = stranger.private_path.clone();
    let old_key = HostKey::parse(&hosts["moved"].host_key().public).unwrap();
    hosts["moved"].rotate_host_key().unwrap();
    let mut pinned = target(&hosts, "moved", "root");
    pinned.endpoint = pinned.endpoint.pinned(Some(old_key));

    let targets = [target(&hosts, "down", "root"), wrong_key, pinned];
    let started = Instant::now();
    let report = check_hosts(&targets, &quick(), &lenient()).await;
    let took = started.elapsed();

    let kinds: Vec<&FailureKind> = report.failures.iter().map(|f| &f.kind).collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(
        kinds[0],
        &FailureKind::Ssh(ErrorKind::Unreachable(Unreachable::Timeout(
            Duration::from_secs(3)
        )))
    );
    assert_eq!(
        kinds[1],
        &FailureKind::Ssh(ErrorKind::AuthRefused {
            user: "root".into()
        })
    );
    assert!(
        matches!(kinds[2], FailureKind::Ssh(ErrorKind::HostKeyChanged { .. })),
        "{kinds:?}"
    );
    assert!(report.facts.is_empty());
    for (failure, target) in report.failures.iter().zip(&targets) {
        assert!(
            failure.to_string().starts_with(&target.label()),
            "{failure}"
        );
    }
    // In parallel: about one connect timeout, not three.
    assert!(took < Duration::from_secs(8), "took {took:?}");
}
