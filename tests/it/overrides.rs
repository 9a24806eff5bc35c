//! Per-run overrides on `plan`/`apply` (`--gpu`, `-e`, ..., `-- ARGS`),
//! shown in the plan "from the command line"; `apply --force`; `apply -h TYPE`.

use crate::confirm::{case_project, tail};
use crate::plan_cases::{CaseProject, redact};

fn said(out: &std::process::Output) -> String {
    redact(&format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn plan_json(p: &CaseProject, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["plan", "--format", "json"];
    all.extend_from_slice(args);
    let out = p.dstack(&all);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", said(&out)))
}

/// The `after` spec of `run/NAME`.
fn run_after(plan: &serde_json::Value, run: &str) -> serde_json::Value {
    plan["resource_changes"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["address"] == format!("run/{run}")))
        .map(|c| c["after"].clone())
        .unwrap_or_else(|| panic!("no run/{run} in {plan}"))
}

#[test]
fn every_override_flag_sets_its_field_and_the_plan_says_so() {
    let p = case_project("overrides-all");
    let args = [
        "-n",
        "trainer",
        "-e",
        "HF=1",
        "--env",
        "WANDB",
        "--gpu",
        "24GB:1",
        "--cpu",
        "4..",
        "--memory",
        "8GB..",
        "--disk",
        "200GB",
        "--max-price",
        "2.5",
        "--max-duration",
        "3h",
        "--spot",
        "--no-retry",
        "-b",
        "aws",
        "-r",
        "us-east-1",
    ];
    let plan = plan_json(&p, &args);
    let fields: Vec<String> = plan["overrides"]
        .as_array()
        .expect("overrides in the plan")
        .iter()
        .map(|o| {
            assert_eq!(o["reason"], "from the command line");
            assert_eq!(o["address"], "run/trainer");
            format!(
                "{} {}={}",
                o["flag"].as_str().unwrap_or(""),
                o["field"].as_str().unwrap_or(""),
                o["value"]
            )
        })
        .collect();
    insta::assert_snapshot!("overrides_json", fields.join("\n"));
    let schema = dstack_schemas::config::schema::schema_for("plan").expect("plan schema");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    // The whole plan, $0 prices of the local machine included.
    let errors: Vec<String> = validator
        .iter_errors(&plan)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the plan with overrides breaks its schema: {errors:?}"
    );
    let after = run_after(&plan, "trainer");
    assert_eq!(after["spot_policy"], "spot", "{after}");
    assert_eq!(after["max_price"], 2.5, "{after}");
    let text = p.dstack(&[&["plan"][..], &args[..]].concat());
    let shown = said(&text);
    let start = shown
        .find("Set from the command line")
        .expect("overrides shown");
    let end = shown[start..]
        .find("\n\n")
        .map_or(shown.len(), |e| start + e);
    insta::assert_snapshot!("overrides_text", &shown[start..end]);
    let more = [
        "--instance-type",
        "g6.xlarge",
        "--fleet",
        "pool",
        "--spot-policy",
        "auto",
        "-R",
        "--dont-destroy",
        "--retry-duration",
        "2h",
    ];
    let plan = plan_json(&p, &more);
    let after = run_after(&plan, "train");
    assert_eq!(after["creation_policy"], "reuse", "{after}");
    assert_eq!(
        after["instance_types"],
        serde_json::json!(["g6.xlarge"]),
        "{after}"
    );
    let fields: Vec<String> = plan["overrides"]
        .as_array()
        .expect("overrides")
        .iter()
        .map(|o| {
            format!(
                "{} {}={}",
                o["flag"].as_str().unwrap_or(""),
                o["field"].as_str().unwrap_or(""),
                o["value"]
            )
        })
        .collect();
    insta::assert_snapshot!("overrides_more_json", fields.join("\n"));
    let idle = plan_json(&p, &["--idle-duration", "5m"]);
    assert_eq!(run_after(&idle, "train")["idle_duration"], "5m");
    // Each flag alone, against the plan without it.
    for (flag, field) in [
        ("--on-demand", "spot_policy"),
        ("--spot-auto", "spot_policy"),
        ("--retry", "retry"),
    ] {
        let plan = plan_json(&p, &[flag]);
        assert_eq!(plan["overrides"][0]["field"], field, "{flag}: {plan}");
    }
}

#[test]
fn bad_override_values_and_ambiguous_runs_are_usage_errors_naming_the_flag() {
    let p = case_project("overrides-bad");
    let bad_gpu = p.dstack(&["plan", "--gpu", "A100:lots"]);
    let bad_price = p.dstack(&["plan", "--max-price", "abc"]);
    let bad_env = p.dstack(&["plan", "-e", "BAD KEY=1"]);
    let unused = p.dstack(&["plan", "--", "--lr", "1"]);
    let only_fleet = p.dstack(&["plan", "-f", "fleet.dstack.yml", "--spot"]);
    std::fs::write(
        p.dir.join("other.dstack.yml"),
        "type: task\nname: other\ncommands:\n  - python t.py ${{ run.args }}\n",
    )
    .expect("write");
    let several = p.dstack(&["plan", "--cpu", "4"]);
    for out in [
        &bad_gpu,
        &bad_price,
        &bad_env,
        &unused,
        &only_fleet,
        &several,
    ] {
        assert_eq!(out.status.code(), Some(64), "{}", said(out));
    }
    let args = plan_json(&p, &["-f", "other.dstack.yml", "--", "--lr", "0.1 x"]);
    assert_eq!(
        run_after(&args, "other")["commands"],
        serde_json::json!(["python t.py --lr '0.1 x'"])
    );
    insta::assert_snapshot!(
        "overrides_errors",
        [
            format!("$ dstack plan --gpu A100:lots\n{}", said(&bad_gpu)),
            format!("$ dstack plan --max-price abc\n{}", said(&bad_price)),
            format!("$ dstack plan -e 'BAD KEY=1'\n{}", said(&bad_env)),
            format!("$ dstack plan -- --lr 1\n{}", said(&unused)),
            format!(
                "$ dstack plan -f fleet.dstack.yml --spot\n{}",
                said(&only_fleet)
            ),
            format!("$ dstack plan --cpu 4   # two runs\n{}", said(&several)),
        ]
        .join("\n")
    );
}

#[test]
fn apply_with_overrides_records_them_and_force_reruns_an_unchanged_run() {
    let p = case_project("overrides-force");
    let out = p.dstack(&["apply", "-y", "-d", "-e", "HF=1"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let same = p.dstack(&["plan", "--detailed-exitcode", "-e", "HF=1"]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "the override was applied: {}",
        said(&same)
    );
    let without = p.dstack(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        without.status.code(),
        Some(2),
        "dropping it is a change: {}",
        said(&without)
    );
    let forced = plan_json(&p, &["-e", "HF=1"]);
    assert_eq!(forced["has_changes"], false);
    let out = p.dstack(&["apply", "-y", "-d", "-e", "HF=1", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let shown = said(&out);
    assert!(shown.contains("run/train must be replaced"), "{shown}");
    assert!(shown.contains("--replace run/train"), "{shown}");
    let saved = p.dstack(&["apply", "plan.json", "--force"]);
    assert_eq!(saved.status.code(), Some(64), "{}", tail(&saved, 3));
}

#[test]
fn apply_h_type_lists_the_fields_of_that_type() {
    let p = case_project("apply-help");
    let task = p.dstack(&["apply", "-h", "task"]);
    assert_eq!(task.status.code(), Some(0), "{}", said(&task));
    let text = String::from_utf8_lossy(&task.stdout).to_string();
    for field in ["commands", "resources", "max_price", "env"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(field)),
            "{field}: {text}"
        );
    }
    let head: Vec<&str> = text.lines().take(8).collect();
    insta::assert_snapshot!("apply_h_task", head.join("\n"));
    let plain = p.dstack(&["apply", "-h"]);
    assert!(String::from_utf8_lossy(&plain.stdout).contains("Usage: dstack apply"));
    let bad = p.dstack(&["apply", "-h", "tsk"]);
    assert_eq!(bad.status.code(), Some(64), "{}", said(&bad));
    assert!(
        said(&bad).contains("not a configuration type; known: "),
        "{}",
        said(&bad)
    );
}

#[test]
fn overrides_reach_the_job_and_a_saved_plan_applies_them_again() {
    let config =
        "type: task\nname: hi\ncommands:\n  - echo \"greeting=$GREETING args=${{ run.args }}\"\n";
    let p = crate::attach_logs::project("overrides-job", "hi.dstack.yml", config);
    p.wait_status("hi", &["done"]);
    let out = p.dstack(&["apply", "-y", "-e", "GREETING=hello", "--", "--lr", "0.1 x"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("greeting=hello args=--lr '0.1 x'\n"),
        "{stdout}"
    );
    let saved = p.dstack(&["plan", "-o", "p.json", "-e", "GREETING=saved"]);
    assert_eq!(saved.status.code(), Some(0));
    let out = p.dstack(&["apply", "p.json"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("greeting=saved args=\n"), "{stdout}");
}
