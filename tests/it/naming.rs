//! One naming rule for runs: a run without `name:` is named from its file
//! (`My_Train.dstack.yml` → `run/my-train`), and apply finds that file again
//! by the same rule, so the job gets the configuration as written and its
//! `files:` relative to the file's own directory (not the recorded spec with
//! `config_dir = "."`).

use crate::jobs::{JobProject, text};

#[test]
fn a_run_named_from_a_mixed_case_file_finds_its_file_at_apply() {
    let p = JobProject::new("naming-mixed-case");
    p.write(".dstack/backends.yml", "local:\n  runtime: process\n");
    p.write(
        "sub/My_Train.dstack.yml",
        "type: task\nfiles:\n  - data.txt\ncommands:\n  - cat data.txt\n",
    );
    p.write("sub/data.txt", "data beside the config\n");
    let plan = p.dstack(&["plan", "-f", "sub/My_Train.dstack.yml"]);
    let plan_text = format!("{}{}", text(&plan.stdout), text(&plan.stderr));
    assert!(plan.status.success(), "plan failed:\n{plan_text}");
    assert!(plan_text.contains("run/my-train"), "{plan_text}");
    let apply = p.dstack(&["apply", "-y", "-f", "sub/My_Train.dstack.yml"]);
    let stdout = text(&apply.stdout);
    let stderr = text(&apply.stderr);
    assert!(apply.status.success(), "apply failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("data beside the config\n"),
        "the job did not get sub/data.txt:\n{stdout}\n{stderr}"
    );
}
