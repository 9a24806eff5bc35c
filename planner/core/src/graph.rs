//! `DesiredGraph`: what depends on what, by resource address. petgraph is
//! hidden inside; callers speak [`ResourceAddr`]. Edges point from a
//! dependency to its dependent (fleet → instance → job, volume → run).

use std::collections::{BTreeMap, HashSet};

use dstack_schemas::addr::ResourceAddr;
use petgraph::algo::{tarjan_scc, toposort};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;

use crate::desired::{Desired, DesiredError, Origin};

/// One edge of a cycle: from, to, and where the dependency is written.
pub type CycleEdge = (ResourceAddr, ResourceAddr, Option<Origin>);

/// A dependency graph over resource addresses.
#[derive(Debug, Clone, Default)]
pub struct DesiredGraph {
    graph: StableDiGraph<ResourceAddr, Option<Origin>>,
    index: BTreeMap<ResourceAddr, NodeIndex>,
    /// Every edge, so adding one is O(1) however many a node has (a run
    /// with 10,000 jobs).
    edges: HashSet<(NodeIndex, NodeIndex)>,
}

impl DesiredGraph {
    /// Adds a node if missing.
    pub fn add(&mut self, address: &ResourceAddr) -> NodeIndex {
        if let Some(i) = self.index.get(address) {
            return *i;
        }
        let i = self.graph.add_node(address.clone());
        self.index.insert(address.clone(), i);
        i
    }

    /// `dependent` needs `dependency` first; `origin` is where that is written.
    pub fn depend(
        &mut self,
        dependent: &ResourceAddr,
        dependency: &ResourceAddr,
        origin: Option<Origin>,
    ) {
        let a = self.add(dependency);
        let b = self.add(dependent);
        if self.edges.insert((a, b)) {
            self.graph.add_edge(a, b, origin);
        }
    }

    /// True when the address is a node.
    pub fn contains(&self, address: &ResourceAddr) -> bool {
        self.index.contains_key(address)
    }

    /// Direct dependencies of `address`.
    pub fn dependencies(&self, address: &ResourceAddr) -> Vec<ResourceAddr> {
        self.neighbours(address, petgraph::Direction::Incoming)
    }

    /// Direct dependents of `address`.
    pub fn dependents(&self, address: &ResourceAddr) -> Vec<ResourceAddr> {
        self.neighbours(address, petgraph::Direction::Outgoing)
    }

    fn neighbours(&self, address: &ResourceAddr, dir: petgraph::Direction) -> Vec<ResourceAddr> {
        let Some(i) = self.index.get(address) else {
            return Vec::new();
        };
        let mut out: Vec<ResourceAddr> = self
            .graph
            .neighbors_directed(*i, dir)
            .map(|n| self.graph[n].clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every address, dependencies before dependents; ties by address.
    /// `Err` holds a cycle (each edge with where it is written).
    pub fn order(&self) -> Result<Vec<ResourceAddr>, Vec<CycleEdge>> {
        match toposort(&self.graph, None) {
            Ok(_) => Ok(self.stable_order()),
            Err(_) => Err(self.find_cycle()),
        }
    }

    /// Kahn's algorithm with a sorted ready set, so the order is deterministic.
    fn stable_order(&self) -> Vec<ResourceAddr> {
        let mut indegree: BTreeMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| {
                (
                    n,
                    self.graph
                        .neighbors_directed(n, petgraph::Direction::Incoming)
                        .count(),
                )
            })
            .collect();
        let mut ready: std::collections::BTreeSet<(ResourceAddr, NodeIndex)> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| (self.graph[*n].clone(), *n))
            .collect();
        let mut out = Vec::new();
        while let Some(first) = ready.iter().next().cloned() {
            ready.remove(&first);
            out.push(first.0.clone());
            for next in self
                .graph
                .neighbors_directed(first.1, petgraph::Direction::Outgoing)
            {
                let d = indegree.entry(next).or_default();
                *d = d.saturating_sub(1);
                if *d == 0 {
                    ready.insert((self.graph[next].clone(), next));
                }
            }
        }
        out
    }

    fn find_cycle(&self) -> Vec<CycleEdge> {
        for component in tarjan_scc(&self.graph) {
            let is_cycle = component.len() > 1
                || component
                    .iter()
                    .any(|n| self.graph.edges_connecting(*n, *n).next().is_some());
            if !is_cycle {
                continue;
            }
            let members: std::collections::BTreeSet<NodeIndex> =
                component.iter().copied().collect();
            let mut edges = Vec::new();
            for n in &component {
                for e in self.graph.edges(*n) {
                    if members.contains(&e.target()) {
                        edges.push((
                            self.graph[e.source()].clone(),
                            self.graph[e.target()].clone(),
                            e.weight().clone(),
                        ));
                    }
                }
            }
            edges.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
            return edges;
        }
        Vec::new()
    }
}

/// Builds the graph of desired resources: parents before children, and
/// each reference as an edge. References to addresses that are neither
/// desired nor in `known` (recorded resources that stay, the local fleet)
/// are dangling; `gateway: true` resolves to the default gateway.
pub fn build_graph(
    desired: &mut Desired,
    known: &std::collections::BTreeSet<ResourceAddr>,
) -> (DesiredGraph, Vec<DesiredError>) {
    let mut graph = DesiredGraph::default();
    let mut errors = Vec::new();
    let default_gateway = default_gateway(desired);
    let addresses: Vec<ResourceAddr> = desired.resources.keys().cloned().collect();
    for address in &addresses {
        graph.add(address);
        if let Some(parent) = address.parent() {
            graph.depend(address, &parent, None);
        }
    }
    for address in &addresses {
        let references = desired.resources[address].references.clone();
        for reference in references {
            let target = if reference.default_gateway {
                match &default_gateway {
                    Ok(g) => g.clone(),
                    Err(message) => {
                        errors.push(DesiredError {
                            code: "dstack::graph::no_default_gateway",
                            message: format!("{address} uses `gateway: true`, but {message}"),
                            origin: Some(reference.origin.clone()),
                            also: None,
                            help: Some("name the gateway (`gateway: NAME`) or set `default: true` on one gateway".into()),
                        });
                        continue;
                    }
                }
            } else {
                reference.target.clone()
            };
            if desired.resources.contains_key(&target) || known.contains(&target) {
                graph.depend(address, &target, Some(reference.origin.clone()));
            } else {
                errors.push(dangling(desired, address, &target, &reference.origin));
            }
        }
    }
    (graph, errors)
}

fn dangling(
    desired: &Desired,
    from: &ResourceAddr,
    target: &ResourceAddr,
    origin: &Origin,
) -> DesiredError {
    let same_kind = desired
        .resources
        .keys()
        .filter(|a| a.kind() == target.kind())
        .map(|a| a.name().to_string());
    let candidates: Vec<String> = same_kind.collect();
    let best = candidates
        .iter()
        .map(|c| (strsim_score(c, target.name()), c))
        .filter(|(s, _)| *s > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.clone());
    let also = best.as_ref().and_then(|b| {
        let addr = match target {
            ResourceAddr::Fleet(_) => ResourceAddr::Fleet(b.clone()),
            ResourceAddr::Volume(_) => ResourceAddr::Volume(b.clone()),
            ResourceAddr::Gateway(_) => ResourceAddr::Gateway(b.clone()),
            _ => return None,
        };
        desired.resources.get(&addr).and_then(|r| r.origin.clone())
    });
    DesiredError {
        code: "dstack::graph::dangling_reference",
        message: format!("{from} refers to {target}, which is not configured"),
        origin: Some(origin.clone()),
        also,
        help: Some(match best {
            Some(b) => format!("did you mean `{b}`?"),
            None => format!(
                "define a `type: {}` configuration named `{}`, or remove the reference",
                target.kind(),
                target.name()
            ),
        }),
    }
}

fn strsim_score(a: &str, b: &str) -> f64 {
    strsim::jaro_winkler(a, b)
}

fn default_gateway(desired: &Desired) -> Result<ResourceAddr, String> {
    let gateways: Vec<(&ResourceAddr, bool)> = desired
        .resources
        .values()
        .filter_map(|r| match r.config.as_deref() {
            Some(dstack_schemas::config::Configuration::Gateway(g)) => {
                Some((&r.address, g.default == Some(true)))
            }
            _ => None,
        })
        .collect();
    let defaults: Vec<&ResourceAddr> = gateways
        .iter()
        .filter(|(_, d)| *d)
        .map(|(a, _)| *a)
        .collect();
    match (defaults.as_slice(), gateways.as_slice()) {
        ([one], _) => Ok((*one).clone()),
        ([], [(one, _)]) => Ok((*one).clone()),
        ([], []) => Err("no gateway is configured".into()),
        ([], _) => Err("several gateways are configured and none has `default: true`".into()),
        _ => Err("several gateways have `default: true`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(text: &str) -> ResourceAddr {
        text.parse().expect("address")
    }

    #[test]
    fn order_puts_dependencies_first() {
        let mut g = DesiredGraph::default();
        g.depend(&a("run/r"), &a("fleet/f"), None);
        g.depend(&a("run/r/job/0"), &a("run/r"), None);
        g.depend(&a("run/r/job/0"), &a("fleet/f/instance/0"), None);
        g.depend(&a("fleet/f/instance/0"), &a("fleet/f"), None);
        let order: Vec<String> = g
            .order()
            .expect("acyclic")
            .iter()
            .map(|x| x.to_string())
            .collect();
        assert_eq!(
            order,
            ["fleet/f", "fleet/f/instance/0", "run/r", "run/r/job/0"]
        );
    }

    #[test]
    fn cycles_are_reported_with_every_edge() {
        let mut g = DesiredGraph::default();
        g.depend(&a("run/a"), &a("run/b"), None);
        g.depend(&a("run/b"), &a("run/a"), None);
        g.depend(&a("run/c"), &a("run/a"), None);
        let cycle = g.order().expect_err("cycle");
        assert_eq!(cycle.len(), 2);
    }
}
