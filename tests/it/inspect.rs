//! The inspection and resource commands as a user types them: `fleet`,
//! `volume`, `gateway` (`list|get|delete|update`), `delete -f`, `ps -v`,
//! `run get`, `-v/--version` and `completion`. Resources on the fake cloud,
//! runs for real on the local fleet; every `--json` checked against its
//! checked-in schema.

use std::process::Output;

use serde_json::Value;

use crate::harness::root;
use crate::jobs::{JobProject, text};
use crate::plan_cases::redact;

const BACKENDS: &str = "backends:\n  - type: fake\n    name: aws\n    catalog: catalog.json\n    state_file: fake-cloud.json\nlocal:\n  runtime: fake\n  cpus: 8\n  memory: 32GB\n  gpu: none\n";
const VOLUME: &str = "type: volume\nname: ebs\nbackend: aws\nregion: us-east-1\nsize: 10GB\n";

/// A project on the fake cloud with a fleet of two, a volume and a gateway.
fn cloud_project(name: &str) -> JobProject {
    let p = JobProject::new(name);
    let catalog = std::fs::read_to_string(root().join("tests/cases/plan/catalog.json"));
    p.write(".dstack/catalog.json", &catalog.expect("catalog"));
    p.write(".dstack/backends.yml", BACKENDS);
    for example in ["gpu-pool", "gateway"] {
        let path = root().join(format!("examples/{example}.dstack.yml"));
        let text = std::fs::read_to_string(path).expect("example");
        p.write(&format!("{example}.dstack.yml"), &text);
    }
    p.write("vol.dstack.yml", VOLUME);
    let out = p.dstack(&["apply", "-y"]);
    assert!(out.status.success(), "{}", both(&out));
    p
}

fn both(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// Ages (`3s ago`, as `Ns ago`: the same width, so columns stay aligned)
/// and ids vary between runs.
fn stable(s: &str) -> String {
    let s = redact(s);
    let mut out = String::new();
    let mut words = s.split_inclusive(' ').peekable();
    while let Some(word) = words.next() {
        let trimmed = word.trim_end();
        let digits = trimmed.strip_suffix('s').unwrap_or("");
        let is_age = !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit())
            && words.peek().is_some_and(|n| n.starts_with("ago"));
        if is_age {
            out.push_str(&"N".repeat(digits.len()));
            out.push_str(&word[digits.len()..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

/// Parses `out` as JSON and checks it against `schemas/json/NAME.schema.json`.
fn checked_json(out: &Output, schema: &str) -> Value {
    assert!(out.status.success(), "{}", both(out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json output");
    let path = root().join(format!("schemas/json/{schema}.schema.json"));
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("schema json");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{doc}");
    assert_eq!(doc["format_version"], "1.0");
    doc
}

#[test]
fn fleet_volume_and_gateway_lists_and_gets() {
    let p = cloud_project("inspect-lists");
    for (name, args) in [
        ("fleet_list", &["fleet"][..]),
        ("fleet_list_verbose", &["fleet", "list", "-v"]),
        ("fleet_get", &["fleet", "get", "gpu-pool"]),
        ("volume_list", &["volume"]),
        ("volume_get", &["volume", "get", "ebs"]),
        ("gateway_list", &["gateway", "list"]),
        ("gateway_get", &["gateway", "get", "main"]),
    ] {
        let out = p.dstack(args);
        assert!(out.status.success(), "{args:?}: {}", both(&out));
        insta::assert_snapshot!(name, stable(&text(&out.stdout)));
    }
    let list = checked_json(&p.dstack(&["fleet", "--json"]), "resources");
    assert_eq!(list["kind"], "fleet");
    let fleet = checked_json(
        &p.dstack(&["fleet", "get", "gpu-pool", "--json"]),
        "resource",
    );
    let instances = fleet["resource"]["instances"]
        .as_array()
        .expect("instances");
    assert_eq!(instances.len(), 2, "{fleet}");
    assert_eq!(instances[0]["region"], "us-east-1");
    assert_eq!(instances[0]["resources"], "4xCPU, 16GB, 1xA10G (24GB)");
    checked_json(&p.dstack(&["volume", "list", "--json"]), "resources");
    checked_json(&p.dstack(&["gateway", "get", "main", "--json"]), "resource");
}

#[test]
fn unknown_names_and_gateway_update_say_what_to_do() {
    let p = cloud_project("inspect-errors");
    let mut messages = String::new();
    for args in [
        &["fleet", "get", "nope"][..],
        &["volume", "delete", "nope", "-y"],
        &["fleet", "delete", "gpu-pool", "-i", "7", "-y"],
        &["fleet", "delete", "local", "-y"],
        &["gateway", "update", "main", "--set-default"],
        &["gateway", "update", "main"],
        &["run", "get", "nope"],
        &["run", "build", "extra"],
    ] {
        let out = p.dstack(args);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", both(&out));
        messages.push_str(&format!(
            "$ dstack {}\n{}",
            args.join(" "),
            text(&out.stderr)
        ));
    }
    let messages = messages.replace(&p.dir.display().to_string(), "[project]");
    insta::assert_snapshot!("resource_errors", messages);
}

#[test]
fn deletes_are_destroy_plans_through_the_engine() {
    let p = cloud_project("inspect-deletes");
    // Without -y and without a terminal: the plan is shown, nothing deleted.
    let out = p.dstack(&["fleet", "delete", "gpu-pool", "-i", "1"]);
    assert_eq!(out.status.code(), Some(64), "{}", both(&out));
    insta::assert_snapshot!("fleet_delete_instance_plan", stable(&text(&out.stdout)));
    assert!(text(&out.stderr).contains("pass -y"), "{}", both(&out));
    let out = p.dstack(&["fleet", "delete", "gpu-pool"]);
    assert_eq!(out.status.code(), Some(64), "{}", both(&out));
    insta::assert_snapshot!("fleet_delete_plan", stable(&text(&out.stdout)));
    // dstack's older spelling deletes the one instance.
    let out = p.dstack(&["fleet", "delete-instance", "gpu-pool", "-i", "1", "-y"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stdout).contains("Destroy complete!"),
        "{}",
        both(&out)
    );
    let fleet = checked_json(
        &p.dstack(&["fleet", "get", "gpu-pool", "--json"]),
        "resource",
    );
    let nums: Vec<&Value> = fleet["resource"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["num"])
        .collect();
    assert_eq!(nums, [&Value::from(0)], "{fleet}");
    // The whole fleet, a volume by name, a gateway by its file.
    for args in [
        &["fleet", "delete", "gpu-pool", "-y"][..],
        &["volume", "delete", "ebs", "-y"],
        &["delete", "-f", "gateway.dstack.yml", "-y"],
    ] {
        let out = p.dstack(args);
        assert!(out.status.success(), "{args:?}: {}", both(&out));
        assert!(
            text(&out.stdout).contains("Destroy complete!"),
            "{}",
            both(&out)
        );
    }
    let out = p.dstack(&["delete", "-f", "gateway.dstack.yml", "-y"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stderr).contains("gateway/main: not in state"),
        "{}",
        both(&out)
    );
    let history = text(&p.dstack(&["state", "history"]).stdout);
    assert_eq!(history.matches("destroy").count(), 4, "{history}");
    let left = checked_json(&p.dstack(&["fleet", "--json"]), "resources");
    let names: Vec<&Value> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["name"])
        .collect();
    assert_eq!(
        names,
        [&Value::from("local")],
        "only the built-in fleet is left"
    );
}

const SLEEPER: &str = "type: task\nname: sleeper\nenv:\n  - API_TOKEN=literal-secret\n  - REF=${{ secrets.REF }}\ncommands:\n  - echo started\n  - sleep 30\nresources:\n  cpu: 1..\n  memory: 0.5GB..\n  disk: 1GB..\n";

#[test]
fn a_running_job_shows_on_its_instance_in_ps_and_in_run_get() {
    let p = JobProject::new("inspect-run");
    p.write("sleeper.dstack.yml", SLEEPER);
    let out = p
        .command(&["apply", "-y", "-d"])
        .env("DSTACK_SECRET_REF", "x")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", both(&out));
    p.wait_status("sleeper", &["running"]);
    let fleet = checked_json(&p.dstack(&["fleet", "get", "local", "--json"]), "resource");
    let instance = &fleet["resource"]["instances"][0];
    assert_eq!(instance["status"], "busy", "{fleet}");
    assert_eq!(instance["jobs"], serde_json::json!(["run/sleeper/job/0"]));
    let ps = text(&p.dstack(&["ps", "-v"]).stdout);
    assert!(ps.contains("INSTANCE") && ps.contains("SUBM"), "{ps}");
    assert!(
        ps.lines()
            .any(|l| l.contains("run/sleeper/job/0") && l.contains("fleet/local/instance/0")),
        "{ps}"
    );
    let runs = checked_json(&p.dstack(&["ps", "--json"]), "runs");
    assert_eq!(runs["runs"][0]["jobs"][0]["submissions"][0]["number"], 0);
    let doc = checked_json(&p.dstack(&["run", "get", "sleeper", "--json"]), "run");
    let job = &doc["run"]["jobs"][0];
    assert_eq!(job["instance"], "fleet/local/instance/0");
    assert_eq!(job["backend"], "local");
    assert_eq!(job["submissions"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        doc["spec"]["env"],
        serde_json::json!(["API_TOKEN=***", "REF=${{ secrets.REF }}"])
    );
    let shown = text(&p.dstack(&["run", "get", "sleeper"]).stdout);
    assert!(shown.contains("run/sleeper/job/0: running"), "{shown}");
    assert!(!shown.contains("literal-secret"), "{shown}");
    assert!(p.dstack(&["stop", "sleeper", "-y"]).status.success());
    let doc = checked_json(&p.dstack(&["run", "get", "sleeper", "--json"]), "run");
    assert_eq!(doc["run"]["status_message"], "stopped", "{doc}");
    assert!(doc["run"]["reason"].is_string(), "{doc}");
}

#[test]
fn run_get_alone_runs_the_workflow_named_get() {
    let p = JobProject::new("inspect-get-workflow");
    p.write(
        ".dstack/workflows.yaml",
        "workflows:\n  - name: get\n    provider: bash\n    commands:\n      - echo workflow get ran\n",
    );
    let out = p.dstack(&["run", "get"]);
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stdout).contains("workflow get ran"),
        "{}",
        both(&out)
    );
    let help = text(&p.dstack(&["run", "--help"]).stdout);
    assert!(
        help.contains("`dstack run get` with no NAME runs the workflow named `get`"),
        "{help}"
    );
}

#[test]
fn version_and_completion_scripts() {
    let p = JobProject::new("inspect-version");
    for flag in ["-v", "--version"] {
        let out = p.dstack(&[flag]);
        assert!(out.status.success(), "{}", both(&out));
        assert_eq!(
            text(&out.stdout),
            format!("dstack {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
    let out = p.dstack(&["completion", "bash"]);
    assert!(out.status.success(), "{}", both(&out));
    let script = text(&out.stdout);
    for sub in [
        "fleet",
        "volume",
        "gateway",
        "delete",
        "completion",
        "apply",
        "ps",
    ] {
        assert!(script.contains(sub), "bash completion lacks {sub}");
    }
    let path = p.dir.join("dstack.bash");
    std::fs::write(&path, &script).expect("script");
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash");
    assert!(check.status.success(), "{}", both(&check));
    for shell in ["zsh", "fish"] {
        let out = p.dstack(&["completion", shell]);
        assert!(out.status.success(), "{}", both(&out));
        assert!(text(&out.stdout).contains("fleet"), "{shell}");
    }
    let out = p.dstack(&["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(64), "{}", both(&out));
}

#[test]
fn fleet_watch_refreshes_until_ctrl_c() {
    let p = cloud_project("inspect-watch");
    let bad = p.dstack(&["fleet", "-w", "--json"]);
    assert_eq!(bad.status.code(), Some(64), "{}", both(&bad));
    assert!(text(&bad.stderr).contains("--json and --watch cannot be used together"));
    let child = p
        .command(&["fleet", "list", "-w"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("fleet -w starts");
    std::thread::sleep(std::time::Duration::from_millis(4500));
    let interrupt = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupt.success());
    let out = child.wait_with_output().expect("fleet -w ends");
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let tables = text(&out.stdout).matches("gpu-pool").count();
    assert!(tables >= 2, "refreshed at least once: {}", both(&out));
}

const TRAIN: &str = "type: task\nname: train\nfleets: [gpu-pool]\nspot_policy: spot\nvolumes:\n  - ebs:/data\ncommands: [echo hi]\nresources:\n  gpu: A10G\n  memory: 16GB..\n  cpu: 4..\n  disk: 10GB..\n";

#[test]
fn a_run_on_a_cloud_instance_in_ps_v_and_the_volume_it_uses() {
    let p = cloud_project("inspect-cloud-run");
    p.write("train.dstack.yml", TRAIN);
    let out = p.dstack(&["apply", "-y", "-d"]);
    assert!(out.status.success(), "{}", both(&out));
    for (name, args) in [
        ("ps_verbose_cloud", &["ps", "-v"][..]),
        ("volume_list_verbose", &["volume", "-v"]),
    ] {
        let out = p.dstack(args);
        assert!(out.status.success(), "{args:?}: {}", both(&out));
        insta::assert_snapshot!(name, stable(&text(&out.stdout)));
    }
    let runs = checked_json(&p.dstack(&["ps", "--json"]), "runs");
    let job = &runs["runs"][0]["jobs"][0];
    assert_eq!(job["resources"], "4xCPU, 16GB, 1xA10G (24GB)", "{runs}");
    assert_eq!(job["region"], "us-east-1");
    assert_eq!(
        job["submissions"].as_array().map(Vec::len),
        Some(1),
        "{runs}"
    );
    let volume = checked_json(&p.dstack(&["volume", "get", "ebs", "--json"]), "resource");
    assert_eq!(
        volume["resource"]["used_by"],
        serde_json::json!(["run/train"])
    );
}
