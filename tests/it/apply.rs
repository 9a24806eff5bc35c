//! `dstack apply` end to end against the fake cloud: saved plans applied
//! exactly or refused when stale, the state lock, partial failures, and
//! destroy.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use dstack_state::StateLock;

use crate::harness::{dstack_bin, root};
use crate::plan_cases::{CaseProject, redact};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn project(name: &str, configs: &str) -> CaseProject {
    let case = root().join("tests/cases/plan").join(configs);
    let p = CaseProject::new(name, &case);
    p.use_configs(&case.join("after"));
    p
}

fn write(p: &CaseProject, file: &str, content: &str) {
    std::fs::write(p.dir.join(file), content).expect("write");
}

#[test]
fn saved_plan_is_applied_exactly() {
    let p = project("saved-exact", "first-apply");
    let out = p.dstack(&["plan", "-o", "plan.json"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = p.dstack(&["apply", "plan.json"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = p.dstack(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "not a no-op after applying the saved plan:\n{}",
        text(&out)
    );
}

#[test]
fn stale_saved_plans_are_refused() {
    let p = project("saved-stale", "first-apply");
    // The configuration changes after planning.
    assert!(p.dstack(&["plan", "-o", "plan.json"]).status.success());
    let train = std::fs::read_to_string(p.dir.join("train.dstack.yml")).expect("read");
    write(
        &p,
        "train.dstack.yml",
        &train.replace("max_duration: 2h", "max_duration: 3h"),
    );
    let out = p.dstack(&["apply", "plan.json"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    insta::assert_snapshot!(
        "stale_config",
        redact(&String::from_utf8_lossy(&out.stderr))
    );
    // A state row the plan read changes after planning.
    write(&p, "train.dstack.yml", &train);
    assert!(p.dstack(&["plan", "-o", "plan.json"]).status.success());
    assert!(
        p.dstack(&["apply", "-y", "-f", "volume.dstack.yml"])
            .status
            .success()
    );
    let out = p.dstack(&["apply", "plan.json"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    insta::assert_snapshot!("stale_state", redact(&String::from_utf8_lossy(&out.stderr)));
    // The price of a chosen offer rises after planning.
    assert!(p.dstack(&["plan", "-o", "plan.json"]).status.success());
    let catalog = p.dir.join(".dstack/catalog.json");
    let prices = std::fs::read_to_string(&catalog).expect("catalog");
    std::fs::write(
        &catalog,
        prices.replace("\"on_demand\": 0.8048", "\"on_demand\": 0.9"),
    )
    .expect("write catalog");
    let out = p.dstack(&["apply", "plan.json"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    insta::assert_snapshot!("stale_price", redact(&String::from_utf8_lossy(&out.stderr)));
}

fn slow_backends(p: &CaseProject, latency_ms: u64) {
    write(
        p,
        ".dstack/backends.yml",
        &format!(
            "backends:\n  - type: fake\n    name: aws\n    catalog: catalog.json\n    state_file: fake-cloud.json\n    latency_ms: {latency_ms}\nlocal:\n  runtime: fake\n  cpus: 8\n  memory: 32GB\n  gpu: none\n"
        ),
    );
}

fn spawn_apply(dir: &Path) -> std::process::Child {
    Command::new(dstack_bin())
        .args(["apply", "-y", "--parallelism", "1"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HF_TOKEN", "x")
        .env_remove("DSTACK_PROJECT_DIR")
        .stdout(std::fs::File::create(dir.join("first-apply.log")).expect("log"))
        .stderr(std::fs::File::create(dir.join("first-apply.err")).expect("log"))
        .spawn()
        .expect("spawn apply")
}

fn wait_for_lock(dir: &Path) {
    let store =
        dstack_state::sqlite::SqliteStore::open(&dir.join(".dstack/state.db")).expect("state");
    let start = Instant::now();
    while store.current_lock().expect("lock").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the first apply never took the lock: {}",
            std::fs::read_to_string(dir.join("first-apply.err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_apply_waits_for_the_lock_then_fails_naming_the_holder() {
    let p = project("lock-held", "first-apply");
    slow_backends(&p, 400);
    let mut first = spawn_apply(&p.dir);
    wait_for_lock(&p.dir);
    let out = p.dstack(&["apply", "-y", "--lock-timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let message = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        message.contains("state is locked by") && message.contains("(apply, lock id"),
        "{message}"
    );
    assert!(message.contains("dstack state unlock"), "{message}");
    // With a long enough timeout, it waits and then applies (a no-op).
    let out = p.dstack(&["apply", "-y", "--lock-timeout", "60s"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(first.wait().expect("first apply").success());
}

#[test]
fn a_lock_of_another_host_is_broken_only_by_id() {
    let p = project("lock-unlock", "cheapest-offer-first");
    let store =
        dstack_state::sqlite::SqliteStore::open(&p.dir.join(".dstack/state.db")).expect("state");
    let mut request = dstack_state::LockRequest::for_this_process("apply");
    request.host = "build-runner-7".into();
    request.holder = "ci@build-runner-7".into();
    let held = store.try_lock(&request).expect("lock");
    let out = p.dstack(&["apply", "-y"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&held.id));
    assert_eq!(
        p.dstack(&["state", "unlock", "wrong-id"]).status.code(),
        Some(1)
    );
    assert!(p.dstack(&["state", "unlock", &held.id]).status.success());
    assert!(p.dstack(&["apply", "-y"]).status.success());
}

#[test]
fn failover_to_the_next_offer_on_no_capacity() {
    let p = project("failover", "cheapest-offer-first");
    write(
        &p,
        ".dstack/backends.yml",
        "backends:\n  - type: fake\n    name: aws\n    catalog: catalog.json\n    state_file: fake-cloud.json\n    failures:\n      - {operation: create_instance, instance_type: g5.xlarge, region: us-east-1, kind: no-capacity}\nlocal:\n  enabled: false\n",
    );
    let out = p.dstack(&["apply", "-y"]);
    assert!(out.status.success(), "{}", text(&out));
    let log = text(&out);
    assert!(
        log.contains("aws/us-east-1/g5.xlarge/spot: no capacity; trying the next offer"),
        "{log}"
    );
    let row = p.dstack(&["state", "show", "fleet/pool/instance/0"]);
    let row: serde_json::Value = serde_json::from_slice(&row.stdout).expect("json");
    assert_eq!(row["offer"]["region"], "us-west-2", "{row}");
}

#[test]
fn a_failed_step_skips_dependents_and_keeps_the_rest() {
    let p = project("partial", "first-apply");
    write(
        &p,
        ".dstack/backends.yml",
        "backends:\n  - type: fake\n    name: aws\n    catalog: catalog.json\n    state_file: fake-cloud.json\n    failures:\n      - {operation: create_instance, address: fleet/pool/instance/0, kind: auth-failed}\nlocal:\n  runtime: fake\n  enabled: false\n",
    );
    let out = p.dstack(&["apply", "-y"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let log = text(&out);
    assert!(
        log.contains("run/train/job/0: skipped (upstream failed: create fleet/pool/instance/0)"),
        "{log}"
    );
    let state = String::from_utf8_lossy(&p.dstack(&["state", "list"]).stdout).to_string();
    assert!(
        state.contains("fleet/pool/instance/1") && state.contains("volume/data"),
        "{state}"
    );
    assert!(!state.contains("fleet/pool/instance/0 "), "{state}");
}

#[test]
fn destroy_deletes_everything_in_reverse_order() {
    let p = project("destroy", "first-apply");
    assert!(p.dstack(&["apply", "-y"]).status.success());
    let out = p.dstack(&["destroy", "-y"]);
    assert!(out.status.success(), "{}", text(&out));
    let log = String::from_utf8_lossy(&out.stdout).to_string();
    let position = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{log}"))
    };
    assert!(position("run/train/job/0: Deleting") < position("fleet/pool/instance/0: Deleting"));
    assert!(
        position("fleet/pool/instance/0: Deletion complete") < position("fleet/pool: Deleting")
    );
    let state = String::from_utf8_lossy(&p.dstack(&["state", "list"]).stdout).to_string();
    assert!(state.contains("No resources recorded"), "{state}");
    let cloud: serde_json::Value =
        dstack_provider::fake::FakeProvider::document(p.dir.join(".dstack/fake-cloud.json"))
            .expect("fake cloud file");
    let alive = cloud["resources"]
        .as_object()
        .expect("resources")
        .values()
        .filter(|r| r["status"] != "terminated")
        .count();
    assert_eq!(alive, 0, "resources left in the cloud: {cloud}");
}

#[test]
fn corrupt_state_is_reported_and_left_alone() {
    let p = project("corrupt", "cheapest-offer-first");
    let db = p.dir.join(".dstack/state.db");
    let garbage = b"not a database at all, just text\n".repeat(100);
    std::fs::write(&db, &garbage).expect("write");
    let out = p.dstack(&["plan"]);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("state.db is unreadable"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&db).expect("read"), garbage);
}
