//! The dependency direction between the workspace's crates (README "Code map
//! and invariants", aesthetics 3.2): `cargo metadata --no-deps` lists every
//! crate's dependencies, and each edge between two workspace crates must be
//! allowed by the rule table below. A new edge is a reviewed change: add it
//! here with its reason and update the README code map in the same commit.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::harness::root;

/// One crate's rule: the workspace crates it may depend on (normal and build
/// dependencies; dev-dependencies are checked by [`DEV_ONLY`]) and why.
struct Rule {
    krate: &'static str,
    may_use: &'static [&'static str],
    reason: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        krate: "dstack-schemas",
        may_use: &[],
        reason: "schemas is the language and every shared format: it depends on no workspace crate",
    },
    Rule {
        krate: "dstack-state",
        may_use: &["dstack-schemas"],
        reason: "state depends on schemas only (never on the planner, providers or runner)",
    },
    Rule {
        krate: "dstack-provider",
        may_use: &["dstack-schemas"],
        reason: "the provider trait depends on schemas only",
    },
    Rule {
        krate: "dstack-runner",
        may_use: &["dstack-schemas"],
        reason: "the runner depends on schemas only",
    },
    Rule {
        krate: "dstack-provider-local",
        may_use: &["dstack-provider", "dstack-schemas"],
        reason: "a concrete provider uses the provider trait and schemas, never the planner, state or another provider",
    },
    Rule {
        krate: "dstack-provider-aws",
        may_use: &["dstack-provider", "dstack-schemas"],
        reason: "a concrete provider uses the provider trait and schemas, never the planner, state or another provider",
    },
    Rule {
        krate: "dstack-ssh",
        may_use: &[],
        reason: "the SSH transport is a leaf: no workspace crate (test hosts only as a dev-dependency)",
    },
    Rule {
        krate: "dstack-sshfleet",
        may_use: &["dstack-ssh", "dstack-schemas"],
        reason: "SSH fleets read their configuration and describe hosts as offers (schemas), and reach hosts through the SSH transport only (the runner it installs is a file it uploads, not a dependency)",
    },
    Rule {
        krate: "dstack-planner",
        may_use: &["dstack-schemas", "dstack-state", "dstack-provider"],
        reason: "planner/core uses schemas, the state traits and the provider trait; never a concrete provider, the runner daemon or tests",
    },
    Rule {
        krate: "dstack-engine",
        may_use: &[
            "dstack-planner",
            "dstack-schemas",
            "dstack-state",
            "dstack-runner",
            "dstack-provider",
            "dstack-ssh",
        ],
        reason: "planner/engine is the async side shared by the CLI and a server (the apply executor, the job runtime, workflows): the planner, state traits, the provider trait, the runner's client and the SSH transport (tunnels to remote runners); never clap, a concrete provider (the composition root hands in their rules) or tests",
    },
    Rule {
        krate: "dstack",
        may_use: &[
            "dstack-engine",
            "dstack-planner",
            "dstack-schemas",
            "dstack-state",
            "dstack-provider",
            "dstack-provider-local",
            "dstack-provider-aws",
            "dstack-runner",
        ],
        reason: "planner/cli is the composition root: the only crate naming concrete providers; never the test hosts",
    },
    Rule {
        krate: "dstack-testhosts",
        may_use: &[],
        reason: "the test hosts are a leaf used by tests only",
    },
];

/// Crates that only tests may use: a normal or build dependency on one is
/// forbidden everywhere (non-test crates never depend on tests).
const DEV_ONLY: &[&str] = &["dstack-testhosts"];

/// Outside crates a workspace crate must not depend on directly (normal or
/// build), and why.
const NO_EXTERNAL: &[(&str, &[&str], &str)] = &[
    (
        "dstack-planner",
        &[
            "tokio",
            "async-trait",
            "futures",
            "futures-util",
            "reqwest",
            "bollard",
        ],
        "planner/core is pure and synchronous: carrying a plan out is dstack-engine's",
    ),
    (
        "dstack-schemas",
        &["tokio", "async-trait", "reqwest", "rusqlite"],
        "schemas is data: no runtime, no network, no storage",
    ),
];

/// What is wrong with one edge to an outside crate, if anything.
fn external_violation(from: &str, to: &str, kind: &str) -> Option<String> {
    if kind == "dev" {
        return None;
    }
    let (_, banned, reason) = NO_EXTERNAL.iter().find(|(k, _, _)| *k == from)?;
    banned
        .contains(&to)
        .then(|| format!("{from} -> {to} ({kind}): forbidden; rule: {reason}"))
}

/// `(crate, dependency, kind)` for every dependency of every workspace crate.
fn all_edges() -> Vec<(String, String, String)> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let packages = doc["packages"].as_array().expect("packages");
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut edges = Vec::new();
    for p in packages {
        let from = p["name"].as_str().unwrap_or("?");
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let to = d["name"].as_str().unwrap_or("?");
            let kind = d["kind"].as_str().unwrap_or("normal");
            let side = if names.contains(to) { "" } else { "external:" };
            edges.push((from.to_string(), format!("{side}{to}"), kind.to_string()));
        }
    }
    edges
}

/// `(crate, dependency, kind)` for every edge between workspace crates.
fn workspace_edges() -> Vec<(String, String, String)> {
    all_edges()
        .into_iter()
        .filter(|(_, to, _)| !to.starts_with("external:"))
        .collect()
}

/// What is wrong with one edge, if anything.
fn violation(from: &str, to: &str, kind: &str) -> Option<String> {
    if kind == "dev" {
        return None;
    }
    if DEV_ONLY.contains(&to) {
        return Some(format!(
            "{from} -> {to} ({kind}): forbidden; rule: non-test crates never depend on the tests crates (use a dev-dependency)"
        ));
    }
    let Some(rule) = RULES.iter().find(|r| r.krate == from) else {
        return Some(format!(
            "{from} has no rule in tests/it/architecture.rs: add one (its allowed workspace dependencies and why) and to README's code map"
        ));
    };
    (!rule.may_use.contains(&to))
        .then(|| format!("{from} -> {to} ({kind}): forbidden; rule: {}", rule.reason))
}

#[test]
fn workspace_crates_depend_only_in_the_allowed_direction() {
    let edges = workspace_edges();
    assert!(
        edges
            .iter()
            .any(|(f, t, _)| f == "dstack" && t == "dstack-planner"),
        "cargo metadata listed no workspace edges: {edges:?}"
    );
    let wrong: Vec<String> = edges
        .iter()
        .filter_map(|(f, t, k)| violation(f, t, k))
        .collect();
    assert!(
        wrong.is_empty(),
        "forbidden dependencies:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn pure_crates_use_no_runtime_or_network_crates() {
    let edges = all_edges();
    let wrong: Vec<String> = edges
        .iter()
        .filter_map(|(f, t, k)| external_violation(f, t.strip_prefix("external:")?, k))
        .collect();
    assert!(
        edges
            .iter()
            .any(|(f, t, _)| f == "dstack-engine" && t == "external:tokio"),
        "cargo metadata listed no outside dependencies: {edges:?}"
    );
    assert!(
        wrong.is_empty(),
        "forbidden dependencies:\n{}",
        wrong.join("\n")
    );
    assert!(external_violation("dstack-planner", "tokio", "normal").is_some());
    assert_eq!(external_violation("dstack-planner", "tokio", "dev"), None);
}

#[test]
fn a_forbidden_edge_is_named_with_its_rule() {
    assert_eq!(
        violation("dstack-planner", "dstack-provider-local", "normal").as_deref(),
        Some(
            "dstack-planner -> dstack-provider-local (normal): forbidden; rule: planner/core uses schemas, the state traits and the provider trait; never a concrete provider, the runner daemon or tests"
        )
    );
    assert!(violation("dstack-schemas", "dstack-state", "normal").is_some());
    assert!(violation("dstack-runner", "dstack-testhosts", "build").is_some());
    assert_eq!(violation("dstack-ssh", "dstack-testhosts", "dev"), None);
}
