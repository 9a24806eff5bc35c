//! Every file in `examples/` is valid, and valid against the generated JSON
//! Schema too (so the schema accepts real configurations).

use dstack_schemas::config::load_config;
use dstack_schemas::config::schema::schema_for;
use dstack_schemas::diag::SourceFile;
use dstack_schemas::yaml::{Limits, parse_str};

use crate::harness::{dstack, root};

fn example_files() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root().join("examples")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("examples dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                // Skip what running the examples leaves in `.dstack/`.
                if !dir.ends_with(".dstack") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn examples_validate() {
    let out = dstack(&["validate", "-f", "examples"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "task",
        "service",
        "dev-environment",
        "fleet",
        "volume",
        "gateway",
        "workflow",
    ] {
        assert!(stdout.contains(kind), "no {kind} example:\n{stdout}");
    }
}

#[test]
fn examples_match_the_json_schema() {
    let schema = schema_for("configuration").expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let mut checked = 0;
    for path in example_files() {
        let text = std::fs::read_to_string(&path).expect("read example");
        let loaded = load_config(&path.display().to_string(), text.as_bytes());
        if loaded.config().is_none() {
            continue; // 2022 workflows have their own schema
        }
        let node =
            parse_str(&SourceFile::new("x", text.clone()), &Limits::default()).expect("yaml");
        let errors: Vec<String> = validator
            .iter_errors(&node.to_json())
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 8);
}

#[test]
fn schema_rejects_a_typo() {
    let schema = schema_for("configuration").expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let doc = serde_json::json!({"type": "task", "commands": ["x"], "resorces": {}});
    assert!(!validator.is_valid(&doc));
    let doc =
        serde_json::json!({"type": "task", "commands": ["x"], "resources": {"gpu": "A100:2"}});
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}
