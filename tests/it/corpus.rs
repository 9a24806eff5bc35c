//! The corpus of real dstack configurations (`tests/corpus`, a copy of the
//! shared corpus; `DSTACK_CORPUS` points at another): what dstack accepts we
//! accept, what dstack rejects (or is broken on purpose) we reject with a
//! located message, except the documented differences below; and the values
//! we read agree with what dstack read.

use std::collections::BTreeSet;
use std::path::Path;

use dstack_schemas::config::{ConfigDocument, Configuration, LoadedFile, load_config};
use dstack_schemas::grammar::{GpuSpec, Memory, Range};
use serde_json::{Value, json};

use crate::harness::corpus_dir;

/// Files we judge differently from the corpus, each with the reason (the
/// same table is in README.md, "Where dstack-rs differs").
const DIFFERENCES: &[(&str, &str)] = &[(
    "legacy/b4a39f6c00__docs__examples__deps.md__b01.yaml",
    "a doc fragment: depends on `hello-txt`, defined in another fragment; we report the dangling dependency",
)];

fn load(rel: &str) -> LoadedFile {
    let path = corpus_dir().join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    load_config(rel, &bytes)
}

fn index() -> Vec<Value> {
    let text = std::fs::read_to_string(corpus_dir().join("index.json")).expect("corpus index.json");
    let index: Value = serde_json::from_str(&text).expect("index.json is JSON");
    index["files"].as_array().cloned().unwrap_or_default()
}

fn is_difference(rel: &str) -> bool {
    DIFFERENCES.iter().any(|(f, _)| *f == rel)
}

fn error_lines(loaded: &LoadedFile) -> String {
    loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("    {}: {}", d.code, d.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn everything_dstack_accepts_validates() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for entry in index()
        .iter()
        .filter(|e| e["dstack_accepts"] == json!(true) && e["intent"].is_null())
    {
        let rel = entry["file"].as_str().unwrap_or_default();
        checked += 1;
        let loaded = load(rel);
        if loaded.has_errors() && !is_difference(rel) {
            failures.push(format!("{rel}\n{}", error_lines(&loaded)));
        }
    }
    assert!(checked > 100, "corpus too small: {checked}");
    assert!(
        failures.is_empty(),
        "{} accepted file(s) rejected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn everything_invalid_is_rejected_with_a_place() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for entry in index() {
        let rel = entry["file"].as_str().unwrap_or_default();
        let invalid = rel.starts_with("rejected-by-dstack/") || entry["intent"] == json!("invalid");
        if !invalid || is_difference(rel) {
            continue;
        }
        checked += 1;
        let loaded = load(rel);
        if !loaded.has_errors() {
            failures.push(format!("{rel}: accepted"));
            continue;
        }
        for diag in loaded.diagnostics.iter().filter(|d| d.is_error()) {
            if diag.label.is_none() {
                failures.push(format!("{rel}: `{}` has no location", diag.message));
            }
        }
    }
    assert!(checked >= 70, "too few invalid files: {checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn edge_cases_are_accepted() {
    for entry in index().iter().filter(|e| e["intent"] == json!("edge")) {
        let rel = entry["file"].as_str().unwrap_or_default();
        let loaded = load(rel);
        assert!(!loaded.has_errors(), "{rel}\n{}", error_lines(&loaded));
    }
}

#[test]
fn legacy_files_read_as_2022_documents() {
    let dir = corpus_dir().join("legacy");
    let mut workflows = 0;
    for path in crate::harness::files_in(&dir) {
        let rel = format!(
            "legacy/{}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
        );
        let loaded = load(&rel);
        if is_difference(&rel) {
            assert!(
                loaded
                    .diagnostics
                    .iter()
                    .any(|d| d.code == "dstack::graph::dangling_dep"),
                "{rel}"
            );
            continue;
        }
        assert!(!loaded.has_errors(), "{rel}\n{}", error_lines(&loaded));
        match loaded.document {
            Some(ConfigDocument::Workflows(w)) => workflows += w.workflows.len(),
            Some(ConfigDocument::Variables(_)) => {}
            other => panic!("{rel}: read as {other:?}"),
        }
    }
    assert!(workflows > 50, "only {workflows} workflows read");
}

/// Our reading of a file, in the shape of dstack's `dstack_parsed`, for the
/// fields whose interpretation matters most.
fn dstack_shape(config: &Configuration) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("type".into(), json!(config.type_name()));
    if let Some(name) = config.name() {
        out.insert("name".into(), json!(name.as_str()));
    }
    let resources = match config {
        Configuration::Fleet(f) => f.resources.as_ref(),
        other => other.run_common().and_then(|c| c.resources.as_ref()),
    };
    if let Some(r) = resources {
        let mut res = serde_json::Map::new();
        if let Some(gpu) = &r.gpu {
            res.insert("gpu".into(), gpu_shape(gpu));
        }
        if let Some(cpu) = &r.cpu {
            res.insert("cpu".into(), json!({ "count": range_shape(&cpu.count) }));
        }
        if let Some(memory) = &r.memory {
            res.insert("memory".into(), mem_range(memory));
        }
        if let Some(disk) = &r.disk {
            res.insert("disk".into(), json!({ "size": mem_range(&disk.size) }));
        }
        if let Some(shm) = &r.shm_size {
            res.insert("shm_size".into(), json!(shm.gb()));
        }
        out.insert("resources".into(), Value::Object(res));
    }
    if let Some(common) = config.run_common() {
        if let Some(python) = &common.python {
            out.insert("python".into(), json!(python));
        }
        if let Some(image) = &common.image {
            out.insert("image".into(), json!(image));
        }
        if !common.env.0.is_empty() {
            let names: BTreeSet<&str> = common.env.0.iter().map(|e| e.name.as_str()).collect();
            out.insert("env".into(), json!(names));
        }
    }
    match config {
        Configuration::Task(t) => {
            if let Some(n) = t.nodes {
                out.insert("nodes".into(), json!(n));
            }
        }
        Configuration::Service(s) => {
            out.insert("port".into(), json!(s.port.container));
            if let Some(r) = &s.replicas {
                out.insert("replicas".into(), range_shape(r));
            }
        }
        Configuration::Fleet(f) => {
            if let Some(n) = &f.nodes {
                out.insert(
                    "nodes".into(),
                    json!({ "min": n.min, "target": n.target, "max": n.max }),
                );
            }
        }
        _ => {}
    }
    Value::Object(out)
}

fn range_shape(r: &Range<u32>) -> Value {
    json!({ "min": r.min, "max": r.max })
}

fn mem_range(r: &Range<Memory>) -> Value {
    json!({ "min": r.min.map(|m| m.gb()), "max": r.max.map(|m| m.gb()) })
}

fn gpu_shape(gpu: &GpuSpec) -> Value {
    json!({
        "vendor": gpu.vendor.map(|v| v.as_str()),
        "name": (!gpu.names.is_empty()).then(|| gpu.names.clone()),
        "count": range_shape(&gpu.count),
        "memory": gpu.memory.as_ref().map(mem_range),
        "total_memory": gpu.total_memory.as_ref().map(mem_range),
    })
}

/// dstack's parsed values, normalised to the same shape (defaults it omits
/// filled in, env values dropped).
fn their_shape(parsed: &Value, ours: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in ["type", "name", "python", "image", "nodes", "replicas"] {
        if let Some(v) = parsed.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(Value::Object(env)) = parsed.get("env") {
        let names: BTreeSet<&String> = env.keys().collect();
        out.insert("env".into(), json!(names));
    }
    if let Some(port) = parsed.get("port") {
        out.insert("port".into(), port["container_port"].clone());
    }
    if let (Some(n), "fleet") = (parsed.get("nodes"), parsed["type"].as_str().unwrap_or("")) {
        out.insert(
            "nodes".into(),
            json!({ "min": n.get("min").cloned().unwrap_or(json!(0)), "target": n.get("target"), "max": n.get("max") }),
        );
    }
    if let Some(Value::Object(r)) = parsed.get("resources") {
        let mut res = r.clone();
        if let Some(Value::Object(gpu)) = res.get_mut("gpu") {
            gpu.entry("count")
                .or_insert(json!({ "min": 1, "max": null }));
            for key in ["vendor", "name", "memory", "total_memory"] {
                gpu.entry(key).or_insert(Value::Null);
            }
            gpu.remove("compute_capability");
        }
        out.insert("resources".into(), Value::Object(res));
    }
    // Keys we do not model in this comparison are dropped from both sides.
    let ours_keys: BTreeSet<&String> = ours
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    out.retain(|k, _| ours_keys.contains(k) || ["type", "name"].contains(&k.as_str()));
    Value::Object(out)
}

#[test]
fn values_read_agree_with_dstack() {
    let mut mismatches = Vec::new();
    for entry in index().iter().filter(|e| e["dstack_parsed"].is_object()) {
        let rel = entry["file"].as_str().unwrap_or_default();
        let loaded = load(rel);
        let Some(config) = loaded.config() else {
            continue;
        };
        let ours = dstack_shape(config);
        let theirs = their_shape(&entry["dstack_parsed"], &ours);
        if ours != theirs {
            mismatches.push(format!("{rel}\n  ours:   {ours}\n  dstack: {theirs}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatch(es):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn corpus_copy_is_present() {
    assert!(Path::new(&corpus_dir()).join("index.json").exists());
}

#[test]
fn accepted_files_match_the_json_schema() {
    use dstack_schemas::config::schema::schema_for;
    use dstack_schemas::diag::SourceFile;
    use dstack_schemas::yaml::{Limits, parse_str};
    let schema = schema_for("configuration").expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let mut failures = Vec::new();
    for entry in index()
        .iter()
        .filter(|e| e["dstack_accepts"] == json!(true) && e["intent"].is_null())
    {
        let rel = entry["file"].as_str().unwrap_or_default();
        let text = std::fs::read_to_string(corpus_dir().join(rel)).expect("read");
        let node = parse_str(&SourceFile::new(rel, text), &Limits::default()).expect("yaml");
        let errors: Vec<String> = validator
            .iter_errors(&node.to_json())
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            failures.push(format!("{rel}: {errors:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} file(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
