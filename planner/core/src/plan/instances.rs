//! Fleet instances: an offer for each new one, a check that each recorded
//! one still fits its fleet, and elastic instances kept while allowed.

use super::children_of;
use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::config::{Configuration, FleetConfig};
use dstack_schemas::plan::{ActionReason, ChangeVerb};
use dstack_schemas::plan::{ActionWord, ResourceChange};
use dstack_schemas::spec::InstanceSpec;

use super::Builder;
use super::changes::new_change;
use crate::cost::rank;
use crate::desired::DesiredResource;
use crate::fingerprint::fingerprint;
use crate::placement::FALLBACK_OFFERS;
use crate::recorded::recorded_offer;
use crate::requirements::Requirements;

/// The requirements every instance of a fleet must meet.
pub fn fleet_requirements(fleet: &FleetConfig) -> Requirements {
    Requirements::from_config(&fleet.resources.clone().unwrap_or_default(), &fleet.profile)
}

impl Builder<'_> {
    pub(super) fn plan_instances(&mut self) {
        let fleets: Vec<(ResourceAddr, FleetConfig)> = self
            .desired
            .resources
            .values()
            .filter_map(|r| match r.config.as_deref() {
                Some(Configuration::Fleet(f)) => Some((r.address.clone(), f.clone())),
                _ => None,
            })
            .collect();
        for (address, fleet) in fleets {
            let fleet_replaced = self
                .changes
                .get(&address)
                .is_some_and(|c| c.verb() == ChangeVerb::Replace);
            let instances: Vec<DesiredResource> = children_of(&self.desired.resources, &address)
                .map(|(_, r)| r.clone())
                .collect();
            for desired in &instances {
                let change = self.instance_change(desired, &fleet, fleet_replaced);
                self.changes.insert(desired.address.clone(), change);
            }
            self.keep_elastic_instances(&address, &fleet, instances.len() as u32, fleet_replaced);
        }
    }

    fn instance_change(
        &mut self,
        desired: &DesiredResource,
        fleet: &FleetConfig,
        fleet_replaced: bool,
    ) -> ResourceChange {
        let Some(recorded) = self.recorded.get(&desired.address).copied() else {
            let mut change = self.create_change(desired);
            self.choose_offer(&mut change, fleet);
            return change;
        };
        let mut change = self.compare(desired, recorded);
        if change.actions == [ActionWord::Create] {
            // Recorded but gone outside dstack.
            self.choose_offer(&mut change, fleet);
            return change;
        }
        let offer = recorded_offer(recorded.offer.as_ref());
        change.offer = offer.clone();
        change.rate_before = recorded
            .price_per_hour
            .map(dstack_schemas::money::HourlyRate);
        change.rate_after = change.rate_before;
        if fleet.ssh_config.is_some() {
            return change;
        }
        let misfit = offer
            .as_ref()
            .and_then(|o| fleet_requirements(fleet).check(o).err());
        if fleet_replaced || misfit.is_some() {
            change.actions = vec![ActionWord::Delete, ActionWord::Create];
            change.action_reason = Some(ActionReason::ReplaceBecauseCannotUpdate);
            change.reason = Some(match (&misfit, &offer) {
                (Some(why), Some(o)) => {
                    format!("{} no longer fits the fleet ({why})", o.instance_type)
                }
                _ => "its fleet is replaced".into(),
            });
            self.choose_offer(&mut change, fleet);
        }
        change
    }

    /// Picks the cheapest offer that fits the fleet, with fallbacks. Every
    /// instance of a fleet has the same requirements, so the ranking is
    /// computed once per fleet (once for all fleets asking alike).
    fn choose_offer(&mut self, change: &mut ResourceChange, fleet: &FleetConfig) {
        if fleet.ssh_config.is_some() {
            return;
        }
        let requirements = fleet_requirements(fleet);
        let ranking = self
            .rankings
            .entry(format!("{requirements:?}"))
            .or_insert_with(|| std::sync::Arc::new(rank(&requirements, &self.input.market.offers)))
            .clone();
        match ranking.best() {
            Some(best) => {
                change.offer = Some(best.clone());
                change.rate_after = Some(best.price);
                change.fallback_offers = ranking
                    .matched
                    .iter()
                    .skip(1)
                    .take(FALLBACK_OFFERS)
                    .cloned()
                    .collect();
                change.offers_matched = Some(ranking.matched.len());
            }
            None => {
                let address = change.address.clone();
                let backends = if self.input.market.backends.is_empty() {
                    "no cloud backend is configured (.dstack/backends.yml)".to_string()
                } else {
                    format!(
                        "configured backends: {}",
                        self.input
                            .market
                            .backends
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                self.error_at_field(
                    "dstack::plan::no_offer",
                    &address,
                    "/resources",
                    format!(
                        "no offer matches {address} ({}; {})",
                        requirements.describe(),
                        ranking.explain_rejections()
                    ),
                    Some(format!(
                        "{backends}; relax `resources`, `regions`, `spot_policy` or `max_price`"
                    )),
                );
            }
        }
    }

    /// Instances a fleet grew by for runs (beyond its initial nodes) stay
    /// while they fit and the fleet allows them; idle ones are released by
    /// their idle timeout, not by planning.
    fn keep_elastic_instances(
        &mut self,
        fleet_address: &ResourceAddr,
        fleet: &FleetConfig,
        desired_count: u32,
        fleet_replaced: bool,
    ) {
        let extra: Vec<&dstack_state::RecordedResource> =
            children_of(&self.recorded, fleet_address)
                .filter(|(a, _)| !self.desired.resources.contains_key(a))
                .map(|(_, r)| *r)
                .collect();
        let max = fleet.nodes.and_then(|n| n.max);
        for (n, recorded) in extra.into_iter().enumerate() {
            let fits = recorded_offer(recorded.offer.as_ref())
                .is_some_and(|o| fleet_requirements(fleet).check(&o).is_ok());
            let allowed = max.is_none_or(|m| desired_count + (n as u32) < m);
            if fleet_replaced || !fits || !allowed || self.is_drifted(&recorded.address) {
                continue; // planned as a delete
            }
            let spec = serde_json::from_value::<InstanceSpec>(recorded.spec.clone()).ok();
            let mut change = new_change(&recorded.address, vec![ActionWord::NoOp]);
            let kept = std::sync::Arc::new(recorded.spec.clone());
            change.before = Some(std::sync::Arc::clone(&kept));
            change.after = Some(kept);
            change.fingerprint = Some(fingerprint(&recorded.spec));
            change.recorded_version = Some(recorded.version);
            change.provider_id = recorded.provider_id.clone();
            change.provider = recorded.provider.clone();
            change.offer = recorded_offer(recorded.offer.as_ref());
            change.rate_before = recorded
                .price_per_hour
                .map(dstack_schemas::money::HourlyRate);
            change.rate_after = change.rate_before;
            change.reason = Some(match spec.and_then(|s| s.for_run) {
                Some(run) => {
                    format!("elastic (grown for run/{run}); released after its idle timeout")
                }
                None => "elastic; released after its idle timeout".into(),
            });
            self.changes.insert(recorded.address.clone(), change);
        }
    }
}
