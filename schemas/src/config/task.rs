//! `type: task` (spec §2.3): commands on one or more nodes.

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, FromYaml};
use super::limits::{Counted, check_count, check_written_count};
use super::resources::Resources;
use super::run::{RunCommon, forbid, read_commands, run_keys};
use crate::diag::Diagnostic;
use crate::grammar::{GroupName, PortMapping, Template};
use crate::yaml::{Node, Value};

/// A batch job.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TaskConfig {
    /// Shared run fields.
    #[serde(flatten)]
    pub common: RunCommon,
    /// Shell commands, run in order.
    pub commands: Option<Vec<Template>>,
    /// Ports to forward while attached.
    pub ports: Option<Vec<PortMapping>>,
    /// Number of nodes (jobs).
    pub nodes: Option<u32>,
    /// Heterogeneous node groups (instead of `nodes`).
    pub groups: Option<Vec<NodeGroup>>,
}

/// One group of identical nodes in a heterogeneous task.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct NodeGroup {
    /// Group name (default: its index).
    pub name: Option<GroupName>,
    /// Nodes in the group.
    pub nodes: Option<u32>,
    /// Resources of each node (not inherited from the task).
    pub resources: Option<Resources>,
    /// Commands of this group.
    pub commands: Option<Vec<Template>>,
    /// Ports of this group.
    pub ports: Option<Vec<PortMapping>>,
}

impl FromYaml for NodeGroup {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(
            node,
            "node group",
            &["name", "nodes", "resources", "commands", "ports"],
        )?;
        let nodes = f.value("nodes").and_then(|n| node_count(cx, n));
        Some(Self {
            name: f.opt(cx, "name"),
            nodes,
            resources: f.opt(cx, "resources"),
            commands: read_commands(&f, cx, "commands"),
            ports: f.opt(cx, "ports"),
        })
    }
}

/// A task's or group's `nodes`: 1 to [`MAX_NODES`](super::limits::MAX_NODES).
fn node_count(cx: &mut Cx, node: &Node) -> Option<u32> {
    if !check_written_count(cx, node, Counted::TaskNodes) {
        return None;
    }
    let value = u32::from_yaml(node, cx)?;
    if value == 0 {
        cx.push(
            Diagnostic::error("dstack::config::out_of_range", "`nodes` must be at least 1")
                .at(node.span, "zero nodes"),
        );
        return None;
    }
    Some(value)
}

impl FromYaml for TaskConfig {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let keys = run_keys(&["commands", "ports", "nodes", "groups"]);
        let f = cx.fields(node, "task", &keys)?;
        let common = RunCommon::read(&f, cx, "task");
        let nodes = match f.value("nodes") {
            Some(n) if matches!(&n.value, Value::Str(s) if s.contains("..")) => {
                cx.push(
                    Diagnostic::error("dstack::config::invalid_nodes", "task `nodes` must be a whole number, not a range")
                        .at(n.span, "range")
                        .help("tasks run on a fixed number of nodes; ranges belong to fleets (`type: fleet`)"),
                );
                None
            }
            Some(n) => node_count(cx, n),
            None => None,
        };
        let task = TaskConfig {
            commands: read_commands(&f, cx, "commands"),
            ports: f.opt(cx, "ports"),
            nodes,
            groups: f.opt(cx, "groups"),
            common,
        };
        if f.has("groups") {
            f.exclusive(cx, "groups", "nodes");
            for key in ["commands", "ports", "entrypoint"] {
                forbid(&f, cx, key, "with `groups`, each group has its own");
            }
            if let (Some(groups), Some(gnode)) = (&task.groups, f.value("groups")) {
                check_groups(cx, gnode, groups, task.common.image.is_some());
                check_total_nodes(cx, f.key_span("groups"), groups);
            }
        } else if commands_missing(&f, task.commands.as_deref()) && task.common.image.is_none() {
            cx.push(
                Diagnostic::error("dstack::config::missing_commands", "either `commands` or `image` must be set")
                    .at(f.key_span("type"), "this task has nothing to run")
                    .help("add `commands:` with at least one command, or an `image:` whose entrypoint runs"),
            );
        }
        check_ports_unique(cx, f.value("ports"), task.ports.as_deref());
        Some(task)
    }
}

/// True when `commands` is absent or an empty list (not when it failed to parse).
pub fn commands_missing(f: &super::convert::Fields, commands: Option<&[Template]>) -> bool {
    match f.value("commands") {
        None => true,
        Some(_) => commands.is_some_and(<[Template]>::is_empty),
    }
}

/// All node groups together are within the node limit.
fn check_total_nodes(cx: &mut Cx, at: crate::diag::Span, groups: &[NodeGroup]) {
    let total = groups
        .iter()
        .map(|g| u64::from(g.nodes.unwrap_or(1)))
        .fold(0u64, u64::saturating_add);
    check_count(cx, at, Counted::GroupNodes, total);
}

fn check_groups(cx: &mut Cx, node: &Node, groups: &[NodeGroup], has_image: bool) {
    let Value::Seq(items) = &node.value else {
        return;
    };
    if groups.is_empty() {
        cx.push(
            Diagnostic::error("dstack::config::invalid_groups", "`groups` is empty")
                .at(node.span, "no groups"),
        );
    }
    let mut names = std::collections::BTreeMap::new();
    for (i, (group, item)) in groups.iter().zip(items).enumerate() {
        let name = group.name.as_ref().map_or(i.to_string(), |n| n.to_string());
        if let Some(first) = names.insert(name.clone(), item.span) {
            cx.push(
                Diagnostic::error(
                    "dstack::config::duplicate_group",
                    format!("group name `{name}` is used twice"),
                )
                .at(item.span, "second group")
                .also(first, "first group"),
            );
        }
        if group.commands.is_none() && !has_image {
            cx.push(
                Diagnostic::error(
                    "dstack::config::missing_commands",
                    format!("group `{name}` has no `commands` and the task has no `image`"),
                )
                .at(item.span, "nothing to run"),
            );
        }
    }
}

/// Reports container ports listed twice.
pub fn check_ports_unique(cx: &mut Cx, node: Option<&Node>, ports: Option<&[PortMapping]>) {
    let (Some(node), Some(ports)) = (node, ports) else {
        return;
    };
    let Value::Seq(items) = &node.value else {
        return;
    };
    for (i, port) in ports.iter().enumerate() {
        if let Some(j) = ports[..i]
            .iter()
            .position(|p| p.container == port.container)
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::duplicate_port",
                    format!("container port {} is listed twice", port.container),
                )
                .at(items[i].span, "again here")
                .also(items[j].span, "first here"),
            );
        }
        if let Some(local) = port.local
            && let Some(j) = ports[..i].iter().position(|p| p.local == Some(local))
        {
            cx.push(
                Diagnostic::error(
                    "dstack::config::duplicate_port",
                    format!("local port {local} is used twice"),
                )
                .at(items[i].span, "again here")
                .also(items[j].span, "first here"),
            );
        }
    }
}
