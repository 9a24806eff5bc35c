//! Where runs land: each run's jobs go to one fleet, on idle instances that
//! fit, else on new instances the fleet may grow (within `nodes.max`),
//! choosing the cheapest way. Runs never create fleets; the built-in
//! `local` fleet (this machine) is always a candidate.
//!
//! Placing is linear in jobs and instances: per fleet tried, the instances
//! are checked once for each distinct set of job requirements (a run has
//! one per replica group, written in its configuration), handed out
//! cheapest first from a sorted queue, and offers are ranked once per set.

use std::collections::{BTreeMap, HashSet};

use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::money::Usd;
use dstack_schemas::offer::Offer;

use crate::cost::{Ranking, rank_all};
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

/// How much placing has looked at: tests check it is linear, with no clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Instances looked at (fit checks, queue steps, refusal reports).
    pub slot_visits: u64,
    /// Offer rankings computed.
    pub rankings: u64,
}

/// Instances and fleets available to runs.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    /// Every instance, by address (a fleet's instances are adjacent).
    slots: BTreeMap<ResourceAddr, Slot>,
    /// Every fleet, by name.
    pub fleets: BTreeMap<String, FleetCapacity>,
    work: Work,
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

/// How a fleet's placement compares: new spend, then spend on instances it
/// already has, then the fleet's name (so ties are deterministic).
type PlacementCost = (Usd, Usd, String);

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
        let mut best: Option<(Placed, PlacementCost)> = None;
        let mut reasons = Vec::new();
        for name in &candidates {
            let Some(fleet) = self.fleets.get(name) else {
                reasons.push(format!("fleet/{name}: not configured"));
                continue;
            };
            let mut attempt = Attempt::new(self, fleet, offers);
            let outcome = attempt.place(request);
            let done = attempt.work;
            self.work.slot_visits += done.slot_visits;
            self.work.rankings += done.rankings;
            match outcome {
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
        self.slots.insert(slot.address.clone(), slot);
    }

    /// Marks an instance as used by a job that keeps running.
    pub fn occupy(&mut self, instance: &ResourceAddr, job: &ResourceAddr) {
        if let Some(slot) = self.slots.get_mut(instance) {
            slot.jobs.push(job.clone());
        }
    }

    /// What placing has looked at so far.
    pub fn work(&self) -> Work {
        self.work
    }

    /// The instances of fleet `name`, in address order.
    fn fleet_slots<'p>(&'p self, name: &str) -> impl DoubleEndedIterator<Item = &'p Slot> + 'p {
        ResourceAddr::Fleet(name.to_string())
            .children()
            .into_iter()
            .flat_map(move |range| self.slots.range(range))
            .map(|(_, slot)| slot)
    }
}

/// The free instances that fit one set of requirements, cheapest first
/// (ties by address), and the offers a new instance for them could take.
struct Queue {
    requirements: Requirements,
    /// Price, address, exclusive.
    slots: Vec<(Usd, ResourceAddr, bool)>,
    cursor: usize,
    ranking: Option<Ranking>,
}

/// One fleet tried for one run: what it would take and what it would cost.
/// Nothing in the pool changes until the fleet is chosen.
struct Attempt<'p> {
    pool: &'p Pool,
    fleet: &'p FleetCapacity,
    offers: &'p [Offer],
    queues: Vec<Queue>,
    /// Exclusive instances this run would take.
    taken: HashSet<ResourceAddr>,
    next_index: u32,
    count: u32,
    placed: Placed,
    new_cost: Usd,
    used_cost: Usd,
    work: Work,
}

impl<'p> Attempt<'p> {
    fn new(pool: &'p Pool, fleet: &'p FleetCapacity, offers: &'p [Offer]) -> Self {
        let next_index = pool
            .fleet_slots(&fleet.name)
            .filter_map(|s| s.address.index())
            .next_back()
            .map_or(0, |i| i + 1);
        Self {
            pool,
            fleet,
            offers,
            queues: Vec::new(),
            taken: HashSet::new(),
            next_index,
            count: fleet.count,
            placed: Placed {
                fleet: fleet.name.clone(),
                ..Placed::default()
            },
            new_cost: Usd::ZERO,
            used_cost: Usd::ZERO,
            work: Work::default(),
        }
    }

    fn place(&mut self, request: &RunRequest) -> Result<(Placed, PlacementCost), String> {
        if request.multinode && !self.fleet.cluster {
            return Err(format!(
                "{} nodes need `placement: cluster`",
                request.jobs.len()
            ));
        }
        for (job, requirements) in &request.jobs {
            let queue = self.queue_for(requirements);
            if let Some((price, instance)) = self.take_idle(queue) {
                self.used_cost += price;
                self.placed.assignments.push((job.clone(), instance));
                continue;
            }
            self.grow(queue, job, request.may_create)?;
        }
        let placed = std::mem::take(&mut self.placed);
        Ok((
            placed,
            (self.new_cost, self.used_cost, self.fleet.name.clone()),
        ))
    }

    /// The queue of `requirements`, built on first use.
    fn queue_for(&mut self, requirements: &Requirements) -> usize {
        if let Some(i) = self
            .queues
            .iter()
            .position(|q| &q.requirements == requirements)
        {
            return i;
        }
        let mut slots: Vec<(Usd, ResourceAddr, bool)> = Vec::new();
        for slot in self.pool.fleet_slots(&self.fleet.name) {
            self.work.slot_visits += 1;
            if slot.free() && requirements.check(&slot.offer).is_ok() {
                slots.push((slot.offer.price.0, slot.address.clone(), slot.exclusive));
            }
        }
        slots.sort();
        self.queues.push(Queue {
            requirements: requirements.clone(),
            slots,
            cursor: 0,
            ranking: None,
        });
        self.queues.len() - 1
    }

    /// The cheapest idle instance of queue `q` this run has not taken yet.
    /// A shared instance (this machine) stays at the head for the next job.
    fn take_idle(&mut self, q: usize) -> Option<(Usd, ResourceAddr)> {
        let queue = &mut self.queues[q];
        while let Some((price, address, exclusive)) = queue.slots.get(queue.cursor) {
            self.work.slot_visits += 1;
            if !exclusive {
                return Some((*price, address.clone()));
            }
            queue.cursor += 1;
            if self.taken.insert(address.clone()) {
                return Some((*price, address.clone()));
            }
        }
        None
    }

    /// A new instance for `job`, if the fleet may grow by one.
    fn grow(&mut self, q: usize, job: &ResourceAddr, may_create: bool) -> Result<(), String> {
        if !self.fleet.can_grow || !may_create {
            let why_no_slot = self.refusal(q);
            return Err(match &self.fleet.growth_note {
                Some(note) if may_create => format!("{why_no_slot}; {note}"),
                _ => why_no_slot,
            });
        }
        if self.fleet.max.is_some_and(|max| self.count >= max) {
            return Err(format!(
                "{}, and it is at its maximum of {} node(s)",
                self.refusal(q),
                self.count
            ));
        }
        let instance = self.new_instance(q)?;
        self.new_cost += instance.offer.price.0;
        self.count += 1;
        self.next_index += 1;
        self.placed
            .assignments
            .push((job.clone(), instance.address.clone()));
        self.placed.new_instances.push(instance);
        Ok(())
    }

    /// The next instance of the fleet, on the best offer that fits both the
    /// job and the fleet.
    fn new_instance(&mut self, q: usize) -> Result<NewInstance, String> {
        let (fleet, offers, work) = (&self.fleet.requirements, self.offers, &mut self.work);
        let queue = &mut self.queues[q];
        let ranking = queue.ranking.get_or_insert_with(|| {
            work.rankings += 1;
            rank_all(&[&queue.requirements.and(fleet), fleet], offers)
        });
        let Some(offer) = ranking.best().cloned() else {
            return Err(format!(
                "no offer matches ({})",
                ranking.explain_rejections()
            ));
        };
        Ok(NewInstance {
            address: ResourceAddr::Instance(self.fleet.name.clone(), self.next_index),
            fleet: self.fleet.name.clone(),
            fallbacks: ranking
                .matched
                .iter()
                .skip(1)
                .take(FALLBACK_OFFERS)
                .cloned()
                .collect(),
            matched: ranking.matched.len(),
            offer,
        })
    }

    /// Why no instance of the fleet can take a job of queue `q` now (said
    /// once, when the run cannot be placed on this fleet).
    fn refusal(&mut self, q: usize) -> String {
        let requirements = &self.queues[q].requirements;
        let grown = self.placed.new_instances.len();
        let (mut total, mut busy, mut first_unfit) = (grown, grown, None);
        for slot in self.pool.fleet_slots(&self.fleet.name) {
            self.work.slot_visits += 1;
            total += 1;
            if !slot.free() || (slot.exclusive && self.taken.contains(&slot.address)) {
                busy += 1;
                continue;
            }
            if first_unfit.is_none()
                && let Err(m) = requirements.check(&slot.offer)
            {
                first_unfit = Some(format!("{}: {m}", slot.address));
            }
        }
        if total == 0 {
            return "has no instances".into();
        }
        match (busy, first_unfit) {
            (0, Some(first)) => format!("no instance fits ({first})"),
            (b, Some(first)) => {
                format!("{b} of {total} instance(s) busy, the rest do not fit ({first})")
            }
            (b, None) => format!("all {b} instance(s) are busy"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dstack_schemas::grammar::{CpuArch, Memory, Range};
    use dstack_schemas::money::HourlyRate;
    use dstack_schemas::offer::Availability;

    fn offer(instance_type: &str, cents: i64) -> Offer {
        Offer {
            backend: "aws".into(),
            region: "us-east-1".into(),
            availability_zone: None,
            instance_type: instance_type.into(),
            cpus: 4,
            cpu_arch: CpuArch::X86,
            memory: Memory::from_gb(16),
            disk: None,
            gpu: None,
            spot: false,
            price: HourlyRate(Usd::from_micros(cents * 10_000)),
            availability: Availability::Available,
        }
    }

    fn cpus(at_least: u32) -> Requirements {
        Requirements {
            // Built, not parsed: `0..` is no CPU request a configuration may make,
            // but a fleet of this machine takes any job.
            cpu: dstack_schemas::grammar::CpuSpec {
                arch: None,
                count: Range::at_least(at_least),
            },
            memory: Range::at_least(Memory::from_gb(0)),
            gpu: Default::default(),
            disk: None,
            spot: None,
            max_price: None,
            backends: None,
            regions: None,
            instance_types: None,
        }
    }

    /// A fleet of `count` instances; a cloud one (cluster, growing to
    /// `max`) or this machine.
    fn fleet(name: &str, count: u32, max: Option<u32>, cloud: bool) -> FleetCapacity {
        FleetCapacity {
            name: name.into(),
            requirements: cpus(u32::from(cloud)),
            cluster: cloud,
            count,
            max,
            can_grow: cloud,
            growth_note: None,
        }
    }

    /// Fleet `pool` (cluster, may grow to `max`) with `idle` instances whose
    /// prices cycle through 7 values, so the cheapest-first order is not the
    /// address order.
    fn pool(idle: u32, max: Option<u32>) -> Pool {
        let mut pool = Pool::default();
        pool.fleets
            .insert("pool".into(), fleet("pool", idle, max, true));
        for i in 0..idle {
            pool.add_slot(Slot {
                address: ResourceAddr::Instance("pool".into(), i),
                fleet: "pool".into(),
                offer: offer("idle", 10 + i64::from(i % 7)),
                exclusive: true,
                jobs: Vec::new(),
            });
        }
        pool
    }

    fn request(nodes: u32, requirements: &Requirements) -> RunRequest {
        RunRequest {
            run: "big".into(),
            jobs: (0..nodes)
                .map(|i| (ResourceAddr::Job("big".into(), i), requirements.clone()))
                .collect(),
            fleets: None,
            multinode: nodes > 1,
            may_create: true,
        }
    }

    #[test]
    fn many_nodes_fill_idle_instances_cheapest_first_then_grow_in_linear_work() {
        let (idle, nodes) = (3_000u32, 10_000u32);
        let mut pool = pool(idle, None);
        let offers = [offer("dear", 90), offer("cheap", 20), offer("mid", 50)];
        let placed = pool
            .place(&request(nodes, &cpus(2)), &offers)
            .expect("placed");
        let mut cheapest_first: Vec<(i64, u32)> =
            (0..idle).map(|i| (10 + i64::from(i % 7), i)).collect();
        cheapest_first.sort();
        let expected: Vec<(ResourceAddr, ResourceAddr)> = (0..nodes)
            .map(|j| {
                let instance = match cheapest_first.get(j as usize) {
                    Some((_, i)) => *i,
                    None => j,
                };
                (
                    ResourceAddr::Job("big".into(), j),
                    ResourceAddr::Instance("pool".into(), instance),
                )
            })
            .collect();
        assert_eq!(placed.assignments, expected);
        assert_eq!(placed.new_instances.len(), (nodes - idle) as usize);
        assert!(placed.new_instances.iter().all(|n| {
            n.offer.instance_type == "cheap"
                && n.fallbacks
                    .iter()
                    .map(|o| o.instance_type.as_str())
                    .eq(["mid", "dear"])
                && n.matched == 3
        }));
        let work = pool.work();
        assert_eq!(work.rankings, 1, "offers are ranked once per requirements");
        assert!(
            work.slot_visits <= u64::from(2 * idle + nodes),
            "placing {nodes} jobs on {idle} instances looked at {} instances",
            work.slot_visits
        );
        assert_eq!(pool.fleets["pool"].count, nodes);
    }

    #[test]
    fn a_full_fleet_says_how_many_instances_are_busy_and_which_do_not_fit() {
        let mut pool = pool(3, Some(4));
        // Instance 2 is too small for jobs that need 8 CPUs.
        pool.add_slot(Slot {
            address: ResourceAddr::Instance("pool".into(), 2),
            fleet: "pool".into(),
            offer: Offer {
                cpus: 2,
                ..offer("small", 5)
            },
            exclusive: true,
            jobs: Vec::new(),
        });
        let offers = [Offer {
            cpus: 16,
            ..offer("big", 80)
        }];
        let mut req = cpus(1);
        req.cpu = "3..".parse().expect("cpu spec");
        let err = pool.place(&request(4, &req), &offers).expect_err("full");
        assert_eq!(
            err,
            [
                "fleet/pool: 3 of 4 instance(s) busy, the rest do not fit (fleet/pool/instance/2: \
                 cpu: 2 CPUs, need 3..), and it is at its maximum of 4 node(s)"
            ]
        );
        assert_eq!(
            pool.fleets["pool"].count, 3,
            "a failed placement takes nothing"
        );
    }

    #[test]
    fn this_machine_takes_every_job_of_a_single_node_run() {
        let mut pool = Pool::default();
        pool.fleets
            .insert("local".into(), fleet("local", 1, Some(1), false));
        pool.add_slot(Slot {
            address: ResourceAddr::Instance("local".into(), 0),
            fleet: "local".into(),
            offer: offer("host", 0),
            exclusive: false,
            jobs: Vec::new(),
        });
        let mut req = request(3, &cpus(1));
        req.multinode = false;
        let placed = pool.place(&req, &[]).expect("placed");
        let on: Vec<String> = placed.assignments.iter().map(|a| a.1.to_string()).collect();
        assert_eq!(on, ["fleet/local/instance/0"; 3]);
        assert!(placed.new_instances.is_empty());
    }
}
