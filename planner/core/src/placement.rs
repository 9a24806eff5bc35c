//! Where runs land: each run's jobs go to one fleet, on idle instances that
//! fit, else on new instances the fleet may grow (within `nodes.max`),
//! choosing the cheapest way. Runs never create fleets; the built-in
//! `local` fleet (this machine) is always a candidate.

use std::collections::BTreeMap;

use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::offer::Offer;

use crate::cost::rank_all;
use crate::requirements::Requirements;

/// An instance a job can run on (recorded, planned, or this machine).
#[derive(Debug, Clone)]
pub struct Slot {
    /// Instance address.
    pub address: ResourceAddr,
    /// Fleet name.
    pub fleet: String,
    /// The machine.
    pub offer: Offer,
    /// One job at a time (cloud instances) or many (this machine).
    pub exclusive: bool,
    /// Jobs placed on it.
    pub jobs: Vec<ResourceAddr>,
}

impl Slot {
    fn free(&self) -> bool {
        !self.exclusive || self.jobs.is_empty()
    }
}

/// What a fleet can still offer.
#[derive(Debug, Clone)]
pub struct FleetCapacity {
    /// Fleet name.
    pub name: String,
    /// What its instances must satisfy.
    pub requirements: Requirements,
    /// `placement: cluster`.
    pub cluster: bool,
    /// Instances it has (recorded and planned).
    pub count: u32,
    /// `nodes.max` (none: unlimited).
    pub max: Option<u32>,
    /// Cloud fleets can grow; SSH fleets and this machine cannot.
    pub can_grow: bool,
    /// Said when a job does not fit and the fleet cannot grow for a reason
    /// the user can change (e.g. it is outside the files given with `-f`).
    pub growth_note: Option<String>,
}

/// Instances and fleets available to runs.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    /// Every instance, by fleet name.
    pub slots: BTreeMap<String, Vec<Slot>>,
    /// Every fleet, by name.
    pub fleets: BTreeMap<String, FleetCapacity>,
}

/// A run to place.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Run name.
    pub run: String,
    /// Jobs to place, with what each needs.
    pub jobs: Vec<(ResourceAddr, Requirements)>,
    /// `fleets:` of the run, if given.
    pub fleets: Option<Vec<String>>,
    /// More than one node of a task (needs a cluster fleet).
    pub multinode: bool,
    /// `creation_policy` allows provisioning.
    pub may_create: bool,
}

/// An instance a fleet grows by for a run.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// Its address.
    pub address: ResourceAddr,
    /// Fleet name.
    pub fleet: String,
    /// The chosen offer.
    pub offer: Offer,
    /// The next offers, for failover.
    pub fallbacks: Vec<Offer>,
    /// How many offers matched.
    pub matched: usize,
    /// The dearest matching offer.
    pub dearest: Offer,
}

/// Where a run's jobs go.
#[derive(Debug, Clone, Default)]
pub struct Placed {
    /// Fleet chosen.
    pub fleet: String,
    /// Job → instance.
    pub assignments: Vec<(ResourceAddr, ResourceAddr)>,
    /// Instances to create.
    pub new_instances: Vec<NewInstance>,
}

/// How many fallback offers a new instance carries.
pub const FALLBACK_OFFERS: usize = 4;

impl Pool {
    /// Places `request`, preferring fleets that need no new instances, then
    /// the cheapest growth. `Err` lists why each candidate fleet failed.
    pub fn place(&mut self, request: &RunRequest, offers: &[Offer]) -> Result<Placed, Vec<String>> {
        let candidates: Vec<String> = match &request.fleets {
            Some(names) => names.clone(),
            None => self.fleets.keys().cloned().collect(),
        };
        if candidates.is_empty() {
            return Err(vec!["the project has no fleets".into()]);
        }
        let mut best: Option<(
            Placed,
            (
                dstack_schemas::money::Usd,
                dstack_schemas::money::Usd,
                String,
            ),
        )> = None;
        let mut reasons = Vec::new();
        for name in &candidates {
            match self.try_fleet(name, request, offers) {
                Ok((placed, key)) => {
                    if best.as_ref().is_none_or(|(_, k)| key < *k) {
                        best = Some((placed, key));
                    }
                }
                Err(reason) => reasons.push(format!("fleet/{name}: {reason}")),
            }
        }
        let (placed, _) = best.ok_or(reasons)?;
        self.commit(&placed);
        Ok(placed)
    }

    fn try_fleet(
        &self,
        name: &str,
        request: &RunRequest,
        offers: &[Offer],
    ) -> Result<
        (
            Placed,
            (
                dstack_schemas::money::Usd,
                dstack_schemas::money::Usd,
                String,
            ),
        ),
        String,
    > {
        let fleet = self.fleets.get(name).ok_or("not configured")?;
        if request.multinode && !fleet.cluster {
            return Err(format!(
                "{} nodes need `placement: cluster`",
                request.jobs.len()
            ));
        }
        let mut slots: Vec<Slot> = self.slots.get(name).cloned().unwrap_or_default();
        let mut count = fleet.count;
        let mut placed = Placed {
            fleet: name.to_string(),
            ..Placed::default()
        };
        let (mut new_cost, mut used_cost) = (
            dstack_schemas::money::Usd::ZERO,
            dstack_schemas::money::Usd::ZERO,
        );
        for (job, requirements) in &request.jobs {
            let fit = slots
                .iter_mut()
                .filter(|s| s.free() && requirements.check(&s.offer).is_ok())
                .min_by(|a, b| (a.offer.price, &a.address).cmp(&(b.offer.price, &b.address)));
            if let Some(slot) = fit {
                slot.jobs.push(job.clone());
                used_cost += slot.offer.price.0;
                placed.assignments.push((job.clone(), slot.address.clone()));
                continue;
            }
            let why_no_slot = slot_refusal(&slots, requirements);
            if !fleet.can_grow || !request.may_create {
                return Err(match &fleet.growth_note {
                    Some(note) if request.may_create => format!("{why_no_slot}; {note}"),
                    _ => why_no_slot,
                });
            }
            if fleet.max.is_some_and(|max| count >= max) {
                return Err(format!(
                    "{why_no_slot}, and it is at its maximum of {} node(s)",
                    count
                ));
            }
            // The new instance must fit both the job and its fleet.
            let ranking = rank_all(
                &[&requirements.and(&fleet.requirements), &fleet.requirements],
                offers,
            );
            let Some(offer) = ranking.best().cloned() else {
                return Err(format!(
                    "no offer matches ({})",
                    ranking.explain_rejections()
                ));
            };
            let address = ResourceAddr::Instance(name.to_string(), next_index(&slots, name));
            new_cost += offer.price.0;
            slots.push(Slot {
                address: address.clone(),
                fleet: name.to_string(),
                offer: offer.clone(),
                exclusive: true,
                jobs: vec![job.clone()],
            });
            count += 1;
            placed.assignments.push((job.clone(), address.clone()));
            placed.new_instances.push(NewInstance {
                address,
                fleet: name.to_string(),
                dearest: ranking.dearest().cloned().unwrap_or_else(|| offer.clone()),
                fallbacks: ranking
                    .matched
                    .iter()
                    .skip(1)
                    .take(FALLBACK_OFFERS)
                    .cloned()
                    .collect(),
                matched: ranking.matched.len(),
                offer,
            });
        }
        Ok((placed, (new_cost, used_cost, name.to_string())))
    }

    fn commit(&mut self, placed: &Placed) {
        for instance in &placed.new_instances {
            self.add_slot(Slot {
                address: instance.address.clone(),
                fleet: instance.fleet.clone(),
                offer: instance.offer.clone(),
                exclusive: true,
                jobs: Vec::new(),
            });
            if let Some(f) = self.fleets.get_mut(&instance.fleet) {
                f.count += 1;
            }
        }
        for (job, instance) in &placed.assignments {
            self.occupy(instance, job);
        }
    }

    /// Adds an instance.
    pub fn add_slot(&mut self, slot: Slot) {
        self.slots.entry(slot.fleet.clone()).or_default().push(slot);
    }

    /// Marks an instance as used by a job that keeps running.
    pub fn occupy(&mut self, instance: &ResourceAddr, job: &ResourceAddr) {
        let slots = self.slots.get_mut(instance.name()).into_iter().flatten();
        if let Some(slot) = slots.into_iter().find(|s| &s.address == instance) {
            slot.jobs.push(job.clone());
        }
    }
}

fn next_index(slots: &[Slot], fleet: &str) -> u32 {
    slots
        .iter()
        .filter(|s| s.fleet == fleet)
        .filter_map(|s| s.address.index())
        .max()
        .map_or(0, |i| i + 1)
}

fn slot_refusal(slots: &[Slot], requirements: &Requirements) -> String {
    if slots.is_empty() {
        return "has no instances".into();
    }
    let busy = slots.iter().filter(|s| !s.free()).count();
    let unfit: Vec<String> = slots
        .iter()
        .filter(|s| s.free())
        .filter_map(|s| {
            requirements
                .check(&s.offer)
                .err()
                .map(|m| format!("{}: {m}", s.address))
        })
        .collect();
    match (busy, unfit.first()) {
        (0, Some(first)) => format!("no instance fits ({first})"),
        (b, Some(first)) => format!(
            "{b} of {} instance(s) busy, the rest do not fit ({first})",
            slots.len()
        ),
        (b, None) => format!("all {b} instance(s) are busy"),
    }
}
