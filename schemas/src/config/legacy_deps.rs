//! The dependency graph of a 2022 workflows file, checked when it is read
//! (so `dstack validate` reports what `dstack run` would refuse): workflow
//! names are unique, every dep names a workflow of the file (or, with a
//! warning, of another repository), and deps form no cycle. Each error
//! points at the dep entries it is about: a dangling dep at its entry, a
//! cycle at every entry that closes it.

use std::collections::BTreeMap;

use super::convert::{Cx, did_you_mean};
use super::legacy::Workflow;
use crate::diag::{Diagnostic, Span};
use crate::yaml::{Node, Value};

/// One dependency as written: the workflow it names and where.
struct DepEdge {
    /// Index of the workflow depended on.
    to: usize,
    /// The entry's workflow name in the source.
    span: Span,
}

/// Checks names, deps and cycles of `workflows` (read from `list`).
pub fn check_workflow_graph(cx: &mut Cx, list: &Node, workflows: &[Workflow]) {
    let Value::Seq(items) = &list.value else {
        return;
    };
    let index = check_names(cx, items, workflows);
    let edges: Vec<Vec<DepEdge>> = workflows
        .iter()
        .zip(items)
        .map(|(w, item)| dep_edges(cx, &index, w, item))
        .collect();
    for cycle in find_cycles(&edges) {
        cx.push(cycle_error(workflows, &edges, &cycle));
    }
}

/// Reports names defined twice; the index of each name's first definition.
fn check_names<'a>(
    cx: &mut Cx,
    items: &[Node],
    workflows: &'a [Workflow],
) -> BTreeMap<&'a str, usize> {
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let span_of = |i: usize| {
        let item = &items[i];
        item.get("name").map_or(item.span, |e| e.value.span)
    };
    for (i, w) in workflows.iter().enumerate() {
        if let Some(&first) = index.get(w.name.as_str()) {
            cx.push(
                Diagnostic::error(
                    "dstack::config::duplicate_workflow",
                    format!("workflow `{}` is defined twice", w.name),
                )
                .at(span_of(i), "again here")
                .also(span_of(first), "first here"),
            );
        } else {
            index.insert(&w.name, i);
        }
    }
    index
}

/// The dep entries of a workflow item (`deps:` then `depends-on:`), in the
/// order `Workflow::deps` holds them.
fn dep_nodes(item: &Node) -> Vec<&Node> {
    ["deps", "depends-on"]
        .iter()
        .filter_map(|key| item.get(key))
        .filter_map(|e| match &e.value.value {
            Value::Seq(entries) => Some(entries.iter()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Where a dep entry names its workflow: `b` of `- b`, `b` of `- workflow: b`.
fn dep_span(node: &Node) -> Span {
    node.get("workflow").map_or(node.span, |e| e.value.span)
}

/// The edges of one workflow; reports deps on workflows that do not exist.
fn dep_edges(
    cx: &mut Cx,
    index: &BTreeMap<&str, usize>,
    workflow: &Workflow,
    item: &Node,
) -> Vec<DepEdge> {
    let deps = workflow.deps.as_deref().unwrap_or_default();
    let nodes = dep_nodes(item);
    if nodes.len() != deps.len() {
        return Vec::new(); // an entry did not parse; that error is reported
    }
    let mut edges = Vec::new();
    for (dep, node) in deps.iter().zip(nodes) {
        let Some(target) = &dep.workflow else {
            continue;
        };
        let span = dep_span(node);
        match index.get(target.as_str()) {
            // A tagged dep is an earlier run's artifacts, not an edge.
            Some(&to) if dep.tag.is_none() => edges.push(DepEdge { to, span }),
            Some(_) => {}
            None if target.contains('/') => cx.push(
                Diagnostic::warning("dstack::config::external_dep", format!("`{target}` is a workflow of another repository"))
                    .at(span, "cross-repository dependency")
                    .help("dstack-rs runs workflows of this repository only; `dstack run` will refuse this dependency"),
            ),
            None => cx.push(dangling(workflow, target, span, index)),
        }
    }
    edges
}

fn dangling(
    workflow: &Workflow,
    target: &str,
    span: Span,
    index: &BTreeMap<&str, usize>,
) -> Diagnostic {
    let diag = Diagnostic::error(
        "dstack::graph::dangling_dep",
        format!(
            "workflow `{}` depends on `{target}`, which is not defined",
            workflow.name
        ),
    )
    .at(span, "unknown workflow");
    match did_you_mean(target, index.keys().copied()) {
        Some(best) => diag.help(format!("did you mean `{best}`?")),
        None => diag,
    }
}

/// Each cycle as the list of (workflow, edge number) steps closing it, one
/// per back edge of a depth-first walk (iterative: a long chain of deps
/// cannot overflow the stack).
fn find_cycles(edges: &[Vec<DepEdge>]) -> Vec<Vec<(usize, usize)>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; edges.len()];
    let mut cycles = Vec::new();
    for start in 0..edges.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // The path: (workflow, next edge to follow).
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::OnPath;
        while let Some(&mut (at, ref mut next)) = path.last_mut() {
            let Some(edge) = edges[at].get(*next) else {
                mark[at] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match mark[edge.to] {
                Mark::New => {
                    mark[edge.to] = Mark::OnPath;
                    path.push((edge.to, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|(w, _)| *w == edge.to).unwrap_or(0);
                    // Each step: the workflow and the edge it took (next - 1).
                    let cycle = path[from..]
                        .iter()
                        .map(|&(w, n)| (w, n.saturating_sub(1)))
                        .collect();
                    cycles.push(cycle);
                }
                Mark::Done => {}
            }
        }
    }
    cycles
}

fn cycle_error(
    workflows: &[Workflow],
    edges: &[Vec<DepEdge>],
    cycle: &[(usize, usize)],
) -> Diagnostic {
    let mut names: Vec<&str> = cycle
        .iter()
        .map(|&(w, _)| workflows[w].name.as_str())
        .collect();
    names.push(names[0]);
    let mut diag = Diagnostic::error(
        "dstack::graph::cycle",
        format!(
            "workflows depend on each other in a cycle: {}",
            names.join(" → ")
        ),
    );
    for (k, &(w, e)) in cycle.iter().enumerate() {
        let edge = &edges[w][e];
        let text = format!("`{}` needs `{}`", names[k], workflows[edge.to].name);
        diag = if k == 0 {
            diag.at(edge.span, text)
        } else {
            diag.also(edge.span, text)
        };
    }
    diag.help("remove one of these dependencies")
}

#[cfg(test)]
mod tests {
    use crate::config::load_config;
    use crate::diag::Diagnostic;

    fn errors(text: &str) -> (crate::config::LoadedFile, Vec<Diagnostic>) {
        let loaded = load_config(".dstack/workflows.yaml", text.as_bytes());
        let errors = loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        (loaded, errors)
    }

    fn labels(loaded: &crate::config::LoadedFile, d: &Diagnostic) -> Vec<(String, String)> {
        d.label
            .iter()
            .chain(&d.related)
            .map(|l| (loaded.file.slice(l.span).to_string(), l.text.clone()))
            .collect()
    }

    #[test]
    fn a_cycle_points_at_both_entries() {
        let (loaded, errors) = errors(
            "workflows:\n  - name: a\n    deps: [{workflow: b}]\n    commands: [echo a]\n  - name: b\n    deps:\n      - a\n    commands: [echo b]\n",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].code, "dstack::graph::cycle");
        assert_eq!(
            errors[0].message,
            "workflows depend on each other in a cycle: a → b → a"
        );
        assert_eq!(
            labels(&loaded, &errors[0]),
            [
                ("b".into(), "`a` needs `b`".into()),
                ("a".into(), "`b` needs `a`".into())
            ]
        );
    }

    #[test]
    fn longer_cycles_self_deps_and_tags() {
        let (loaded, errors) = errors(
            "workflows:\n  - {name: a, deps: [c], commands: [x]}\n  - {name: b, deps: [a], commands: [x]}\n  - {name: c, deps: [b], commands: [x]}\n  - {name: s, deps: [s], commands: [x]}\n  - {name: t, deps: ['t:v1'], commands: [x]}\n",
        );
        let messages: Vec<&str> = errors.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "workflows depend on each other in a cycle: a → c → b → a",
                "workflows depend on each other in a cycle: s → s",
            ]
        );
        assert_eq!(labels(&loaded, &errors[0]).len(), 3);
    }

    #[test]
    fn a_dangling_dep_points_at_its_entry() {
        let (loaded, errors) = errors(
            "workflows:\n  - name: prepare\n    commands: [x]\n  - name: train\n    deps:\n      - workflow: prepare\n      - workflow: preprae\n    commands: [x]\n",
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(
            labels(&loaded, &errors[0]),
            [("preprae".into(), "unknown workflow".into())]
        );
        assert_eq!(errors[0].help.as_deref(), Some("did you mean `prepare`?"));
    }

    #[test]
    fn a_long_chain_is_no_cycle_and_no_overflow() {
        let mut text = String::from("workflows:\n  - {name: w0, commands: [x]}\n");
        for i in 1..3000 {
            text.push_str(&format!(
                "  - {{name: w{i}, deps: [w{}], commands: [x]}}\n",
                i - 1
            ));
        }
        assert!(errors(&text).1.is_empty());
    }
}
