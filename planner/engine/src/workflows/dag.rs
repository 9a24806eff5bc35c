//! The job graph of a 2022 workflow run (petgraph): the asked-for workflow
//! and, transitively, the workflows its `deps` name, in an order where
//! every workflow comes after its deps. Cycles and references the runner
//! cannot follow are errors that point at the `deps:` lines.

use std::collections::{BTreeMap, BTreeSet};

use dstack_schemas::config::WorkflowsFile;
use dstack_schemas::config::spans::SpanIndex;
use dstack_schemas::diag::Diagnostic;
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

/// The workflows to run and who depends on whom.
#[derive(Debug, Clone, PartialEq)]
pub struct Dag {
    /// Dependencies first.
    pub order: Vec<String>,
    /// Workflow → the workflows it depends on.
    pub deps: BTreeMap<String, Vec<String>>,
}

fn index_of(file: &WorkflowsFile, name: &str) -> Option<usize> {
    file.workflows.iter().position(|w| w.name == name)
}

fn deps_span(spans: &SpanIndex, i: usize) -> dstack_schemas::diag::Span {
    spans.nearest(&format!("/workflows/{i}/deps"))
}

/// The run's graph for `target`, or the diagnostics that prevent it.
pub fn closure(
    file: &WorkflowsFile,
    spans: &SpanIndex,
    target: &str,
) -> Result<Dag, Vec<Diagnostic>> {
    let Some(start) = index_of(file, target) else {
        return Err(vec![unknown_workflow(file, target)]);
    };
    let mut graph: DiGraph<usize, ()> = DiGraph::new();
    let mut nodes: BTreeMap<usize, NodeIndex> = BTreeMap::new();
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut frontier = vec![start];
    nodes.insert(start, graph.add_node(start));
    while let Some(i) = frontier.pop() {
        let workflow = &file.workflows[i];
        let mut mine = Vec::new();
        for dep in workflow.deps.iter().flatten() {
            if let Some(tag) = &dep.tag {
                errors.push(
                    Diagnostic::error(
                        "dstack::workflow::tag_dep",
                        format!("workflow `{}` depends on the tagged run `{tag}`", workflow.name),
                    )
                    .at(deps_span(spans, i), "tagged dependency")
                    .help("`dstack run` builds deps from this repository's workflows; depend on the workflow by name"),
                );
                continue;
            }
            let Some(name) = &dep.workflow else { continue };
            let Some(j) = index_of(file, name) else {
                errors.push(
                    Diagnostic::error(
                        "dstack::workflow::foreign_dep",
                        format!(
                            "workflow `{}` depends on `{name}`, which `dstack run` cannot run here",
                            workflow.name
                        ),
                    )
                    .at(deps_span(spans, i), "not a workflow of this file")
                    .help("only workflows of this .dstack/workflows.yaml can be dependencies"),
                );
                continue;
            };
            mine.push(name.clone());
            let to = *nodes.entry(j).or_insert_with(|| {
                frontier.push(j);
                graph.add_node(j)
            });
            graph.add_edge(to, nodes[&i], ());
        }
        deps.insert(workflow.name.clone(), mine);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    match toposort(&graph, None) {
        Ok(order) => Ok(Dag {
            order: order
                .into_iter()
                .map(|n| file.workflows[graph[n]].name.clone())
                .collect(),
            deps,
        }),
        Err(cycle) => Err(vec![cycle_error(
            file,
            spans,
            &deps,
            graph[cycle.node_id()],
        )]),
    }
}

/// The error for a target that names no workflow of the file, with the
/// closest name (or the list of names) as help.
fn unknown_workflow(file: &WorkflowsFile, target: &str) -> Diagnostic {
    let names: Vec<&str> = file.workflows.iter().map(|w| w.name.as_str()).collect();
    let diag = Diagnostic::error(
        "dstack::workflow::unknown",
        format!("there is no workflow `{target}` in .dstack/workflows.yaml"),
    );
    match dstack_schemas::config::convert::did_you_mean(target, names.iter().copied()) {
        Some(best) => diag.help(format!("did you mean `{best}`?")),
        None => diag.help(format!("workflows: {}", names.join(", "))),
    }
}

/// Names the cycle through `start` and labels each `deps:` on it.
fn cycle_error(
    file: &WorkflowsFile,
    spans: &SpanIndex,
    deps: &BTreeMap<String, Vec<String>>,
    start: usize,
) -> Diagnostic {
    let first = file.workflows[start].name.clone();
    // Walk deps from `start` until we come back to it (depth-first).
    fn path_back(
        deps: &BTreeMap<String, Vec<String>>,
        at: &str,
        goal: &str,
        seen: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        for next in deps.get(at).into_iter().flatten() {
            if next == goal {
                return Some(vec![next.clone()]);
            }
            if seen.insert(next.clone())
                && let Some(mut rest) = path_back(deps, next, goal, seen)
            {
                rest.insert(0, next.clone());
                return Some(rest);
            }
        }
        None
    }
    let mut cycle = vec![first.clone()];
    cycle.extend(path_back(deps, &first, &first, &mut BTreeSet::new()).unwrap_or_default());
    let mut diag = Diagnostic::error(
        "dstack::workflow::cycle",
        format!(
            "workflows depend on each other in a cycle: {}",
            cycle.join(" → ")
        ),
    );
    for (k, name) in cycle.iter().take(cycle.len().saturating_sub(1)).enumerate() {
        if let Some(i) = index_of(file, name) {
            let text = format!("`{name}` needs `{}`", cycle[k + 1]);
            diag = if k == 0 {
                diag.at(deps_span(spans, i), text)
            } else {
                diag.also(deps_span(spans, i), text)
            };
        }
    }
    diag.help("remove one of these dependencies")
}

#[cfg(test)]
mod tests {
    use super::*;
    use dstack_schemas::config::{ConfigDocument, load_config};

    fn load(text: &str) -> (WorkflowsFile, SpanIndex) {
        let loaded = load_config("workflows.yaml", text.as_bytes());
        match loaded.document {
            Some(ConfigDocument::Workflows(w)) => (w, loaded.spans),
            other => panic!("not workflows: {other:?} {:?}", loaded.diagnostics),
        }
    }

    const DIAMOND: &str = "workflows:\n  - name: a\n    commands: [echo a]\n  - name: b\n    commands: [echo b]\n  - name: c\n    deps: [{workflow: a}, {workflow: b}]\n    commands: [echo c]\n  - name: other\n    commands: [echo o]\n";

    #[test]
    fn closure_orders_deps_first_and_leaves_others_out() {
        let (file, spans) = load(DIAMOND);
        let dag = closure(&file, &spans, "c").unwrap();
        assert_eq!(dag.order.len(), 3);
        assert_eq!(dag.order.last().unwrap(), "c");
        assert!(!dag.order.contains(&"other".to_string()));
        assert_eq!(dag.deps["c"], ["a", "b"]);
        let single = closure(&file, &spans, "a").unwrap();
        assert_eq!(single.order, ["a"]);
    }

    #[test]
    fn cycles_name_every_step() {
        // A cyclic file is a load error (schemas reports it with spans); the
        // walk still refuses a cycle handed to it, so one is made after loading.
        let (mut file, spans) = load(
            "workflows:\n  - name: a\n    deps: [{workflow: b}]\n    commands: [echo x]\n  - name: b\n    deps: []\n    commands: [echo y]\n",
        );
        file.workflows[1].deps = file.workflows[0].deps.clone().map(|mut deps| {
            deps[0].workflow = Some("a".into());
            deps
        });
        let errors = closure(&file, &spans, "a").unwrap_err();
        assert_eq!(errors.len(), 1);
        let text = errors[0].message.clone();
        assert!(text.contains("cycle"), "{text}");
        assert!(
            text.contains("a → b → a") || text.contains("b → a → b"),
            "{text}"
        );
        assert!(errors[0].label.is_some());
    }

    #[test]
    fn unknown_targets_suggest_a_name() {
        let (file, spans) = load(DIAMOND);
        let errors = closure(&file, &spans, "cc").unwrap_err();
        assert!(errors[0].help.as_deref().unwrap().contains("`c`"));
    }
}
