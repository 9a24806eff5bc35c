//! `dstack logs RUN --replica N --job N --since WHEN`, `dstack attach RUN`
//! (from now) and `--logs` (from the start), and Ctrl+C while attached
//! asking whether to stop the run (answered on a piped stdin).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::jobs::{JobProject, text};

/// Prints `tick N` every 0.2 s, forever.
const TICKER: &str = "type: task\nname: ticker\ncommands:\n  - i=0; while true; do i=$((i+1)); echo \"tick $i\"; sleep 0.2; done\n";
/// Prints `early`, then `late` three seconds later, and ends.
const EARLY_LATE: &str =
    "type: task\nname: el\ncommands:\n  - echo early\n  - sleep 3\n  - echo late\n";

/// A project on this machine's processes, with `config` applied (`-d`).
pub fn project(name: &str, file: &str, config: &str) -> JobProject {
    let p = JobProject::new(name);
    p.write(file, config);
    p.write(".dstack/backends.yml", "local:\n  runtime: process\n");
    let out = p.dstack(&["apply", "-y", "-d"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    p
}

fn logs(p: &JobProject, args: &[&str]) -> (Option<i32>, String) {
    let out = p.dstack(&[&["logs"][..], args].concat());
    (
        out.status.code(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// Waits until `dstack logs RUN` shows `line`.
fn wait_for_line(p: &JobProject, run: &str, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !logs(p, &[run]).1.lines().any(|l| l == line) {
        assert!(Instant::now() < deadline, "{run} never printed {line}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn logs_since_keeps_later_lines_and_replica_job_pick_the_job() {
    let p = project("logs-since", "el.dstack.yml", EARLY_LATE);
    wait_for_line(&p, "el", "early");
    let mid = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    p.wait_status("el", &["done"]);
    assert_eq!(
        logs(&p, &["el", "--since", &mid]),
        (Some(0), "late\n".into())
    );
    assert_eq!(
        logs(&p, &["el", "--since", "1h"]),
        (Some(0), "early\nlate\n".into())
    );
    assert_eq!(
        logs(
            &p,
            &[
                "el",
                "--replica",
                "0",
                "--job",
                "0",
                "--since",
                "2000-01-01T00:00:00Z"
            ]
        ),
        (Some(0), "early\nlate\n".into())
    );
    let no_replica = logs(&p, &["el", "--replica", "1"]);
    let bad_since = logs(&p, &["el", "--since", "yesterday"]);
    assert_eq!(no_replica.0, Some(64));
    assert_eq!(bad_since.0, Some(64));
    insta::assert_snapshot!(
        "logs_replica_since_errors",
        format!(
            "$ dstack logs el --replica 1\n{}\n$ dstack logs el --since yesterday\n{}",
            no_replica.1, bad_since.1
        )
    );
}

/// `dstack attach ARGS` with a piped stdin, and its stdout lines as they come.
fn attach(p: &JobProject, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = p
        .command(&[&["attach"][..], args].concat())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("attach runs");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Lines until `n` of them came.
fn first_lines(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(60))
                .expect("a log line")
        })
        .collect()
}

/// Ctrl+C, then `answer` on stdin; the exit code and stderr.
fn interrupt(mut child: Child, answer: &str) -> (Option<i32>, String) {
    std::thread::sleep(Duration::from_millis(300));
    let pid = child.id() as i32;
    assert_eq!(send_sigint(pid), 0, "SIGINT sent");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(answer.as_bytes()).expect("answer");
    drop(stdin);
    let out = child.wait_with_output().expect("attach ends");
    (out.status.code(), text(&out.stderr))
}

/// Ctrl+C, as a terminal sends it (`kill -INT`).
fn send_sigint(pid: i32) -> i32 {
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .map_or(-1, |s| s.code().unwrap_or(-1))
}

fn tick_number(line: &str) -> u32 {
    line.strip_prefix("tick ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a tick: {line}"))
}

#[test]
fn attach_follows_from_now_or_replays_and_ctrl_c_asks_to_stop() {
    let p = project("attach-follow", "ticker.dstack.yml", TICKER);
    wait_for_line(&p, "ticker", "tick 5");
    let (child, rx) = attach(&p, &["ticker"]);
    let from_now = first_lines(&rx, 2);
    assert!(
        tick_number(&from_now[0]) > 5,
        "attach replayed old lines: {from_now:?}"
    );
    let (code, stderr) = interrupt(child, "n\n");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("Interrupted. Stop run/ticker? [y/N]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Detached from run/ticker; it keeps running."),
        "{stderr}"
    );
    assert_eq!(p.run_status("ticker")["status"], "running");

    let (child, rx) = attach(&p, &["ticker", "--logs"]);
    assert_eq!(first_lines(&rx, 2), ["tick 1", "tick 2"], "--logs replays");
    let (code, stderr) = interrupt(child, "\n");
    assert_eq!(code, Some(0), "{stderr}");
    let (child, rx) = attach(&p, &["ticker", "--since", "1h"]);
    assert_eq!(
        first_lines(&rx, 1),
        ["tick 1"],
        "--since 1h replays the last hour"
    );
    let (code, stderr) = interrupt(child, "y\n");
    assert_eq!(code, Some(0), "{stderr}");
    let status = p.wait_status("ticker", &["terminated", "stopped", "done", "failed"]);
    assert_ne!(status["status"], "running", "{status}");
}
