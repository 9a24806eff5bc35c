//! `.dstack/workflows.yaml` as a whole: its workflow list, read workflow by
//! workflow ([`super::legacy`]) and then checked as a dependency graph
//! ([`super::legacy_deps`]).

use schemars::JsonSchema;
use serde::Serialize;

use super::convert::{Cx, FromYaml};
use super::legacy::Workflow;
use super::legacy_deps::check_workflow_graph;
use crate::yaml::Node;

/// `.dstack/workflows.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct WorkflowsFile {
    /// The workflows, in file order.
    pub workflows: Vec<Workflow>,
}

impl FromYaml for WorkflowsFile {
    fn from_yaml(node: &Node, cx: &mut Cx) -> Option<Self> {
        let f = cx.fields(node, "workflows file", &["workflows", "variables"])?;
        let Some(list) = f.value("workflows") else {
            cx.push(f.missing("workflows"));
            return None;
        };
        let workflows: Vec<Workflow> = Vec::from_yaml(list, cx)?;
        check_workflow_graph(cx, list, &workflows);
        Some(Self { workflows })
    }
}
