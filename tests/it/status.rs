//! One status, one source: `state list` and `ps` say the same about a run,
//! whichever runs first after the job ended.

use std::time::{Duration, Instant};

use crate::jobs::{JobProject, text};

/// The STATUS column of `state list` for `address`.
fn listed_status(p: &JobProject, address: &str) -> String {
    let out = p.dstack(&["state", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(address))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no {address} in:\n{stdout}"))
        .to_string()
}

#[test]
fn state_list_and_ps_agree_on_a_finished_run() {
    let p = JobProject::new("one-status");
    p.write(
        "q.dstack.yml",
        "type: task\nname: quick\ncommands: [echo hi]\n",
    );
    let out = p.dstack(&["apply", "-y", "-d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Only `state list` looks: it must see the job end by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    while listed_status(&p, "run/quick") != "done" {
        assert!(
            Instant::now() < deadline,
            "state list still says {} for run/quick",
            listed_status(&p, "run/quick")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(listed_status(&p, "run/quick/job/0"), "done");
    assert_eq!(p.run_status("quick")["status"], "done");
}
