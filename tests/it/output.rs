//! Writing output never panics: every command family, with its standard
//! output a pipe nobody reads (closed before the command starts) and with
//! it `/dev/full`. A closed pipe ends the command quietly with exit 141 (as
//! SIGPIPE would); any other write error is said on stderr with exit 1.

use std::process::{Output, Stdio};

use crate::jobs::{JobProject, text};

const TASK: &str = "type: task\nname: hello\ncommands:\n  - seq 1 3000\n";
const VOLUME: &str = "type: volume\nname: data\nbackend: local\nregion: local\nsize: 1GB\n";
const WORKFLOWS: &str = "workflows:\n  - name: build\n    commands:\n      - mkdir -p out\n      - echo built > out/a.txt\n    artifacts: [out]\n";

/// A project with a finished task (and its log), a volume, a finished
/// workflow run with artifacts: something for every command to print.
fn project() -> JobProject {
    let p = JobProject::new("output");
    p.write("hello.dstack.yml", TASK);
    p.write("data.dstack.yml", VOLUME);
    p.write(".dstack/workflows.yaml", WORKFLOWS);
    let out = p.dstack(&["apply", "-y"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = p.dstack(&["run", "build"]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    p
}

/// Every command family, each with something to print.
const COMMANDS: &[&[&str]] = &[
    &["validate"],
    &["validate", "--format", "json"],
    &["schema"],
    &["schema", "task"],
    &["plan"],
    &["plan", "--format", "json"],
    &["plan", "--format", "markdown"],
    &["plan", "--destroy"],
    &["apply", "-y"],
    &["offer"],
    &["state", "list"],
    &["state", "list", "--json"],
    &["state", "show", "volume/data"],
    &["state", "history"],
    &["ps", "-a"],
    &["ps", "-a", "--json"],
    &["logs", "hello"],
    &["attach", "hello"],
    &["stop", "hello", "-y"],
    &["fleet"],
    &["fleet", "get", "local", "--json"],
    &["volume", "-v"],
    &["volume", "get", "data"],
    &["gateway", "--json"],
    &["ps", "-a", "-v"],
    &["run", "get", "hello"],
    &["run", "get", "hello", "--json"],
    &["completion", "bash"],
    &["artifacts", "list", "build-1"],
    &["run", "build"],
];

fn run(p: &JobProject, args: &[&str], stdout: Stdio) -> Output {
    p.command(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("dstack runs")
}

fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    writer.into()
}

fn dev_full() -> Stdio {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full opens")
        .into()
}

#[test]
fn output_errors_never_panic_a_closed_pipe_is_quiet_and_a_full_device_is_an_error() {
    let p = project();
    let mut wrong = Vec::new();
    for args in COMMANDS {
        let out = run(&p, args, closed_pipe());
        let stderr = text(&out.stderr);
        if out.status.code() != Some(141) || stderr.contains("panicked") {
            wrong.push(format!(
                "dstack {} | (closed): exit {:?}, stderr:\n{stderr}",
                args.join(" "),
                out.status.code()
            ));
        }
        let out = run(&p, args, dev_full());
        let stderr = text(&out.stderr);
        if out.status.code() != Some(1)
            || stderr.contains("panicked")
            || !stderr.contains("error: cannot write to standard output: No space left on device")
        {
            wrong.push(format!(
                "dstack {} > /dev/full: exit {:?}, stderr:\n{stderr}",
                args.join(" "),
                out.status.code()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn an_apply_whose_plan_cannot_be_shown_changes_nothing() {
    let p = JobProject::new("output-nothing");
    p.write("data.dstack.yml", VOLUME);
    let out = run(&p, &["apply", "-y"], dev_full());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!p.dir.join(".dstack/volumes/data").exists(), "{stderr}");
    let out = p.dstack(&["state", "list"]);
    assert!(
        text(&out.stdout).contains("No resources recorded."),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_apply_whose_reader_goes_away_midway_finishes_its_steps() {
    let p = JobProject::new("output-midway");
    p.write(
        ".dstack/backends.yml",
        "backends:\n  - type: fake\n    name: aws\n    state_file: fake-cloud.json\n    latency_ms: 400\nlocal:\n  runtime: fake\n",
    );
    p.write("pool.dstack.yml", "type: fleet\nname: pool\nnodes: 2\n");
    let mut child = p
        .command(&["apply", "-y"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dstack runs");
    let mut reader = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut seen = String::new();
    while !seen.contains("Creating...") {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).expect("read");
        assert!(n > 0, "apply ended before creating anything:\n{seen}");
        seen.push_str(&line);
    }
    // The reader goes away while the instances are being created.
    drop(reader);
    let out = child.wait_with_output().expect("apply ends");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{seen}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = p.dstack(&["state", "list"]);
    let listed = text(&out.stdout);
    for address in ["fleet/pool/instance/0", "fleet/pool/instance/1"] {
        assert!(listed.contains(address), "{address} missing:\n{listed}");
    }
    let out = p.dstack(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}
