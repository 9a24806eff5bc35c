//! Files that are not regular (named pipes) never hang the CLI: found by
//! looking around, they are skipped with a warning naming them; named
//! explicitly (`-f`, `files:`, a saved plan, `.dstack/backends.yml`,
//! `.dstack/workflows.yaml`), they are an error naming them.

use std::time::Duration;

use crate::harness::{mkfifo, output_within};
use crate::jobs::{JobProject, text};

const TASK: &str = "type: task\nname: hello\ncommands:\n  - ls\n  - cat data/real.txt\n";
const LIMIT: Duration = Duration::from_secs(60);

fn dstack(p: &JobProject, args: &[&str]) -> std::process::Output {
    output_within(&mut p.command(args), LIMIT)
}

/// Exit code and stderr, with the project's directory as `<project>`.
fn said(p: &JobProject, out: &std::process::Output) -> String {
    let dir = p.dir.display().to_string();
    // How long the job took is not part of what is said about FIFOs.
    let stderr: Vec<String> = text(&out.stderr)
        .replace(&dir, "<project>")
        .lines()
        .map(|l| match l.split_once(" in ") {
            Some((head, tail)) if l.contains(": exited (") && tail.ends_with('s') => {
                format!("{head} in <time>")
            }
            _ => l.to_string(),
        })
        .collect();
    let stderr: String = stderr.iter().map(|l| format!("{l}\n")).collect();
    format!("exit {:?}\n{stderr}", out.status.code())
}

#[test]
fn fifos_found_in_a_project_are_skipped_with_a_warning() {
    let p = JobProject::new("fifo-found");
    p.write("hello.dstack.yml", TASK);
    p.write("data/real.txt", "real data\n");
    p.write(".dstack/backends.yml", "local:\n  runtime: process\n");
    mkfifo(&p.dir.join("pipe.dstack.yml"));
    mkfifo(&p.dir.join("data/pipe"));
    mkfifo(&p.dir.join(".dstackignore"));
    let validate = dstack(&p, &["validate"]);
    let plan = dstack(&p, &["plan", "-f", "hello.dstack.yml"]);
    let apply = dstack(&p, &["apply", "-y"]);
    let stdout = text(&apply.stdout);
    assert!(stdout.contains("real data\n"), "{stdout}");
    assert!(
        !stdout.contains("pipe"),
        "a FIFO travelled with the job:\n{stdout}"
    );
    insta::assert_snapshot!(
        "found",
        [
            format!("$ dstack validate\n{}", said(&p, &validate)),
            format!("$ dstack plan -f hello.dstack.yml\n{}", said(&p, &plan)),
            format!("$ dstack apply -y\n{}", said(&p, &apply)),
        ]
        .join("\n")
    );
}

#[test]
fn fifos_named_explicitly_are_errors_naming_them() {
    let p = JobProject::new("fifo-named");
    p.write("hello.dstack.yml", TASK);
    p.write(".dstack/backends.yml", "local:\n  runtime: process\n");
    mkfifo(&p.dir.join("pipe.dstack.yml"));
    mkfifo(&p.dir.join("plan.json"));
    let dash_f = dstack(&p, &["plan", "-f", "pipe.dstack.yml"]);
    let validate_f = dstack(&p, &["validate", "-f", "pipe.dstack.yml"]);
    let saved = dstack(&p, &["apply", "plan.json"]);
    p.write(
        "files.dstack.yml",
        "type: task\nname: files\nfiles:\n  - plan.json:/tmp/plan.json\ncommands: [ls]\n",
    );
    let files = dstack(&p, &["apply", "-y", "-f", "files.dstack.yml"]);
    mkfifo(&p.dir.join(".dstack/workflows.yaml"));
    let workflows = dstack(&p, &["run", "build"]);
    std::fs::remove_file(p.dir.join(".dstack/backends.yml")).expect("rm");
    mkfifo(&p.dir.join(".dstack/backends.yml"));
    let backends = dstack(&p, &["plan", "-f", "hello.dstack.yml"]);
    let files_text = said(&p, &files);
    insta::assert_snapshot!(
        "named",
        [
            format!("$ dstack plan -f pipe.dstack.yml\n{}", said(&p, &dash_f)),
            format!(
                "$ dstack validate -f pipe.dstack.yml\n{}",
                said(&p, &validate_f)
            ),
            format!("$ dstack apply plan.json\n{}", said(&p, &saved)),
            format!("$ dstack run build\n{}", said(&p, &workflows)),
            format!("$ dstack plan -f hello.dstack.yml\n{}", said(&p, &backends)),
        ]
        .join("\n")
    );
    assert_eq!(files.status.code(), Some(5), "{files_text}");
    assert!(
        files_text.contains(
            "files: plan.json is a named pipe (FIFO), not a regular file; dstack reads only regular files"
        ),
        "{files_text}"
    );
}
