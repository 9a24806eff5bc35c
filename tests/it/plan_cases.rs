//! Golden plans: each folder of `tests/cases/plan/` is a scenario run with
//! the real binary against the fake cloud — optional steps first (apply a
//! configuration, terminate an instance behind dstack's back, forget a row),
//! then `dstack plan` of the final configuration. Both the text and the JSON
//! plan are snapshotted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{dstack_bin, root};

/// Backends used unless a scenario brings its own `backends.yml`.
const DEFAULT_BACKENDS: &str = "backends:\n  - type: fake\n    name: aws\n    catalog: catalog.json\n    state_file: fake-cloud.json\nlocal:\n  runtime: fake\n  cpus: 8\n  memory: 32GB\n  gpu: none\n";

/// A scenario project on disk.
pub struct CaseProject {
    /// The project directory.
    pub dir: PathBuf,
}

impl CaseProject {
    /// A fresh project with the scenario's (or the shared) catalog and backends.
    pub fn new(name: &str, case_dir: &Path) -> Self {
        let dir = std::env::temp_dir().join(format!("dstack-case-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".dstack")).expect("project dir");
        let shared = root().join("tests/cases/plan/catalog.json");
        let catalog = [case_dir.join("catalog.json"), shared]
            .into_iter()
            .find(|p| p.exists())
            .expect("catalog");
        std::fs::copy(catalog, dir.join(".dstack/catalog.json")).expect("catalog copy");
        let backends = std::fs::read_to_string(case_dir.join("backends.yml"))
            .unwrap_or_else(|_| DEFAULT_BACKENDS.into());
        std::fs::write(dir.join(".dstack/backends.yml"), backends).expect("backends");
        Self { dir }
    }

    /// Replaces the project's configurations with those of `from`.
    pub fn use_configs(&self, from: &Path) {
        for entry in std::fs::read_dir(&self.dir)
            .expect("read project")
            .flatten()
        {
            let path = entry.path();
            if path.is_file() && path.to_string_lossy().ends_with(".yml") {
                std::fs::remove_file(path).expect("remove config");
            }
        }
        for entry in std::fs::read_dir(from).expect("read configs").flatten() {
            let path = entry.path();
            if path.is_file() {
                std::fs::copy(&path, self.dir.join(path.file_name().expect("name")))
                    .expect("copy config");
            }
        }
    }

    /// Runs `dstack ARGS` in the project.
    pub fn dstack(&self, args: &[&str]) -> Output {
        Command::new(dstack_bin())
            .args(args)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("DSTACK_NOW", "2026-11-23T00:00:00Z")
            .env("HF_TOKEN", "test-token")
            .env_remove("DSTACK_PROJECT_DIR")
            .env_remove("DSTACK_STATE")
            .output()
            .expect("dstack runs")
    }

    /// Terminates the instance recorded at `address` behind dstack's back.
    pub fn terminate_out_of_band(&self, address: &str) {
        let out = self.dstack(&["state", "show", address]);
        let row: Value = serde_json::from_slice(&out.stdout).expect("state show prints JSON");
        let id = row["provider_id"]
            .as_str()
            .expect("provider id")
            .to_string();
        let path = self.dir.join(".dstack/fake-cloud.json");
        dstack_provider::fake::FakeProvider::new("aws", Vec::new())
            .with_state_file(path)
            .terminate_out_of_band(&id);
    }
}

impl Drop for CaseProject {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Hides what differs between runs (lineage, plan ids, provider ids).
pub fn redact(text: &str) -> String {
    let text = redact_ids(text);
    let text = text.as_str();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(tail) = rest.strip_prefix("plan-")
            && tail.len() >= 12
            && tail[..12].chars().all(|c| c.is_ascii_hexdigit())
        {
            out.push_str("plan-[id]");
            rest = &tail[12..];
            continue;
        }
        if let Some(tail) = rest.strip_prefix("apply-")
            && tail.len() >= 12
            && tail[..12].chars().all(|c| c.is_ascii_hexdigit())
        {
            out.push_str("apply-[id]");
            rest = &tail[12..];
            continue;
        }
        let c = rest.chars().next().expect("non-empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn redact_json(plan: &mut Value) {
    plan["lineage"] = Value::String("[lineage]".into());
    plan["plan_id"] = Value::String("[plan-id]".into());
    // Provider ids depend on the order parallel creates happened in.
    for change in plan["resource_changes"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if change.get("provider_id").is_some() {
            change["provider_id"] = Value::String("[id]".into());
        }
    }
    for orphan in plan["orphans"].as_array_mut().into_iter().flatten() {
        orphan["provider_id"] = Value::String("[id]".into());
        orphan["lineage"] = Value::String("[lineage]".into());
    }
}

fn run_scenario(case_file: &Path) -> (String, String) {
    let case_dir = case_file.parent().expect("case dir");
    let name = case_dir.file_name().and_then(|n| n.to_str()).expect("name");
    let scenario: Value =
        serde_json::from_str(&std::fs::read_to_string(case_file).expect("scenario"))
            .expect("scenario json");
    let project = CaseProject::new(name, case_dir);
    for step in scenario["steps"].as_array().cloned().unwrap_or_default() {
        if let Some(dir) = step["apply"].as_str() {
            project.use_configs(&case_dir.join(dir));
            let out = project.dstack(&["apply", "-y"]);
            assert!(
                out.status.success(),
                "{name}: apply {dir} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        } else if let Some(address) = step["oob_terminate"].as_str() {
            project.terminate_out_of_band(address);
        } else if let Some(address) = step["state_rm"].as_str() {
            let out = project.dstack(&["state", "rm", address]);
            assert!(out.status.success(), "{name}: state rm failed");
        }
    }
    project.use_configs(&case_dir.join(scenario["plan"].as_str().unwrap_or("after")));
    let mut args: Vec<String> = vec!["plan".into()];
    args.extend(
        scenario["args"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string)),
    );
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = project.dstack(&arg_refs);
    let expected = scenario["exit_code"].as_i64().unwrap_or(0) as i32;
    assert_eq!(
        text.status.code(),
        Some(expected),
        "{name}: exit code\n{}{}",
        String::from_utf8_lossy(&text.stdout),
        String::from_utf8_lossy(&text.stderr)
    );
    let mut json_args = arg_refs.clone();
    json_args.extend(["--format", "json"]);
    let json = project.dstack(&json_args);
    let mut plan: Value = serde_json::from_slice(&json.stdout).expect("plan JSON");
    redact_json(&mut plan);
    let text = format!(
        "# {}\n$ dstack {}\n{}---\n{}",
        scenario["description"].as_str().unwrap_or(""),
        args.join(" "),
        String::from_utf8_lossy(&text.stderr),
        String::from_utf8_lossy(&text.stdout)
    );
    (
        redact(&text),
        serde_json::to_string_pretty(&plan).expect("json"),
    )
}

#[test]
fn golden_plans() {
    insta::glob!("../cases/plan", "*/scenario.json", |path| {
        let (text, json) = run_scenario(path);
        insta::assert_snapshot!("text", text);
        insta::assert_snapshot!("json", json);
    });
}

/// `i-0000002a`, `vol-00000003`, `job-ab12cd34` → `i-[id]`, ...
fn redact_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for prefix in ["i-", "vol-", "gw-", "job-"] {
            let at_boundary = out
                .chars()
                .last()
                .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-');
            if at_boundary
                && let Some(tail) = rest.strip_prefix(prefix)
                && tail.len() >= 8
                && tail[..8].chars().all(|c| c.is_ascii_hexdigit())
            {
                out.push_str(prefix);
                out.push_str("[id]");
                rest = &tail[8..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().expect("non-empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}
