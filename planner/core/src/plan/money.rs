//! Money in the plan: $/h of each change before and after, the plan's
//! totals, and each run's cost over its life when it is bounded.

use super::children_of;
use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::config::Configuration;
use dstack_schemas::grammar::{IdleDuration, Memory, OffDuration};
use dstack_schemas::money::{HourlyRate, Usd};
use dstack_schemas::plan::ActionReason;
use dstack_schemas::plan::{ActionWord, LifetimeCost, PlanCost};

use super::Builder;
use super::instances::fleet_requirements;
use crate::cost::{rank_all, volume_rate};
use crate::normalize::{FLEET_IDLE_DEFAULT, RUN_IDLE_DEFAULT};

/// The dearest offer per fleet and job requirements, within one run.
type DearestCache = Vec<(String, crate::requirements::Requirements, Option<Usd>)>;

impl Builder<'_> {
    /// Fills rates on every change and totals them.
    pub(super) fn price(&mut self) -> PlanCost {
        let addresses: Vec<ResourceAddr> = self.changes.keys().cloned().collect();
        for address in &addresses {
            self.rate_change(address);
        }
        let mut cost = PlanCost::default();
        let (mut before, mut after) = (Usd::ZERO, Usd::ZERO);
        for change in self.changes.values() {
            before += change.rate_before.map_or(Usd::ZERO, |r| r.0);
            if change.actions != [ActionWord::Delete] {
                after += change.rate_after.map_or(Usd::ZERO, |r| r.0);
            }
        }
        cost.hourly_before = HourlyRate(before);
        cost.hourly_after = HourlyRate(after);
        cost.hourly_delta = Usd::from_micros(after.micros() - before.micros());
        let runs: Vec<ResourceAddr> = addresses
            .iter()
            .filter(|a| a.kind() == ResourceKind::Run)
            .cloned()
            .collect();
        let mut total: Option<LifetimeCost> = None;
        for run in runs {
            match self.run_lifetime(&run) {
                Some(Some(life)) => {
                    if let Some(change) = self.changes.get_mut(&run) {
                        change.lifetime = Some(life.clone());
                    }
                    total = Some(match total {
                        None => life,
                        Some(t) => LifetimeCost {
                            min: t.min + life.min,
                            max: t.max + life.max,
                            bound_secs: t.bound_secs.max(life.bound_secs),
                            basis: "sum over runs with max_duration".into(),
                        },
                    });
                }
                Some(None) => cost.unbounded.push(run),
                None => {}
            }
        }
        cost.lifetime = total;
        cost
    }

    fn rate_change(&mut self, address: &ResourceAddr) {
        let recorded_rate = self
            .recorded
            .get(address)
            .and_then(|r| r.price_per_hour)
            .map(HourlyRate);
        let drifted = self.is_drifted(address);
        let planned = match address.kind() {
            ResourceKind::Volume => self.volume_rate(address),
            ResourceKind::Gateway => self.gateway_rate(address),
            _ => None,
        };
        let Some(change) = self.changes.get_mut(address) else {
            return;
        };
        if change.rate_before.is_none() && !drifted {
            change.rate_before = recorded_rate;
        }
        if change.rate_after.is_none() {
            change.rate_after = match change.actions.as_slice() {
                [ActionWord::Delete] => None,
                [ActionWord::NoOp] if address.kind() != ResourceKind::Volume => recorded_rate,
                _ => planned.or(recorded_rate),
            };
        }
    }

    fn volume_rate(&self, address: &ResourceAddr) -> Option<HourlyRate> {
        let change = self.changes.get(address)?;
        let spec = change.after.as_deref().or(change.before.as_deref())?;
        let size: Memory = spec.get("size")?.as_str()?.parse().ok()?;
        let backend = spec.get("backend")?.as_str()?;
        let per_gb = self
            .input
            .market
            .prices
            .get(backend)
            .map_or(0.0, |p| p.volume_gb_month);
        Some(volume_rate(size, per_gb))
    }

    fn gateway_rate(&self, address: &ResourceAddr) -> Option<HourlyRate> {
        let change = self.changes.get(address)?;
        let spec = change.after.as_deref()?;
        let backend = spec.get("backend")?.as_str()?;
        let region = spec.get("region")?.as_str()?;
        let prices = self.input.market.prices.get(backend)?;
        let instance_type = spec
            .get("instance_type")
            .and_then(|t| t.as_str())
            .unwrap_or(&prices.gateway_instance_type);
        let machine = self.input.market.offers.iter().find(|o| {
            o.backend == backend
                && o.instance_type == instance_type
                && o.region.eq_ignore_ascii_case(region)
                && !o.spot
        })?;
        let extra = Usd::from_dollars_f64(prices.gateway_extra_hourly).unwrap_or_default();
        Some(HourlyRate(machine.price.0 + extra))
    }

    /// `None`: not a live run; `Some(None)`: unbounded; `Some(Some(..))`: bounded.
    fn run_lifetime(&self, run: &ResourceAddr) -> Option<Option<LifetimeCost>> {
        let change = self.changes.get(run)?;
        let finished_noop = change.actions == [ActionWord::NoOp]
            && change
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("finished"));
        if change.actions == [ActionWord::Delete] || finished_noop {
            return None;
        }
        let config = self.desired.resources.get(run)?.config.clone()?;
        let common = config.run_common()?.clone();
        let Some(OffDuration::After(max)) = common.profile.max_duration else {
            return Some(None);
        };
        let run_idle = match common.profile.idle_duration {
            Some(IdleDuration::After(d)) => d.secs(),
            Some(IdleDuration::Never) => 0,
            None => RUN_IDLE_DEFAULT.secs(),
        };
        let (mut min_rate, mut max_rate, mut idle) = (Usd::ZERO, Usd::ZERO, 0u64);
        let jobs: Vec<&dstack_schemas::plan::ResourceChange> =
            children_of(&self.changes, run).map(|(_, c)| c).collect();
        let mut dearest = DearestCache::default();
        for job in jobs {
            let Some(instance) = job.placement.as_ref().and_then(|p| self.changes.get(p)) else {
                continue;
            };
            let rate = instance.rate_after.map_or(Usd::ZERO, |r| r.0);
            min_rate += rate;
            let grown = instance.action_reason == Some(ActionReason::CreateForRun);
            if grown {
                idle = idle.max(self.idle_secs(&instance.address, run_idle));
                let dearest = self
                    .dearest_for(job, &instance.address, &mut dearest)
                    .map_or(rate, |d| d.max(rate));
                max_rate += dearest;
            } else {
                max_rate += rate;
            }
        }
        let bound = max.secs() + idle;
        Some(Some(LifetimeCost {
            min: HourlyRate(min_rate).over_secs(bound),
            max: HourlyRate(max_rate).over_secs(bound),
            bound_secs: bound,
            basis: if idle > 0 {
                format!(
                    "max_duration {max} + idle {} before instances it added are released",
                    dstack_schemas::grammar::Duration::from_secs(idle)
                )
            } else {
                format!("max_duration {max}")
            },
        }))
    }

    fn idle_secs(&self, instance: &ResourceAddr, run_idle: u64) -> u64 {
        let fleet = ResourceAddr::Fleet(instance.name().to_string());
        let fleet_idle = match self
            .desired
            .resources
            .get(&fleet)
            .and_then(|r| r.config.as_deref())
        {
            Some(Configuration::Fleet(f)) => match f.profile.idle_duration {
                Some(IdleDuration::After(d)) => d.secs(),
                _ => FLEET_IDLE_DEFAULT.secs(),
            },
            _ => FLEET_IDLE_DEFAULT.secs(),
        };
        run_idle.min(fleet_idle)
    }

    /// The dearest offer failover could choose for a job's new instance.
    /// Jobs of a run share their requirements, so `cache` ranks the offers
    /// once per fleet and requirements, not once per job.
    fn dearest_for(
        &self,
        job: &dstack_schemas::plan::ResourceChange,
        instance: &ResourceAddr,
        cache: &mut DearestCache,
    ) -> Option<Usd> {
        let shape = self.desired.resources.get(&job.address)?.job.as_ref()?;
        let fleet = instance.name();
        if let Some((_, _, dearest)) = cache
            .iter()
            .find(|(f, r, _)| f == fleet && r == &shape.requirements)
        {
            return *dearest;
        }
        let address = ResourceAddr::Fleet(fleet.to_string());
        let Some(Configuration::Fleet(f)) = self.desired.resources.get(&address)?.config.as_deref()
        else {
            return None;
        };
        let fleet_requirements = fleet_requirements(f);
        let ranking = rank_all(
            &[
                &shape.requirements.and(&fleet_requirements),
                &fleet_requirements,
            ],
            &self.input.market.offers,
        );
        let dearest = ranking.dearest().map(|o| o.price.0);
        cache.push((fleet.to_string(), shape.requirements.clone(), dearest));
        dearest
    }
}
