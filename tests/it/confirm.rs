//! Confirmation read from a piped standard input: `echo y | dstack apply`
//! accepts, `echo n | dstack apply` declines with exit 11, no input at all
//! says to pass `-y`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::harness::{dstack_bin, root};
use crate::plan_cases::{CaseProject, redact};

/// A project with the `first-apply` configurations on the fake cloud.
pub fn case_project(name: &str) -> CaseProject {
    let case = root().join("tests/cases/plan/first-apply");
    let p = CaseProject::new(name, &case);
    p.use_configs(&case.join("after"));
    p
}

/// `dstack ARGS` in the project with `input` on standard input (`None`:
/// standard input closed at once).
pub fn with_stdin(p: &CaseProject, args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new(dstack_bin())
        .args(args)
        .current_dir(&p.dir)
        .env("NO_COLOR", "1")
        .env("DSTACK_NOW", "2026-11-23T00:00:00Z")
        .env_remove("DSTACK_PROJECT_DIR")
        .env_remove("DSTACK_STATE")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dstack runs");
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("dstack ends")
}

/// Exit code, then the last lines of stdout and stderr.
pub fn tail(out: &Output, lines: usize) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let kept: Vec<&str> = stdout.lines().rev().take(lines).collect();
    let kept: Vec<&str> = kept.into_iter().rev().collect();
    redact(&format!(
        "exit {:?}\n{}\n--- stderr\n{}",
        out.status.code(),
        kept.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn recorded(p: &CaseProject) -> usize {
    let out = p.dstack(&["state", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    rows.as_array().map_or(0, Vec::len)
}

#[test]
fn a_piped_answer_declines_or_accepts_and_no_input_says_pass_y() {
    let p = case_project("confirm-pipe");
    let declined = with_stdin(&p, &["apply"], Some("n\n"));
    assert_eq!(declined.status.code(), Some(11), "{}", tail(&declined, 5));
    assert_eq!(recorded(&p), 0, "a declined apply changed nothing");
    let none = with_stdin(&p, &["apply"], None);
    assert_eq!(none.status.code(), Some(64), "{}", tail(&none, 5));
    assert_eq!(recorded(&p), 0);
    let accepted = with_stdin(&p, &["apply", "-d"], Some("Y\n"));
    assert_eq!(accepted.status.code(), Some(0), "{}", tail(&accepted, 5));
    assert!(recorded(&p) > 0, "an accepted apply created the resources");
    insta::assert_snapshot!(
        "confirm_piped",
        [
            format!("$ echo n | dstack apply\n{}", tail(&declined, 2)),
            format!("$ dstack apply < /dev/null\n{}", tail(&none, 2)),
        ]
        .join("\n")
    );
}
