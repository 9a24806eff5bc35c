//! Golden snapshots of what `dstack validate` prints for every invalid
//! input: our own cases (`tests/cases/invalid/`) and the corpus's broken
//! files. Colour off, fixed width, exactly as a user sees it.

use crate::harness::{dstack, root};

fn render(rel: &str) -> String {
    let out = dstack(&["validate", "-f", rel]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{rel} should be invalid (exit 3)"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    format!("{stderr}---\n{stdout}")
}

#[test]
fn invalid_cases() {
    insta::glob!("../cases/invalid", "*.yml", |path| {
        let rel = path
            .strip_prefix(root())
            .expect("case under root")
            .display()
            .to_string();
        insta::assert_snapshot!(render(&rel));
    });
}

#[test]
fn corpus_bad_files() {
    insta::glob!("../corpus/bad", "*.yml", |path| {
        let rel = path
            .strip_prefix(root())
            .expect("case under root")
            .display()
            .to_string();
        if rel.ends_with("json-object.dstack.yml") {
            return; // an edge case that is valid
        }
        insta::assert_snapshot!(render(&rel));
    });
}

#[test]
fn corpus_rejected_files() {
    insta::glob!("../corpus/rejected-by-dstack", "*.yml", |path| {
        let rel = path
            .strip_prefix(root())
            .expect("case under root")
            .display()
            .to_string();
        insta::assert_snapshot!(render(&rel));
    });
}
