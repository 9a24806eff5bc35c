//! A job's log belongs to its submission: a run that runs again (by
//! `--replace`, or because its configuration changed) shows its own output,
//! `dstack logs` shows the latest submission and `--submission N` the
//! earlier ones, and `apply` exits with the new job's exit code.

use std::time::{Duration, Instant};

use crate::jobs::{JobProject, text};

/// A task printing a nonce unique to each run, then exiting with `code`.
fn nonce_task(label: &str, code: i32) -> String {
    format!(
        "type: task\nname: rr\ncommands:\n  - echo \"{label} $(date +%s%N)\"\n  - echo \"{label} done\"\n  - exit {code}\n"
    )
}

/// The nonce line a run printed (the first line starting with `label`).
fn nonce_line(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with(label) && !l.ends_with(" done"))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"))
        .to_string()
}

fn logs(p: &JobProject, args: &[&str]) -> String {
    let mut all = vec!["logs", "rr"];
    all.extend(args);
    let out = p.dstack(&all);
    assert!(out.status.success(), "logs {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn a_replaced_run_shows_its_own_log_and_earlier_ones_on_request() {
    let p = JobProject::new("rerun-replace");
    p.write("r.dstack.yml", &nonce_task("nonce", 0));
    let first = p.dstack(&["apply", "-y"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let a = nonce_line(&text(&first.stdout), "nonce");

    let second = p.dstack(&["apply", "-y", "--replace", "run/rr"]);
    let stdout = text(&second.stdout);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&second.stderr)
    );
    let b = nonce_line(&stdout, "nonce");
    assert_ne!(a, b, "the second apply printed the first run's log");
    assert!(!stdout.contains(&a), "{stdout}");

    assert_eq!(
        logs(&p, &[]),
        format!("{b}\nnonce done\n"),
        "latest by default"
    );
    assert_eq!(
        logs(&p, &["--submission", "0"]),
        format!("{a}\nnonce done\n")
    );
    assert_eq!(
        logs(&p, &["--submission", "1"]),
        format!("{b}\nnonce done\n")
    );
    let missing = p.dstack(&["logs", "rr", "--submission", "2"]);
    assert_eq!(missing.status.code(), Some(64));
    assert_eq!(
        text(&missing.stderr),
        "error: run/rr/job/0 has no submission 2; it has 0 and 1 (0 is the first)\n"
    );
}

#[test]
fn a_changed_finished_task_runs_again_with_its_own_log_and_exit_code() {
    let p = JobProject::new("rerun-changed");
    p.write("r.dstack.yml", &nonce_task("one", 0));
    let first = p.dstack(&["apply", "-y"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let one = nonce_line(&text(&first.stdout), "one");

    p.write("r.dstack.yml", &nonce_task("two", 7));
    let second = p.dstack(&["apply", "-y"]);
    let stdout = text(&second.stdout);
    assert_eq!(
        second.status.code(),
        Some(7),
        "the new job's exit code: {stdout}\n{}",
        text(&second.stderr)
    );
    let two = nonce_line(&stdout, "two");
    assert!(
        !stdout.lines().any(|l| l.starts_with("one ")),
        "the first run's output again: {stdout}"
    );

    // A third run, detached: its log reaches state by `logs` alone.
    p.write("r.dstack.yml", &nonce_task("three", 0));
    let third = p.dstack(&["apply", "-y", "-d"]);
    assert!(third.status.success(), "{}", text(&third.stderr));
    let deadline = Instant::now() + Duration::from_secs(30);
    let three = loop {
        let shown = logs(&p, &[]);
        if shown.ends_with("three done\n") {
            break nonce_line(&shown, "three");
        }
        assert!(
            Instant::now() < deadline,
            "the third run never ended: {shown}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        logs(&p, &["--submission", "0"]),
        format!("{one}\none done\n")
    );
    assert_eq!(
        logs(&p, &["--submission", "1"]),
        format!("{two}\ntwo done\n")
    );
    assert_eq!(
        logs(&p, &["--submission", "2"]),
        format!("{three}\nthree done\n")
    );
}

#[test]
fn a_job_replaced_while_running_keeps_its_log() {
    let p = JobProject::new("rerun-running");
    p.write(
        "r.dstack.yml",
        "type: task\nname: rr\nstop_duration: 2s\ncommands:\n  - echo \"started $(date +%s%N)\"\n  - sleep 600\n",
    );
    let out = p.dstack(&["apply", "-y", "-d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    p.wait_status("rr", &["running"]);
    // Nothing copied its log yet; the replacement stops it.
    let out = p.dstack(&["apply", "-y", "-d", "--replace", "run/rr"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(30);
    let (first, second) = loop {
        let first = logs(&p, &["--submission", "0"]);
        let second = logs(&p, &[]);
        if !first.is_empty() && !second.is_empty() {
            break (first, second);
        }
        assert!(Instant::now() < deadline, "logs: {first:?} {second:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(first.starts_with("started "), "{first}");
    assert!(second.starts_with("started "), "{second}");
    assert_ne!(first, second);
    let stop = p.dstack(&["stop", "rr", "-y"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
}
