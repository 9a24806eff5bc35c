//! `dstack stop`: every run is looked up before anything is asked or
//! stopped, and stopping never hangs: after `--timeout` it says where the
//! run is and what to do.

use std::time::Duration;

use crate::harness::output_within;
use crate::jobs::{JobProject, text};

/// Ignores the graceful stop, and has ten minutes before the kill.
const STUBBORN: &str = "type: task\nname: stubborn\nstop_duration: 10m\ncommands:\n  - trap 'echo got TERM' TERM; while true; do sleep 0.2; done\n";
const LIMIT: Duration = Duration::from_secs(90);

fn started() -> JobProject {
    let p = JobProject::new("stop");
    p.write("stubborn.dstack.yml", STUBBORN);
    p.write(".dstack/backends.yml", "local:\n  runtime: process\n");
    let out = p.dstack(&["apply", "-y", "-d"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    p.wait_status("stubborn", &["running"]);
    p
}

fn said(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[test]
fn stop_finds_every_run_before_asking_or_stopping_and_gives_up_after_its_timeout() {
    let p = started();
    let unknown = output_within(&mut p.command(&["stop", "nosuch"]), LIMIT);
    let mixed = output_within(&mut p.command(&["stop", "stubborn", "nosuch", "-y"]), LIMIT);
    assert_eq!(
        p.run_status("stubborn")["status"],
        "running",
        "{}",
        said(&mixed)
    );
    let gave_up = output_within(
        &mut p.command(&["stop", "stubborn", "-y", "--timeout", "2s"]),
        LIMIT,
    );
    let aborted = output_within(
        &mut p.command(&["stop", "stubborn", "-y", "--abort"]),
        LIMIT,
    );
    let aborted_text = said(&aborted);
    assert_eq!(aborted.status.code(), Some(0), "{aborted_text}");
    assert!(
        aborted_text.starts_with("exit Some(0)\nrun/stubborn: aborted ("),
        "{aborted_text}"
    );
    insta::assert_snapshot!(
        "stop",
        [
            format!("$ dstack stop nosuch\n{}", said(&unknown)),
            format!("$ dstack stop stubborn nosuch -y\n{}", said(&mixed)),
            format!("$ dstack stop stubborn -y --timeout 2s\n{}", said(&gave_up)),
        ]
        .join("\n")
    );
}
