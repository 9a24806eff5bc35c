//! The state file as users damage it: emptied, its pages corrupted, made
//! read-only, or pointed at a directory that does not exist. Damage is
//! exit 9 naming the file and the backup to restore; a read-only file
//! still serves every command that only reads; nothing but a command that
//! changes state creates one.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::harness::{dstack_bin, root};
use crate::jobs::{JobProject, text};
use crate::plan_cases::CaseProject;

fn project(name: &str) -> CaseProject {
    let case = root().join("tests/cases/plan/cheapest-offer-first");
    let p = CaseProject::new(name, &case);
    p.use_configs(&case.join("after"));
    p
}

fn applied(name: &str) -> CaseProject {
    let p = project(name);
    let out = p.dstack(&["apply", "-y"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    p
}

fn lineage(p: &CaseProject) -> String {
    let out = p.dstack(&["plan", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan json");
    plan["lineage"].as_str().expect("lineage").to_string()
}

/// Live fake-cloud resources per address.
fn alive(p: &CaseProject) -> BTreeMap<String, usize> {
    let cloud: serde_json::Value =
        dstack_provider::fake::FakeProvider::document(p.dir.join(".dstack/fake-cloud.json"))
            .expect("fake cloud file");
    let mut out = BTreeMap::new();
    for r in cloud["resources"].as_object().expect("resources").values() {
        if r["status"] != "terminated" {
            let address = r["tags"]["dstack:address"].as_str().unwrap_or("?");
            *out.entry(address.to_string()).or_default() += 1;
        }
    }
    out
}

#[test]
fn an_emptied_state_file_is_refused_and_its_backup_restores_it() {
    let p = applied("emptied");
    let db = p.dir.join(".dstack/state.db");
    let backup = p.dir.join(".dstack/state.db.backup");
    // Taken at the start of the first apply: before it created anything.
    let early = p.dir.join("early.db");
    std::fs::copy(&backup, &early).expect("keep the first backup");
    let again = p.dstack(&["apply", "-y"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let before = lineage(&p);
    std::fs::write(&db, b"").expect("truncate");
    for args in [&["plan"][..], &["apply", "-y"], &["state", "list"]] {
        let out = p.dstack(args);
        assert_eq!(
            out.status.code(),
            Some(9),
            "{args:?}: {}",
            text(&out.stderr)
        );
        insta::assert_snapshot!("emptied", text(&out.stderr));
    }
    assert_eq!(
        std::fs::metadata(&db).expect("state").len(),
        0,
        "left as it is"
    );
    std::fs::copy(&backup, &db).expect("restore");
    assert_eq!(lineage(&p), before, "the backup is the same state");
    let plan = p.dstack(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stdout));
    // An older copy lacks what was created after it: adopted, not made again.
    std::fs::copy(&early, &db).expect("restore the older copy");
    let cloud = alive(&p);
    let out = p.dstack(&["apply", "-y"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("tagged by this state but not recorded (its row was lost)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(alive(&p), cloud, "nothing created twice");
    let plan = p.dstack(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan.stdout));
}

#[test]
fn corrupt_pages_are_exit_9_naming_the_file() {
    let p = applied("pages");
    let db = p.dir.join(".dstack/state.db");
    let mut bytes = std::fs::read(&db).expect("state");
    assert!(bytes.len() > 4 * 4096, "a state of several pages");
    for (i, b) in bytes[4096..].iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    std::fs::write(&db, &bytes).expect("damage");
    for args in [&["plan"][..], &["state", "list"], &["apply", "-y"]] {
        let out = p.dstack(args);
        assert_eq!(
            out.status.code(),
            Some(9),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.starts_with("error: state at ./.dstack/state.db is unreadable: "),
            "{stderr}"
        );
        assert!(
            stderr.contains("cp ./.dstack/state.db.backup ./.dstack/state.db"),
            "{stderr}"
        );
    }
    assert_eq!(std::fs::read(&db).expect("state"), bytes, "left as it is");
}

/// Runs `dstack ARGS` in `dir` as a user who may not write files it does
/// not have write permission for (root drops its override).
fn unprivileged(dir: &Path, args: &[&str]) -> Output {
    let root = std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--bounding-set",
            "-dac_override,-dac_read_search,-fowner",
            "--",
        ])
        .arg(dstack_bin());
        c
    } else {
        Command::new(dstack_bin())
    };
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("DSTACK_NOW", "2026-11-23T00:00:00Z")
        .env_remove("DSTACK_PROJECT_DIR")
        .output()
        .expect("dstack runs (root needs setpriv from util-linux)")
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_read_only_state_serves_reads_and_names_the_permission_for_writes() {
    let p = JobProject::new("read-only");
    p.write(
        "t.dstack.yml",
        "type: task\nname: tk\ncommands: [echo kept]\n",
    );
    let out = p.dstack(&["apply", "-y"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dot = p.dir.join(".dstack");
    for f in std::fs::read_dir(&dot).expect("dir").flatten() {
        if f.file_name().to_string_lossy().starts_with("state.db") {
            set_mode(&f.path(), 0o444);
        }
    }
    set_mode(&dot, 0o555);
    let reads: &[(&[&str], &str)] = &[
        (&["plan"], "No changes."),
        (&["ps", "-a"], "exited (0)"),
        (&["logs", "tk"], "kept\n"),
        (&["state", "list"], "run/tk/job/0"),
        (&["state", "show", "run/tk"], "\"address\": \"run/tk\""),
        (&["state", "history"], "apply"),
        (&["offer"], ""),
    ];
    for (args, shown) in reads {
        let out = unprivileged(&p.dir, args);
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(stdout.contains(shown), "{args:?}: {stdout}");
    }
    let apply = unprivileged(&p.dir, &["apply", "-y", "--replace", "run/tk"]);
    let stderr = text(&apply.stderr);
    assert_eq!(apply.status.code(), Some(9), "{stderr}");
    insta::assert_snapshot!("read_only_apply", stderr);
    // Not even readable: said so, not called damage.
    set_mode(&dot.join("state.db"), 0o000);
    let plan = unprivileged(&p.dir, &["plan"]);
    set_mode(&dot, 0o755);
    assert_eq!(plan.status.code(), Some(9), "{}", text(&plan.stderr));
    assert!(
        text(&plan.stderr)
            .starts_with("error: state at ./.dstack/state.db cannot be read: Permission denied"),
        "{}",
        text(&plan.stderr)
    );
}

#[test]
fn only_commands_that_change_state_create_it() {
    let p = project("missing-dir");
    let state = p.dir.join("elsewhere/a/b/state.db");
    let flag = state.to_string_lossy().into_owned();
    for args in [
        &["plan", "--state", &flag][..],
        &["ps", "--state", &flag],
        &["state", "list", "--state", &flag],
        &["offer", "--state", &flag],
    ] {
        let out = p.dstack(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!p.dir.join("elsewhere").exists(), "{args:?} created state");
    }
    assert!(!p.dir.join(".dstack/state.db").exists());
    let out = p.dstack(&["apply", "-y", "--state", &flag]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        state.exists(),
        "apply creates the state and its directories"
    );
    let names: Vec<String> = std::fs::read_dir(state.parent().expect("dir"))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("state.db"))
        .collect();
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[test]
fn another_states_resources_are_refused_not_created_again() {
    let p = applied("other-lineage");
    let old = lineage(&p);
    let dot = p.dir.join(".dstack");
    std::fs::rename(dot.join("state.db"), p.dir.join("moved-away.db")).expect("move");
    std::fs::remove_file(dot.join("state.db.backup")).expect("no backup");
    let cloud = alive(&p);
    for args in [&["plan"][..], &["apply", "-y"]] {
        let out = p.dstack(args);
        assert_eq!(
            out.status.code(),
            Some(9),
            "{args:?}: {}",
            text(&out.stdout)
        );
        let stderr = crate::plan_cases::redact(&text(&out.stderr)).replace(&old, "[lineage]");
        insta::assert_snapshot!("refused", stderr);
    }
    assert_eq!(alive(&p), cloud, "nothing created");
}
