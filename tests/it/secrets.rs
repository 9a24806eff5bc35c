//! Secrets of `apply` on this machine: the local runner the CLI starts does
//! not inherit the CLI's `DSTACK_SECRET_*`, and no file under `.dstack`
//! (state, runner records, logs) holds a secret's value, while the job
//! runs and after it ends; the runner's job folders are private.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::jobs::{JobProject, text};

const SECRET: &str = "cli-secret-90210";

fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
            found.push(path);
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn the_local_runner_gets_no_cli_secret_and_job_files_are_private() {
    let p = JobProject::new("secrets");
    p.write(
        "sec.dstack.yml",
        "type: task\nname: sec\nenv:\n  - TOKEN=${{ secrets.API_TOKEN }}\ncommands:\n  - test \"${TOKEN#cli-secret-}\" = 90210 && echo has-it\n  - sleep 600\n",
    );
    let out = p
        .command(&["apply", "-y", "-d"])
        .env("DSTACK_SECRET_API_TOKEN", SECRET)
        .env("DSTACK_SECRET_OTHER", "unused-other-secret")
        .output()
        .expect("dstack runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    p.wait_status("sec", &["running"]);
    let pid = p.runner_pid().expect("the runner runs");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("runner environ");
    let names: Vec<String> = environ
        .split(|&b| b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .filter(|v| v.starts_with("DSTACK_SECRET_"))
        .collect();
    assert_eq!(names, Vec::<String>::new(), "the runner inherited secrets");
    let jobs = p.dir.join(".dstack/runner/jobs");
    let job_dir = std::fs::read_dir(&jobs)
        .expect("jobs")
        .flatten()
        .next()
        .expect("one job")
        .path();
    assert_eq!(mode(&jobs), 0o700);
    assert_eq!(mode(&job_dir), 0o700);
    assert_eq!(mode(&job_dir.join("submission.json")), 0o600);
    let dot = p.dir.join(".dstack");
    assert_eq!(
        files_holding(&dot, SECRET.as_bytes()),
        Vec::<PathBuf>::new()
    );
    let stop = p.dstack(&["stop", "sec", "--abort", "-y"]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    let logs = p.dstack(&["logs", "sec"]);
    assert_eq!(text(&logs.stdout), "has-it\n", "the job had the secret");
    assert_eq!(
        files_holding(&dot, SECRET.as_bytes()),
        Vec::<PathBuf>::new()
    );
}
