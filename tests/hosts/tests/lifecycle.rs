//! Setup and teardown: nothing outlives a host set, a crashed test process's
//! hosts are swept by the next user, and bad specs are refused.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::build;
use dstack_testhosts::{HarnessError, HostSet, HostSpec, slot_owner, sweep_stale};

fn netns_names() -> Vec<String> {
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Whether `pid` still runs, allowing a SIGKILLed process a moment to exit
/// and its new parent to reap it (zombies count as gone).
fn still_running(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let running = status
            .lines()
            .any(|l| l.starts_with("State:") && !l.contains("zombie") && !l.contains("dead"));
        if !running || Instant::now() > deadline {
            return running;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dropping_a_set_removes_its_processes_namespaces_links_and_files() {
    let hosts = build(&[HostSpec::new("a"), HostSpec::new("b").behind("a")]);
    let made: Vec<(String, u32, std::path::PathBuf, Vec<u32>)> = hosts
        .hosts()
        .iter()
        .map(|h| (h.netns(), h.slot_index(), h.state_dir(), h.pids().unwrap()))
        .collect();
    let before = netns_names();
    for (netns, _, dir, pids) in &made {
        assert!(before.contains(netns), "{netns} in {before:?}");
        assert!(dir.exists());
        assert!(!pids.is_empty());
    }
    let key_dir = hosts.scratch_dir().to_owned();
    drop(hosts);

    let after = netns_names();
    for (netns, slot, dir, pids) in &made {
        assert!(!after.contains(netns), "{netns} still in {after:?}");
        assert!(!Path::new(&format!("/sys/class/net/dth{slot}o")).exists());
        assert!(!dir.exists(), "{} left behind", dir.display());
        for pid in pids {
            assert!(!still_running(*pid), "pid {pid} survived");
        }
    }
    assert!(!key_dir.exists());
    // Our namespaces are gone and nobody else's were touched.
    let ours: Vec<&String> = made.iter().map(|(netns, ..)| netns).collect();
    let others_before = before.iter().filter(|n| !ours.contains(n)).count();
    let others_after = after.iter().filter(|n| !ours.contains(n)).count();
    assert!(
        others_after + 16 >= others_before,
        "{before:?} -> {after:?}"
    );
}

#[test]
fn hosts_of_a_crashed_test_process_are_swept() {
    let mut holder = Command::new(env!("CARGO_BIN_EXE_dstack-testhosts-hold"))
        .arg("2")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let crashed_pid = holder.id();
    let mut held = Vec::new();
    for line in BufReader::new(holder.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "ready" {
            break;
        }
        if line.starts_with("key ") {
            continue;
        }
        let words: Vec<&str> = line.split(' ').collect();
        held.push((words[0].parse::<u32>().unwrap(), words[1].to_owned()));
    }
    assert_eq!(held.len(), 2, "the holder did not build its hosts");
    let pids: Vec<u32> = held
        .iter()
        .flat_map(|(_, netns)| {
            let out = Command::new("ip")
                .args(["netns", "pids", netns])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(|p| p.parse::<u32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!pids.is_empty());

    holder.kill().unwrap(); // SIGKILL: no destructor runs
    holder.wait().unwrap();
    for (_, netns) in &held {
        assert!(
            netns_names().contains(netns),
            "{netns} is a leftover until swept"
        );
    }

    sweep_stale().unwrap();
    for (slot, netns) in &held {
        // Another test process may already have swept and reused the slot.
        let reused = slot_owner(*slot).is_some_and(|owner| owner != crashed_pid);
        assert!(
            reused || !netns_names().contains(netns),
            "{netns} not swept"
        );
    }
    for pid in pids {
        assert!(
            !still_running(pid),
            "pid {pid} of the crashed set survived the sweep"
        );
    }
}

#[test]
fn bad_specs_are_refused_with_the_reason() {
    let refused = |builder: dstack_testhosts::HostSetBuilder| match builder.build() {
        Err(HarnessError::Spec(why)) => why,
        other => panic!("expected a spec error, got {other:?}"),
    };
    let why = refused(
        HostSet::builder()
            .host(HostSpec::new("b").behind("a"))
            .host(HostSpec::new("a")),
    );
    assert!(
        why.contains("behind a, which must be declared before it"),
        "{why}"
    );
    let why = refused(
        HostSet::builder()
            .host(HostSpec::new("a"))
            .host(HostSpec::new("a")),
    );
    assert!(why.contains("two hosts are named a"), "{why}");
    let why = refused(HostSet::builder().host(HostSpec::new("bad_name")));
    assert!(why.contains("not a hostname"), "{why}");
    let why = refused(HostSet::builder());
    assert!(why.contains("no hosts"), "{why}");
    let why = refused(HostSet::builder().host(HostSpec::new("a").file("/etc/leak", "x", 0o644)));
    assert!(why.contains("outside the private directories"), "{why}");
    assert!(!Path::new("/etc/leak").exists());
}

#[test]
fn a_machine_that_cannot_run_hosts_fails_with_what_is_missing() {
    // The same harness as an unprivileged user: no namespaces for it.
    let run = Command::new("setpriv")
        .args([
            "--reuid=dstack-nosudo",
            "--regid=dstack-nosudo",
            "--clear-groups",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_dstack-testhosts-hold"))
        .arg("1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("test hosts cannot run on this machine: root"),
        "{stderr}"
    );
    assert!(stderr.contains("run `bash .ci/ssh-up`"), "{stderr}");
}
