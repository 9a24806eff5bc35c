//! Kill `dstack apply` (SIGKILL) at spread-out points against a slow fake
//! cloud, then check recovery: the next plan works (the dead holder's lock
//! is broken), the next apply finishes, nothing was created twice, cloud
//! and state agree, and a final plan is a no-op.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::dstack_bin;
use crate::plan_cases::CaseProject;

const CONFIGS: &[(&str, &str)] = &[
    (
        "a.dstack.yml",
        "type: fleet\nname: fa\nnodes: 3\nresources:\n  gpu: A10G\n",
    ),
    (
        "b.dstack.yml",
        "type: fleet\nname: fb\nnodes: 2\nresources:\n  gpu: L4\n",
    ),
    (
        "c.dstack.yml",
        "type: fleet\nname: fc\nnodes: 0..2\nresources:\n  cpu: 8\n",
    ),
    (
        "v.dstack.yml",
        "type: volume\nname: data\nbackend: aws\nregion: us-east-1\nsize: 50GB\n",
    ),
    (
        "t.dstack.yml",
        "type: task\nname: job\ncommands: [echo hi]\nresources:\n  cpu: 8\nfleets: [fc]\nvolumes: [data:/data]\n",
    ),
];

fn alive_by_address(dir: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    let cloud: Value =
        dstack_provider::fake::FakeProvider::document(dir.join(".dstack/fake-cloud.json"))
            .expect("fake cloud file");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, r) in cloud["resources"].as_object().cloned().unwrap_or_default() {
        if r["status"] != "terminated" {
            let address = r["tags"]["dstack:address"]
                .as_str()
                .unwrap_or("?")
                .to_string();
            out.entry(address).or_default().push(id);
        }
    }
    out
}

fn recorded_ids(p: &CaseProject) -> BTreeMap<String, String> {
    let out = p.dstack(&["state", "list", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("state json");
    rows.iter()
        .filter(|r| r["provider"] == "aws")
        .map(|r| {
            (
                r["address"].as_str().unwrap_or("").to_string(),
                r["provider_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn killing_apply_at_any_point_creates_nothing_twice() {
    let mut adopted = 0;
    for (round, delay_ms) in [60u64, 150, 240, 330, 420, 520, 650, 800]
        .into_iter()
        .enumerate()
    {
        let case = crate::harness::root().join("tests/cases/plan/first-apply");
        let p = CaseProject::new(&format!("crash-{round}"), &case);
        for (name, text) in CONFIGS {
            std::fs::write(p.dir.join(name), text).expect("config");
        }
        std::fs::write(
            p.dir.join(".dstack/backends.yml"),
            "backends:\n  - type: fake\n    name: aws\n    catalog: catalog.json\n    state_file: fake-cloud.json\n    latency_ms: 120\nlocal:\n  runtime: fake\n  enabled: false\n",
        )
        .expect("backends");
        let mut child = Command::new(dstack_bin())
            .args(["apply", "-y", "--parallelism", "3"])
            .current_dir(&p.dir)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();

        // The next plan works and shows no duplicate: every address has at
        // most one live cloud resource.
        let plan = p.dstack(&["plan", "--format", "json"]);
        assert!(
            plan.status.success(),
            "round {round}: plan failed after a kill:\n{}",
            String::from_utf8_lossy(&plan.stderr)
        );
        let doc: Value = serde_json::from_slice(&plan.stdout).expect("plan json");
        for (address, ids) in alive_by_address(&p.dir) {
            assert_eq!(
                ids.len(),
                1,
                "round {round}: {address} exists {} times: {ids:?}",
                ids.len()
            );
        }
        // A create planned for an address that already exists in the cloud
        // would be a second creation; recovery must have adopted it instead.
        let planned_creates: Vec<String> = doc["resource_changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter(|c| c["actions"] == serde_json::json!(["create"]))
            .filter_map(|c| c["address"].as_str().map(str::to_string))
            .collect();
        let history = String::from_utf8_lossy(&p.dstack(&["plan"]).stderr).to_string();
        adopted += history.matches("adopted").count();

        // Applying again finishes the job without doubles.
        let out = p.dstack(&["apply", "-y"]);
        assert!(
            out.status.success(),
            "round {round}: apply after kill failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let alive = alive_by_address(&p.dir);
        let recorded = recorded_ids(&p);
        let alive_ids: BTreeMap<String, String> = alive
            .iter()
            .map(|(a, ids)| (a.clone(), ids[0].clone()))
            .collect();
        assert_eq!(
            alive_ids, recorded,
            "round {round}: cloud and state disagree (planned creates were {planned_creates:?})"
        );
        for ids in alive.values() {
            assert_eq!(ids.len(), 1, "round {round}: duplicate after re-apply");
        }
        let again = p.dstack(&["plan", "--detailed-exitcode"]);
        assert_eq!(
            again.status.code(),
            Some(0),
            "round {round}: not converged:\n{}",
            String::from_utf8_lossy(&again.stdout)
        );
    }
    eprintln!("resources adopted across rounds: {adopted}");
}

/// A project of the crash test on the slow fake cloud.
fn crash_project(name: &str, latency_ms: u64) -> CaseProject {
    let case = crate::harness::root().join("tests/cases/plan/first-apply");
    let p = CaseProject::new(name, &case);
    for (file, text) in CONFIGS {
        std::fs::write(p.dir.join(file), text).expect("config");
    }
    std::fs::write(
        p.dir.join(".dstack/backends.yml"),
        format!("backends:\n  - type: fake\n    name: aws\n    catalog: catalog.json\n    state_file: fake-cloud.json\n    latency_ms: {latency_ms}\nlocal:\n  runtime: fake\n  enabled: false\n"),
    )
    .expect("backends");
    p
}

/// The issue-8 scenario: the state's write-ahead log is deleted while an
/// apply runs, then the apply is killed, so every row it wrote is lost.
/// Before, the emptied state was silently made anew (a new lineage) and
/// the next apply created 17 live resources for 9 addresses; now the
/// state keeps its lineage and the next apply adopts what it finds.
#[test]
fn losing_the_state_log_mid_apply_creates_nothing_twice() {
    // By progress, not by time: the log goes after `unlink_at` resources
    // exist, the apply is killed after `kill_at` (of the 7 it creates).
    for (round, (unlink_at, kill_at)) in [(1usize, 3usize), (2, 5), (0, 4)].into_iter().enumerate()
    {
        let p = crash_project(&format!("wal-{round}"), 400);
        let mut child = Command::new(dstack_bin())
            .args(["apply", "-y", "--parallelism", "3"])
            .current_dir(&p.dir)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let wal = p.dir.join(".dstack/state.db-wal");
        wait_until(&p, round, |n| n >= unlink_at && wal.exists());
        std::fs::remove_file(&wal).expect("delete the state's log");
        wait_until(&p, round, |n| n >= kill_at);
        let _ = child.kill();
        let _ = child.wait();
        let created = alive_by_address(&p.dir).len();
        let kept = recorded_ids(&p).len();
        assert!(
            created > kept,
            "round {round}: no row was lost ({created} created, {kept} recorded)"
        );
        let plan = String::from_utf8_lossy(&p.dstack(&["plan"]).stderr).to_string();
        assert!(
            plan.contains("tagged by this state but not recorded (its row was lost)"),
            "round {round}: {plan}"
        );

        let out = p.dstack(&["apply", "-y"]);
        assert!(
            out.status.success(),
            "round {round}: apply after the loss failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let alive = alive_by_address(&p.dir);
        for (address, ids) in &alive {
            assert_eq!(ids.len(), 1, "round {round}: {address} exists as {ids:?}");
        }
        let alive_ids: BTreeMap<String, String> = alive
            .iter()
            .map(|(a, ids)| (a.clone(), ids[0].clone()))
            .collect();
        assert_eq!(
            alive_ids,
            recorded_ids(&p),
            "round {round}: cloud and state disagree"
        );
        let again = p.dstack(&["plan", "--detailed-exitcode"]);
        assert_eq!(
            again.status.code(),
            Some(0),
            "round {round}: not converged:\n{}",
            String::from_utf8_lossy(&again.stdout)
        );
    }
}

/// Polls the fake cloud until `done(live resources)` (or fails after 30 s).
fn wait_until(p: &CaseProject, round: usize, done: impl Fn(usize) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done(alive_by_address(&p.dir).values().map(Vec::len).sum()) {
        assert!(
            std::time::Instant::now() < deadline,
            "round {round}: the apply stalled"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Ctrl+C mid-apply (the walker's cancel): the running step finishes and
/// is recorded, no step starts after it, the apply exits "interrupted"
/// saying what never started, and the next apply does the rest.
#[test]
fn ctrl_c_mid_apply_lets_the_running_step_finish_and_starts_no_more() {
    let p = crash_project("interrupt", 300);
    let child = Command::new(dstack_bin())
        .args(["apply", "-y", "--parallelism", "1"])
        .current_dir(&p.dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_until(&p, 0, |n| n >= 1);
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(kill.success());
    let out = child.wait_with_output().expect("apply ends");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(dstack_schemas::exit_codes::INTERRUPTED),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("not started"), "{stdout}");
    let alive: BTreeMap<String, String> = alive_by_address(&p.dir)
        .into_iter()
        .map(|(a, ids)| (a, ids.join(",")))
        .collect();
    assert!(
        (1..=2).contains(&alive.len()),
        "one step ran when Ctrl+C came and at most the next one had started: {alive:?}"
    );
    assert_eq!(alive, recorded_ids(&p), "what ran is recorded");
    let rest = p.dstack(&["apply", "-y"]);
    assert!(
        rest.status.success(),
        "{}",
        String::from_utf8_lossy(&rest.stdout)
    );
    let again = p.dstack(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "converged");
}
