//! From changes to steps: a replace is two steps in the plan's order;
//! creates and updates wait for what they depend on; deletes wait for the
//! deletes of what depends on them.

use std::collections::BTreeMap;

use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::plan::{ActionWord, PlanDoc};

/// What a step does (serialized as its lowercase word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Create (or submit).
    Create,
    /// Update in place.
    Update,
    /// Delete (or stop).
    Delete,
}

impl Op {
    /// Lowercase word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One unit of apply work.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Resource.
    pub address: ResourceAddr,
    /// What.
    pub op: Op,
    /// Index of the change in the plan.
    pub change: usize,
    /// Steps that must finish first.
    pub deps: Vec<usize>,
    /// Part of a replacement.
    pub replacing: bool,
}

/// The steps of a plan with their dependencies.
pub fn build_steps(plan: &PlanDoc) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut creates: BTreeMap<ResourceAddr, usize> = BTreeMap::new();
    let mut deletes: BTreeMap<ResourceAddr, usize> = BTreeMap::new();
    for (index, change) in plan.resource_changes.iter().enumerate() {
        let replacing = change.actions.len() == 2;
        let mut previous: Option<usize> = None;
        for action in &change.actions {
            let op = match action {
                ActionWord::Create => Op::Create,
                ActionWord::Update => Op::Update,
                ActionWord::Delete => Op::Delete,
                ActionWord::NoOp => continue,
            };
            let id = steps.len();
            steps.push(Step {
                address: change.address.clone(),
                op,
                change: index,
                deps: previous.into_iter().collect(),
                replacing,
            });
            match op {
                Op::Delete => deletes.insert(change.address.clone(), id),
                _ => creates.insert(change.address.clone(), id),
            };
            previous = Some(id);
        }
    }
    for (i, step) in steps.iter_mut().enumerate() {
        let change = &plan.resource_changes[step.change];
        let mut extra = Vec::new();
        match step.op {
            Op::Create | Op::Update => {
                for dep in &change.depends_on {
                    if let Some(&d) = creates.get(dep) {
                        extra.push(d);
                    }
                }
                if let Some(instance) = &change.placement
                    && let Some(&d) = creates.get(instance)
                {
                    extra.push(d);
                }
            }
            Op::Delete => {
                // Everything that depends on this one is deleted first.
                for other in &plan.resource_changes {
                    let depends = other.depends_on.contains(&step.address)
                        || other.placement.as_ref() == Some(&step.address);
                    if depends && let Some(&d) = deletes.get(&other.address) {
                        extra.push(d);
                    }
                }
            }
        }
        extra.retain(|d| *d != i);
        step.deps.extend(extra);
        step.deps.sort();
        step.deps.dedup();
    }
    steps
}
