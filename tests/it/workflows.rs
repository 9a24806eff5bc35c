//! `dstack run` of 2022 workflows on the local runner: a three-workflow
//! graph with artifacts passed along, independent workflows in parallel,
//! the cached rerun, variables, failures and cycles.

use serde_json::Value;

use crate::jobs::{JobProject, text};

/// `left` and `right` are independent; `join` needs both artifacts.
const DIAMOND: &str = r#"workflows:
  - name: left
    commands:
      - mkdir -p out/left
      - echo "left ${{ size }}" > out/left/value.txt
      - sleep 1
      - echo left done
    artifacts:
      - out/left
  - name: right
    commands:
      - mkdir -p out/right
      - echo right > out/right/value.txt
      - sleep 1
    artifacts: [out/right]
  - name: join
    deps:
      - workflow: left
      - workflow: right
    commands:
      - cat out/left/value.txt out/right/value.txt
      - mkdir -p result && cat out/*/value.txt > result/joined.txt
    artifacts: [result]
"#;

const VARIABLES: &str = "variables:\n  left:\n    size: 10\n";

fn project(name: &str) -> JobProject {
    let p = JobProject::new(name);
    p.write(".dstack/workflows.yaml", DIAMOND);
    p.write(".dstack/variables.yaml", VARIABLES);
    p
}

fn runner_jobs(p: &JobProject) -> usize {
    std::fs::read_dir(p.dir.join(".dstack/runner/jobs"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn run_json(p: &JobProject, run: &str) -> Value {
    p.run_status(run)
}

fn started_finished(p: &JobProject, run: &str, workflow: &str) -> (i64, i64) {
    // The runner's record of the job: its own start and end times.
    let jobs = p.dir.join(".dstack/runner/jobs");
    for entry in std::fs::read_dir(jobs).unwrap().flatten() {
        let info: Value =
            serde_json::from_str(&std::fs::read_to_string(entry.path().join("info.json")).unwrap())
                .unwrap();
        if info["job_name"] == format!("{run}-{workflow}") {
            return (
                info["started_at"].as_i64().unwrap(),
                info["finished_at"].as_i64().unwrap(),
            );
        }
    }
    panic!("no runner job for {run}/{workflow}");
}

#[test]
fn a_three_workflow_graph_passes_artifacts_and_reruns_from_cache() {
    let p = project("dag");
    let out = p.dstack(&["run", "join"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("[join] left 10\n[join] right\n"),
        "{stdout}"
    );
    let run = run_json(&p, "join-1");
    assert_eq!(run["status"], "done");
    assert_eq!(run["jobs"].as_array().unwrap().len(), 3);
    // Independent workflows ran at the same time.
    let (ls, lf) = started_finished(&p, "join-1", "left");
    let (rs, rf) = started_finished(&p, "join-1", "right");
    assert!(
        ls < rf && rs < lf,
        "left {ls}..{lf} and right {rs}..{rf} overlap"
    );
    let (js, _) = started_finished(&p, "join-1", "join");
    assert!(js >= lf.max(rf), "join starts after both deps");
    // Artifacts are listed and downloadable.
    let list = p.dstack(&["artifacts", "list", "join-1", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&list.stdout).unwrap();
    let mut paths: Vec<&str> = rows.iter().map(|r| r["path"].as_str().unwrap()).collect();
    paths.sort();
    assert_eq!(paths, ["out/left", "out/right", "result"]);
    assert_eq!(rows.len(), 3);
    // (Downloaded outside the project: files in it are the repo, an input.)
    let outside = tempfile::tempdir().unwrap();
    let dl_dir = outside.path().join("dl");
    let dl = p.dstack(&[
        "artifacts",
        "download",
        "join-1",
        "-w",
        "join",
        "-o",
        dl_dir.to_str().unwrap(),
    ]);
    assert!(dl.status.success(), "{}", text(&dl.stderr));
    assert_eq!(
        std::fs::read_to_string(dl_dir.join("join/result/joined.txt")).unwrap(),
        "left 10\nright\n"
    );

    // Same inputs: every job is reused, no runner job is started.
    let before = runner_jobs(&p);
    let again = p.dstack(&["run", "join"]);
    let stdout = text(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert_eq!(
        stdout.matches("reused the result of run join-1").count(),
        3,
        "{stdout}"
    );
    assert_eq!(runner_jobs(&p), before, "nothing ran again");
    let run = run_json(&p, "join-2");
    for job in run["jobs"].as_array().unwrap() {
        assert_eq!(job["status"], "done");
        assert_eq!(job["status_message"], "reused (join-1)");
    }
    // The reused run's artifacts are the first run's.
    let dl2 = outside.path().join("dl2");
    let dl = p.dstack(&[
        "artifacts",
        "download",
        "join-2",
        "-w",
        "join",
        "-o",
        dl2.to_str().unwrap(),
    ]);
    assert!(dl.status.success());
    assert_eq!(
        std::fs::read_to_string(dl2.join("join/result/joined.txt")).unwrap(),
        "left 10\nright\n"
    );

    // A variable changes `left`; `right` is reused, `join` runs again on
    // the new artifact.
    let changed = p.dstack(&["run", "join", "--var", "size=20"]);
    let stdout = text(&changed.stdout);
    assert!(changed.status.success(), "{stdout}");
    assert!(
        stdout.contains("[right] reused the result of run join-1"),
        "{stdout}"
    );
    assert!(!stdout.contains("[left] reused"), "{stdout}");
    assert!(stdout.contains("[join] left 20\n"), "{stdout}");
    assert_eq!(runner_jobs(&p), before + 2);
}

#[test]
fn a_failed_workflow_skips_its_dependents_and_sets_the_exit_code() {
    let p = JobProject::new("wf-fail");
    p.write(
        ".dstack/workflows.yaml",
        "workflows:\n  - name: first\n    commands: [echo trying, exit 7]\n  - name: second\n    deps: [{workflow: first}]\n    commands: [echo never]\n",
    );
    let out = p.dstack(&["run", "second"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[second] skipped: dependency `first` did not finish"),
        "{stdout}"
    );
    assert!(!stdout.contains("never"));
    let run = run_json(&p, "second-1");
    assert_eq!(run["status"], "failed");
    let logs = text(&p.dstack(&["logs", "second-1"]).stdout);
    assert_eq!(logs, "[first] trying\n");
}

#[test]
fn cycles_and_unknown_workflows_are_reported_with_places() {
    let p = JobProject::new("wf-cycle");
    p.write(
        ".dstack/workflows.yaml",
        "workflows:\n  - name: a\n    deps: [{workflow: b}]\n    commands: [echo a]\n  - name: b\n    deps: [{workflow: a}]\n    commands: [echo b]\n",
    );
    let out = p.dstack(&["run", "a"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cycle"), "{stderr}");
    assert!(
        stderr.contains("`a` needs `b`") && stderr.contains("`b` needs `a`"),
        "labels both deps lines: {stderr}"
    );
    assert!(
        stderr.contains("3 │     deps: [{workflow: b}]")
            && stderr.contains("6 │     deps: [{workflow: a}]"),
        "{stderr}"
    );
    // The cycle is an error of the file (as `dstack validate` says), so it
    // is reported before any workflow name is looked up.
    let out = p.dstack(&["validate"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("`b` needs `a`"));
    p.write(
        ".dstack/workflows.yaml",
        "workflows:\n  - name: a\n    commands: [echo a]\n  - name: b\n    deps: [{workflow: a}]\n    commands: [echo b]\n",
    );
    let out = p.dstack(&["run", "bb"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("did you mean `b`?"));
}

/// The most of `intervals` (start, end) open at one instant.
fn most_at_once(intervals: &[(i64, i64)]) -> usize {
    intervals
        .iter()
        .map(|&(start, _)| {
            intervals
                .iter()
                .filter(|&&(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn parallelism_bounds_the_jobs_running_at_once() {
    let p = JobProject::new("wf-parallel");
    let mut yaml = String::from("workflows:\n");
    for i in 0..6 {
        yaml.push_str(&format!(
            "  - name: w{i}\n    commands: [echo w{i}, sleep 1]\n"
        ));
    }
    yaml.push_str("  - name: all\n    deps:\n");
    for i in 0..6 {
        yaml.push_str(&format!("      - workflow: w{i}\n"));
    }
    yaml.push_str("    commands: [echo all]\n");
    p.write(".dstack/workflows.yaml", &yaml);

    let out = p.dstack(&["run", "all", "--parallelism", "2"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let intervals: Vec<(i64, i64)> = (0..6)
        .map(|i| started_finished(&p, "all-1", &format!("w{i}")))
        .collect();
    // Never more than two, and two did run together (the limit is not 1).
    assert_eq!(most_at_once(&intervals), 2, "{intervals:?}");
}

#[test]
fn parallelism_must_be_a_positive_count() {
    let p = JobProject::new("wf-parallel-flag");
    p.write(".dstack/workflows.yaml", DIAMOND);
    let out = p.dstack(&["run", "join", "--parallelism", "0"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--parallelism"),
        "{}",
        text(&out.stderr)
    );
}
