//! The harness against real sshd: hosts are separate machines as far as a
//! runner can tell (files, users, sudo, Docker, GPUs).

mod common;

use common::{build, ssh};
use dstack_testhosts::{GpuProfile, HostSpec, TestUser};

#[test]
fn two_hosts_do_not_share_files() {
    let hosts = build(&[HostSpec::new("one"), HostSpec::new("two")]);
    for dir in [
        "/root",
        "/opt",
        "/usr/local/bin",
        "/var/lib",
        "/tmp",
        "/etc/systemd/system",
        "/var/tmp",
    ] {
        let file = format!("{dir}/written-by-one");
        let wrote = ssh(
            &hosts,
            "one",
            "root",
            &format!("echo hello > {file} && cat {file}"),
        );
        assert_eq!(wrote.stdout.trim(), "hello", "{wrote:?}");
        let seen = ssh(
            &hosts,
            "two",
            "root",
            &format!("test -e {file} && echo present || echo absent"),
        );
        assert_eq!(seen.stdout.trim(), "absent", "{file} leaked to host two");
        assert!(
            !std::path::Path::new(&file).exists(),
            "{file} leaked to the machine"
        );
    }
    // Neither sees the harness's state of the other (sshd config, keys).
    let listed = ssh(
        &hosts,
        "two",
        "root",
        "ls /var/tmp/dstack-testhosts 2>&1 || true",
    );
    assert!(!listed.stdout.contains("slot-"), "{listed:?}");
    let names = ssh(&hosts, "two", "root", "hostname");
    assert_eq!(names.stdout.trim(), "two");
}

#[test]
fn files_survive_a_reboot_but_tmp_and_processes_do_not() {
    let hosts = build(&[HostSpec::new("box")]);
    let host = &hosts["box"];
    ssh(
        &hosts,
        "box",
        "root",
        "echo kept > /usr/local/bin/marker; echo gone > /tmp/marker",
    );
    host.root("nohup sleep 1000 >/dev/null 2>&1 &").unwrap();
    let before = host.pids().unwrap();
    let key_before = host.host_key().fingerprint;
    host.reboot().unwrap();
    let after = host.pids().unwrap();
    assert!(
        before.iter().all(|pid| !after.contains(pid)),
        "{before:?} survived: {after:?}"
    );
    let seen = ssh(
        &hosts,
        "box",
        "root",
        "cat /usr/local/bin/marker; test -e /tmp/marker && echo tmp-kept || echo tmp-gone",
    );
    assert_eq!(
        seen.stdout.lines().collect::<Vec<_>>(),
        ["kept", "tmp-gone"],
        "{seen:?}"
    );
    assert_eq!(host.host_key().fingerprint, key_before);
}

#[test]
fn the_sudo_user_can_sudo_and_the_other_cannot() {
    let hosts = build(&[HostSpec::new("box")
        .user(TestUser::Sudo)
        .user(TestUser::NoSudo)]);
    let with = ssh(
        &hosts,
        "box",
        TestUser::Sudo.name(),
        "id -un; sudo -n true && echo can-sudo; echo $HOME; touch ~/mine",
    );
    assert_eq!(
        with.stdout.lines().collect::<Vec<_>>(),
        ["dstack-sudo", "can-sudo", "/home/dstack-sudo"],
        "{with:?}"
    );
    let without = ssh(
        &hosts,
        "box",
        TestUser::NoSudo.name(),
        "id -un; sudo -n true && echo can-sudo || echo no-sudo",
    );
    assert_eq!(
        without.stdout.lines().collect::<Vec<_>>(),
        ["dstack-nosudo", "no-sudo"],
        "{without:?}"
    );
}

#[test]
fn users_not_listed_cannot_log_in() {
    let hosts = build(&[HostSpec::new("box").user(TestUser::Sudo)]);
    let refused = ssh(&hosts, "box", TestUser::NoSudo.name(), "true");
    assert_eq!(refused.code, Some(255), "{refused:?}");
    assert!(refused.stderr.contains("Permission denied"), "{refused:?}");
}

#[test]
fn docker_is_visible_only_where_asked() {
    let hosts = build(&[HostSpec::new("with").docker(true), HostSpec::new("without")]);
    let probe = "command -v docker >/dev/null && echo client || echo no-client; test -S /run/docker.sock && echo socket || echo no-socket";
    let with = ssh(&hosts, "with", "root", probe);
    assert_eq!(
        with.stdout.lines().collect::<Vec<_>>(),
        ["client", "socket"],
        "{with:?}"
    );
    let without = ssh(&hosts, "without", "root", probe);
    assert_eq!(
        without.stdout.lines().collect::<Vec<_>>(),
        ["no-client", "no-socket"],
        "{without:?}"
    );
    if std::path::Path::new("/run/docker.sock").exists() {
        let version = ssh(
            &hosts,
            "with",
            "root",
            "docker version --format '{{.Server.Version}}'",
        );
        assert!(
            version.success(),
            "the engine answers through the shared socket: {version:?}"
        );
    }
}

#[test]
fn the_nvidia_smi_stand_in_prints_captured_output() {
    let hosts = build(&[
        HostSpec::new("h100").gpus(&GpuProfile::H100_80GB_X8),
        HostSpec::new("a10g").gpus(&GpuProfile::A10G_X1),
        HostSpec::new("cpu"),
    ]);
    let query = "nvidia-smi --query-gpu=name,memory.total,index --format=csv,noheader,nounits";
    let h100 = ssh(&hosts, "h100", "root", query);
    assert_eq!(h100.stdout.lines().count(), 8, "{h100:?}");
    assert_eq!(
        h100.stdout.lines().next(),
        Some("NVIDIA H100 80GB HBM3, 81559, 0")
    );
    let a10g = ssh(
        &hosts,
        "a10g",
        "root",
        "nvidia-smi --query-gpu=name,memory.total --format=csv",
    );
    assert_eq!(
        a10g.stdout,
        "name, memory.total [MiB]\nNVIDIA A10G, 23028 MiB\n"
    );
    let listed = ssh(&hosts, "a10g", "root", "nvidia-smi -L");
    assert_eq!(listed.stdout, GpuProfile::A10G_X1.list_output());
    let table = ssh(&hosts, "h100", "root", "nvidia-smi");
    assert_eq!(table.stdout, GpuProfile::H100_80GB_X8.table_output());
    let bad = ssh(
        &hosts,
        "h100",
        "root",
        "nvidia-smi --query-gpu=name,bogus --format=csv",
    );
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stdout
            .starts_with("Field \"bogus\" is not a valid field to query."),
        "{bad:?}"
    );
    let none = ssh(&hosts, "cpu", "root", "command -v nvidia-smi || echo none");
    assert_eq!(none.stdout.trim(), "none");
}

#[test]
fn a_host_sees_only_its_own_processes() {
    let hosts = build(&[HostSpec::new("one"), HostSpec::new("two")]);
    hosts["one"]
        .root("nohup sleep 1234 >/dev/null 2>&1 &")
        .unwrap();
    let on_two = ssh(&hosts, "two", "root", "ps -eo args");
    assert!(!on_two.stdout.contains("sleep 1234"), "{}", on_two.stdout);
    assert!(on_two.stdout.contains("sshd"), "{}", on_two.stdout);
    let on_one = ssh(&hosts, "one", "root", "ps -eo args");
    assert!(on_one.stdout.contains("sleep 1234"), "{}", on_one.stdout);
}
