//! Changes of top-level resources (fleets, volumes, gateways, runs),
//! deletions of what is no longer configured, and user overrides
//! (`--replace`, `--no-recreate`, volume protection).

use dstack_schemas::plan::{ActionReason, ChangeVerb};
use dstack_schemas::status::Status;
use std::sync::Arc;

use super::children_of;
use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::plan::{ActionWord, FieldChange, ResourceChange};
use dstack_state::RecordedResource;

use super::{Builder, Scope};
use crate::desired::DesiredResource;
use crate::diff::{Verdict, classify};
use crate::rules::{ReplaceOrder, RuleContext, replace_order};

/// A change with only the essentials set.
pub fn new_change(address: &ResourceAddr, actions: Vec<ActionWord>) -> ResourceChange {
    ResourceChange {
        address: address.clone(),
        kind: address.kind(),
        actions,
        action_reason: None,
        reason: None,
        changed_fields: Vec::new(),
        before: None,
        after: None,
        fingerprint: None,
        depends_on: Vec::new(),
        offer: None,
        fallback_offers: Vec::new(),
        offers_matched: None,
        placement: None,
        rate_before: None,
        rate_after: None,
        lifetime: None,
        source: None,
        recorded_version: None,
        provider_id: None,
        provider: None,
    }
}

/// The steps of a replacement.
pub fn replace_actions(order: ReplaceOrder) -> Vec<ActionWord> {
    match order {
        ReplaceOrder::CreateThenDelete => vec![ActionWord::Create, ActionWord::Delete],
        ReplaceOrder::DeleteThenCreate => vec![ActionWord::Delete, ActionWord::Create],
    }
}

/// `task`, `service` or `dev-environment` of a run or job spec.
pub fn run_type_of(spec: &serde_json::Value) -> Option<String> {
    spec.get("type")
        .and_then(|t| t.as_str())
        .map(str::to_string)
}

fn rule_context<'s>(
    address: &ResourceAddr,
    spec: &serde_json::Value,
    run_type: Option<&'s str>,
) -> RuleContext<'s> {
    RuleContext {
        kind: address.kind(),
        run_type,
        ssh_fleet: address.kind() == ResourceKind::Fleet
            && spec.get("ssh_config").is_some_and(|s| !s.is_null()),
    }
}

impl Builder<'_> {
    pub(super) fn plan_top_level(&mut self) {
        let top: Vec<DesiredResource> = self
            .desired
            .resources
            .values()
            .filter(|r| r.address.parent().is_none())
            .cloned()
            .collect();
        for desired in top {
            let change = match self.recorded.get(&desired.address).copied() {
                None => self.create_change(&desired),
                Some(recorded) => self.compare(&desired, recorded),
            };
            self.changes.insert(desired.address.clone(), change);
        }
    }

    /// A create of a desired resource.
    pub(super) fn create_change(&self, desired: &DesiredResource) -> ResourceChange {
        let mut change = new_change(&desired.address, vec![ActionWord::Create]);
        change.after = Some(Arc::clone(&desired.spec));
        change.fingerprint = Some(desired.fingerprint.clone());
        change.source = self.location_of(&desired.address);
        if let Some(r) = self.recorded.get(&desired.address) {
            // Drifted away (deleted outside dstack): recreate over the old row.
            change.recorded_version = Some(r.version);
            change.before = Some(Arc::new(r.spec.clone()));
            change.action_reason = Some(ActionReason::RecreateBecauseDeletedOutside);
            change.reason = Some("deleted outside dstack".into());
        }
        change
    }

    /// Desired against recorded for one resource.
    pub(super) fn compare(
        &self,
        desired: &DesiredResource,
        recorded: &RecordedResource,
    ) -> ResourceChange {
        let run_type = run_type_of(&desired.spec).or_else(|| run_type_of(&recorded.spec));
        let mut change = new_change(&desired.address, vec![ActionWord::NoOp]);
        let unchanged = recorded.fingerprint == desired.fingerprint;
        // Equal fingerprints are equal specs: the recorded one may not
        // have been read (see `needs_recorded_spec`), and before and after
        // share the desired spec (no copy).
        let after = Arc::clone(&desired.spec);
        change.before = Some(if unchanged {
            Arc::clone(&after)
        } else {
            Arc::new(recorded.spec.clone())
        });
        change.after = Some(after);
        change.fingerprint = Some(desired.fingerprint.clone());
        change.recorded_version = Some(recorded.version);
        change.provider_id = recorded.provider_id.clone();
        change.provider = recorded.provider.clone();
        change.source = self.location_of(&desired.address);
        if self.is_drifted(&desired.address) {
            return self.create_change(desired);
        }
        let status = self.status_of(recorded);
        if unchanged {
            if status.is_finished() && desired.address.kind() == ResourceKind::Run {
                change.reason = Some(format!(
                    "finished ({status}); `--replace {}` runs it again",
                    desired.address
                ));
            }
            return change;
        }
        let ctx = rule_context(&desired.address, &desired.spec, run_type.as_deref());
        let (verdict, fields) = classify(ctx, &recorded.spec, &desired.spec);
        change.changed_fields = fields;
        match verdict {
            Verdict::Same => {}
            Verdict::Update => {
                change.actions = vec![ActionWord::Update];
                change.action_reason = Some(ActionReason::UpdateInPlace);
                change.reason = Some(describe_fields(&change.changed_fields, "changed in place"));
            }
            Verdict::Replace => {
                change.actions =
                    replace_actions(replace_order(desired.address.kind(), run_type.as_deref()));
                change.action_reason = Some(ActionReason::ReplaceBecauseCannotUpdate);
                let forcing: Vec<FieldChange> = change
                    .changed_fields
                    .iter()
                    .filter(|f| f.forces_replacement)
                    .cloned()
                    .collect();
                change.reason = Some(describe_fields(&forcing, "forces replacement"));
                if status.is_finished() && desired.address.kind() == ResourceKind::Run {
                    change.action_reason = Some(ActionReason::RerunBecauseChanged);
                    change.reason =
                        Some(format!("finished ({status}) and changed, so it runs again"));
                    for field in &mut change.changed_fields {
                        field.note = None;
                    }
                }
            }
        }
        change
    }

    /// A run's status as its jobs say (a run is finished when all its jobs are).
    pub(super) fn status_of(&self, recorded: &RecordedResource) -> Status {
        let jobs: Vec<&RecordedResource> = children_of(&self.recorded, &recorded.address)
            .map(|(_, r)| *r)
            .collect();
        match recorded.address.kind() {
            ResourceKind::Run => dstack_state::status::run_status(recorded, &jobs),
            _ => recorded.status,
        }
    }

    /// Whether the refresh found `address` gone (deleted or interrupted).
    pub(super) fn is_drifted(&self, address: &ResourceAddr) -> bool {
        self.gone.contains(address)
    }

    /// Recorded resources no longer configured are deleted, except volumes
    /// (never deleted implicitly) and, with `-f`, anything outside the files.
    pub(super) fn plan_deletions(&mut self) {
        let leftovers: Vec<&RecordedResource> = self
            .recorded
            .values()
            .filter(|r| !self.changes.contains_key(&r.address))
            .copied()
            .collect();
        for recorded in leftovers {
            let address = recorded.address.clone();
            let mut change = new_change(&address, vec![ActionWord::Delete]);
            change.before = Some(Arc::new(recorded.spec.clone()));
            change.recorded_version = Some(recorded.version);
            change.provider_id = recorded.provider_id.clone();
            change.provider = recorded.provider.clone();
            change.offer = crate::recorded::recorded_offer(recorded.offer.as_ref());
            change.action_reason = Some(ActionReason::DeleteBecauseNoResourceConfig);
            change.reason = Some(if address.parent().is_some() {
                "its parent is deleted or it is no longer needed".into()
            } else {
                "no longer in the configuration".into()
            });
            let parent_deleted = address.parent().is_some_and(|p| {
                self.changes
                    .get(&p)
                    .is_some_and(|c| c.actions.contains(&ActionWord::Delete))
                    || !self.desired.resources.contains_key(&p)
            });
            // With `-f`, what belongs to a resource outside the files (a
            // job of another run, an instance of another fleet) is left be.
            let mut top = address.clone();
            while let Some(p) = top.parent() {
                top = p;
            }
            let outside_files = self.input.scope == Scope::Files
                && !self.desired.resources.contains_key(&top)
                && !self
                    .changes
                    .get(&top)
                    .is_some_and(|c| c.actions.contains(&ActionWord::Delete));
            if self.is_drifted(&address) {
                change.action_reason = Some(ActionReason::DeleteBecauseDeletedOutside);
                change.reason =
                    Some("already gone outside dstack; only the state record is removed".into());
            } else if self.input.options.destroy {
                if !self.targeted(&address) {
                    continue;
                }
                change.action_reason = Some(ActionReason::DeleteBecauseDestroy);
                change.reason = Some(self.destroy_reason(&address));
            } else if outside_files || (self.input.scope == Scope::Files && !parent_deleted) {
                continue;
            } else if address.kind() == ResourceKind::Volume {
                change.actions = vec![ActionWord::NoOp];
                change.action_reason = Some(ActionReason::RetainVolume);
                change.reason = Some(
                    "no longer configured; kept, because volumes are never deleted implicitly"
                        .into(),
                );
                self.warning(
                    "dstack::plan::volume_retained",
                    Some(&address),
                    "no longer configured, and kept".into(),
                    Some(format!(
                        "delete it explicitly with `dstack destroy --target {address}`"
                    )),
                );
            }
            self.changes.insert(address, change);
        }
    }

    /// Why a destroy deletes `address`: it was named, it is part of a
    /// target, it depends on one, or everything is destroyed.
    fn destroy_reason(&self, address: &ResourceAddr) -> String {
        let targets = &self.input.options.targets;
        if targets.is_empty() {
            return "everything recorded is destroyed".into();
        }
        if targets.contains(address) {
            return "named to be destroyed".into();
        }
        match targets.iter().find(|t| address.is_within(t)) {
            Some(t) => format!("part of {t}, which is destroyed"),
            None => targets
                .iter()
                .find(|t| self.depends_on_transitively(address, t))
                .map_or("named to be destroyed".into(), |t| {
                    format!("depends on {t}, which is destroyed")
                }),
        }
    }

    /// With `--target`, destroy only the targets and what depends on them.
    fn targeted(&self, address: &ResourceAddr) -> bool {
        let targets = &self.input.options.targets;
        targets.is_empty()
            || targets
                .iter()
                .any(|t| address.is_within(t) || self.depends_on_transitively(address, t))
    }

    fn depends_on_transitively(&self, address: &ResourceAddr, target: &ResourceAddr) -> bool {
        let mut stack = self.graph.dependencies(address);
        let mut seen = std::collections::BTreeSet::new();
        while let Some(next) = stack.pop() {
            if &next == target {
                return true;
            }
            if seen.insert(next.clone()) {
                stack.extend(self.graph.dependencies(&next));
            }
        }
        false
    }

    /// `--replace`, `--no-recreate` and the volume guard.
    pub(super) fn apply_overrides(&mut self) {
        for address in self.input.options.replace.clone() {
            self.force_replace(&address);
        }
        let replaced: Vec<ResourceAddr> = self
            .changes
            .values()
            .filter(|c| c.verb() == ChangeVerb::Replace)
            .map(|c| c.address.clone())
            .collect();
        for address in replaced {
            if self.input.options.no_recreate {
                self.error(
                    "dstack::plan::would_recreate",
                    &address,
                    format!("{address} would be replaced, and --no-recreate forbids it"),
                    Some("change only fields that update in place, or drop --no-recreate".into()),
                );
            }
            let explicit = self
                .input
                .options
                .replace
                .iter()
                .any(|r| address.is_within(r));
            if address.kind() == ResourceKind::Volume && !explicit {
                self.error(
                    "dstack::plan::volume_replace",
                    &address,
                    format!("{address} would be replaced, which deletes its data"),
                    Some(format!("to accept that, run with `--replace {address}`")),
                );
            }
        }
    }

    fn force_replace(&mut self, target: &ResourceAddr) {
        let mut found = false;
        let addresses: Vec<ResourceAddr> = self
            .changes
            .keys()
            .filter(|a| a.is_within(target))
            .cloned()
            .collect();
        for address in addresses {
            let Some(change) = self.changes.get_mut(&address) else {
                continue;
            };
            if !matches!(
                change.actions.as_slice(),
                [ActionWord::NoOp] | [ActionWord::Update]
            ) {
                found = true;
                continue;
            }
            if change.before.is_none() {
                continue;
            }
            found = true;
            let run_type = change.after.as_deref().and_then(run_type_of);
            change.actions = replace_actions(replace_order(address.kind(), run_type.as_deref()));
            change.action_reason = Some(ActionReason::ReplaceByRequest);
            change.reason = Some(format!("--replace {target}"));
        }
        if !found {
            self.error(
                "dstack::plan::replace_unknown",
                target,
                format!("--replace {target}: no such resource is recorded"),
                Some("see `dstack state list` for recorded addresses".into()),
            );
        }
    }
}

fn describe_fields(fields: &[FieldChange], what: &str) -> String {
    let names: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
    match names.as_slice() {
        [] => what.to_string(),
        [one] => format!("`{one}` {what}"),
        many => {
            // "forces replacement" → "force replacement" for several fields.
            let plural = what.replacen("forces", "force", 1);
            format!(
                "{} {plural}",
                many.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}
