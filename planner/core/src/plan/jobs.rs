//! Run jobs: which need a place (new, scaled up, replaced), where they go
//! (see [`crate::placement`]), and the instances fleets grow by for them.

use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::config::Configuration;
use dstack_schemas::config::enums::{CreationPolicy, Placement};
use dstack_schemas::grammar::{CpuSpec, GpuSpec, Memory, Range};
use dstack_schemas::plan::{ActionReason, ChangeVerb};
use dstack_schemas::plan::{ActionWord, ResourceChange};
use dstack_schemas::spec::InstanceSpec;

use super::Scope;
use super::changes::{new_change, replace_actions, run_type_of};
use super::instances::fleet_requirements;
use super::{Builder, children_of};
use crate::desired::{DesiredResource, LOCAL_FLEET};
use crate::fingerprint::fingerprint;
use crate::placement::{FleetCapacity, NewInstance, Placed, Pool, RunRequest, Slot};
use crate::recorded::job_instance;
use crate::recorded::recorded_offer;
use crate::requirements::Requirements;
use crate::rules::{ReplaceOrder, replace_order};
use dstack_state::RecordedResource;

/// The one instance of the built-in local fleet.
pub fn local_instance() -> ResourceAddr {
    ResourceAddr::Instance(LOCAL_FLEET.into(), 0)
}

fn anything() -> Requirements {
    Requirements {
        cpu: CpuSpec {
            arch: None,
            count: Range::at_least(0),
        },
        memory: Range::at_least(Memory::from_mb(0)),
        gpu: GpuSpec::default(),
        disk: None,
        spot: None,
        max_price: None,
        backends: None,
        regions: None,
        instance_types: None,
    }
}

impl Builder<'_> {
    pub(super) fn plan_jobs(&mut self) {
        let mut runs: Vec<(u32, ResourceAddr)> = self
            .desired
            .resources
            .values()
            .filter(|r| r.address.kind() == ResourceKind::Run)
            .map(|r| {
                let priority = r.spec.get("priority").and_then(|p| p.as_u64()).unwrap_or(0) as u32;
                (priority, r.address.clone())
            })
            .collect();
        runs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        if runs.is_empty() {
            // Nothing to place: the pool of every instance is not built.
            return;
        }
        let mut pool = self.pool();
        // Jobs that keep running hold their instances before anything is
        // placed, those of runs outside the files given with `-f` included.
        self.occupy_for_runs_outside_files(&mut pool);
        let mut pending = Vec::new();
        for (_, run) in &runs {
            pending.push((run.clone(), self.job_changes(run, &mut pool)));
        }
        for (run, to_place) in pending {
            if !to_place.is_empty() {
                self.place_run(&run, to_place, &mut pool);
            }
        }
    }

    /// The pool of fleets and instances runs can use.
    fn pool(&self) -> Pool {
        let mut pool = Pool::default();
        for change in self
            .changes
            .values()
            .filter(|c| c.kind == ResourceKind::Fleet && c.actions != [ActionWord::Delete])
        {
            let Some(Configuration::Fleet(fleet)) = self
                .desired
                .resources
                .get(&change.address)
                .and_then(|r| r.config.as_deref())
            else {
                continue;
            };
            pool.fleets.insert(
                change.address.name().to_string(),
                FleetCapacity {
                    name: change.address.name().to_string(),
                    requirements: fleet_requirements(fleet),
                    cluster: fleet.placement == Some(Placement::Cluster),
                    count: 0,
                    max: if fleet.ssh_config.is_some() {
                        Some(0)
                    } else {
                        fleet.nodes.and_then(|n| n.max)
                    },
                    can_grow: fleet.ssh_config.is_none(),
                    growth_note: None,
                },
            );
        }
        for change in self
            .changes
            .values()
            .filter(|c| c.kind == ResourceKind::Instance && c.actions != [ActionWord::Delete])
        {
            let fleet = change.address.name().to_string();
            if let Some(f) = pool.fleets.get_mut(&fleet) {
                f.count += 1;
            }
            if let Some(offer) = &change.offer {
                pool.add_slot(Slot {
                    address: change.address.clone(),
                    fleet,
                    offer: offer.clone(),
                    exclusive: true,
                    jobs: Vec::new(),
                });
            }
        }
        self.add_fleets_outside_files(&mut pool);
        if let Some(local) = &self.input.market.local {
            pool.fleets.insert(
                LOCAL_FLEET.into(),
                FleetCapacity {
                    name: LOCAL_FLEET.into(),
                    requirements: anything(),
                    cluster: false,
                    count: 1,
                    max: Some(1),
                    can_grow: false,
                    growth_note: None,
                },
            );
            pool.add_slot(Slot {
                address: local_instance(),
                fleet: LOCAL_FLEET.into(),
                offer: local.clone(),
                exclusive: false,
                jobs: Vec::new(),
            });
        }
        pool
    }

    /// With `-f`, fleets recorded in state whose files were not given are
    /// left alone by the plan, but runs may still land on their instances
    /// (as they would without `-f`). They do not grow: growing would change
    /// a fleet the plan was told not to touch.
    fn add_fleets_outside_files(&self, pool: &mut Pool) {
        if self.input.scope != Scope::Files {
            return;
        }
        for (address, recorded) in &self.recorded {
            if address.kind() != ResourceKind::Fleet
                || pool.fleets.contains_key(address.name())
                || self.changes.contains_key(address)
            {
                continue;
            }
            let Ok(Configuration::Fleet(fleet)) =
                serde_json::from_value::<Configuration>(recorded.spec.clone())
            else {
                continue;
            };
            let instances: Vec<&RecordedResource> = children_of(&self.recorded, address)
                .map(|(_, r)| *r)
                .collect();
            let name = address.name().to_string();
            let count = instances.len() as u32;
            let could_grow = fleet.ssh_config.is_none()
                && fleet
                    .nodes
                    .and_then(|n| n.max)
                    .is_none_or(|max| count < max);
            pool.fleets.insert(
                name.clone(),
                FleetCapacity {
                    name: name.clone(),
                    requirements: fleet_requirements(&fleet),
                    cluster: fleet.placement == Some(Placement::Cluster),
                    count,
                    max: Some(count),
                    // At its maximum anyway: the usual message says so.
                    can_grow: !could_grow && fleet.ssh_config.is_none(),
                    growth_note: could_grow.then(|| {
                        format!(
                            "{address} is not grown because its file was not given with -f; add it (or plan without -f)"
                        )
                    }),
                },
            );
            for instance in instances {
                if let Some(offer) = recorded_offer(instance.offer.as_ref()) {
                    pool.add_slot(Slot {
                        address: instance.address.clone(),
                        fleet: name.clone(),
                        offer,
                        exclusive: true,
                        jobs: Vec::new(),
                    });
                }
            }
        }
    }

    /// Unfinished jobs the plan leaves alone (their runs are outside the
    /// files given with `-f`) keep their instances.
    fn occupy_for_runs_outside_files(&self, pool: &mut Pool) {
        if self.input.scope != Scope::Files {
            return;
        }
        for (address, recorded) in &self.recorded {
            let run_in_files = address
                .parent()
                .is_some_and(|run| self.desired.resources.contains_key(&run));
            if address.kind() != ResourceKind::Job || run_in_files || recorded.status.is_finished()
            {
                continue;
            }
            if let Some(instance) = job_instance(recorded) {
                pool.occupy(&instance, address);
            }
        }
    }

    /// Job changes of one run; returns the jobs that need a place.
    fn job_changes(&mut self, run: &ResourceAddr, pool: &mut Pool) -> Vec<ResourceAddr> {
        let Some(run_change) = self.changes.get(run).cloned() else {
            return Vec::new();
        };
        let run_type = run_change.after.as_deref().and_then(run_type_of);
        let order = replace_order(ResourceKind::Job, run_type.as_deref());
        let jobs: Vec<ResourceAddr> = children_of(&self.desired.resources, run)
            .map(|(address, _)| address.clone())
            .collect();
        let mut to_place = Vec::new();
        for address in jobs {
            let (mut change, recorded_instance, finished) =
                self.job_change(&address, &run_change, order);
            match change.verb() {
                ChangeVerb::NoOp | ChangeVerb::Update => {
                    change.placement = recorded_instance.clone();
                    if let (Some(instance), false) = (&recorded_instance, finished) {
                        pool.occupy(instance, &address);
                    }
                }
                _ => {
                    if order == ReplaceOrder::CreateThenDelete
                        && let Some(instance) = &recorded_instance
                    {
                        pool.occupy(instance, &address);
                    }
                    to_place.push(address.clone());
                }
            }
            self.changes.insert(address, change);
        }
        to_place
    }

    /// One job's change (before placement), the instance its recorded row
    /// ran on, and whether that row has finished.
    fn job_change(
        &self,
        address: &ResourceAddr,
        run_change: &ResourceChange,
        order: ReplaceOrder,
    ) -> (ResourceChange, Option<ResourceAddr>, bool) {
        let desired = &self.desired.resources[address];
        let recorded = self.recorded.get(address).copied();
        let mut change = match recorded {
            None => self.create_change(desired),
            Some(r) => self.compare(desired, r),
        };
        if matches!(run_change.verb(), ChangeVerb::Create | ChangeVerb::Replace)
            && recorded.is_some()
        {
            change.actions = replace_actions(order);
            change.action_reason = run_change.action_reason;
            change.reason = Some("its run is replaced".into());
            // The run's change says what changed; the job's own spec only
            // carries a fingerprint of it.
            change.changed_fields.clear();
        }
        let finished = recorded.is_some_and(|r| r.status.is_finished());
        (change, recorded.and_then(job_instance), finished)
    }

    fn place_run(&mut self, run: &ResourceAddr, jobs: Vec<ResourceAddr>, pool: &mut Pool) {
        let Some(request) = self.run_request(run, &jobs) else {
            return;
        };
        if self.fleet_named_but_unusable(run, &request, pool) {
            return;
        }
        match pool.place(&request, &self.input.market.offers) {
            Ok(placed) => self.record_placement(run, placed),
            Err(reasons) => self.report_unplaceable(run, &request, &reasons),
        }
    }

    /// What placing `run`'s `jobs` asks of the pool; `None` when the run is
    /// not one that places jobs (a task, service or dev environment).
    fn run_request(&self, run: &ResourceAddr, jobs: &[ResourceAddr]) -> Option<RunRequest> {
        let config = self
            .desired
            .resources
            .get(run)
            .and_then(|r| r.config.clone());
        let Some(
            Configuration::Task(_) | Configuration::Service(_) | Configuration::DevEnvironment(_),
        ) = config.as_deref()
        else {
            return None;
        };
        let common = config
            .as_deref()
            .and_then(|c| c.run_common())
            .cloned()
            .unwrap_or_default();
        let multinode = matches!(config.as_deref(), Some(Configuration::Task(_)))
            && children_of(&self.desired.resources, run).count() > 1;
        Some(RunRequest {
            run: run.name().to_string(),
            jobs: jobs
                .iter()
                .filter_map(|j| {
                    self.desired
                        .resources
                        .get(j)
                        .and_then(|d| d.job.as_ref())
                        .map(|s| (j.clone(), s.requirements.clone()))
                })
                .collect(),
            fleets: common
                .profile
                .fleets
                .as_ref()
                .map(|f| f.iter().map(|r| r.name.clone()).collect()),
            multinode,
            may_create: common.profile.creation_policy != Some(CreationPolicy::Reuse),
        })
    }

    /// True when the run names a fleet the pool does not have; reports it
    /// when the fleet is only a state row the plan could not read.
    fn fleet_named_but_unusable(
        &mut self,
        run: &ResourceAddr,
        request: &RunRequest,
        pool: &Pool,
    ) -> bool {
        // A run naming a fleet that does not exist was reported by the graph;
        // one that exists only as a state row the plan could not read is
        // reported here, so no job is ever planned without a place.
        let unusable = request
            .fleets
            .iter()
            .flatten()
            .find(|f| !pool.fleets.contains_key(*f));
        let Some(fleet) = unusable else {
            return false;
        };
        let address = ResourceAddr::Fleet(fleet.clone());
        if self.recorded.contains_key(&address) && !self.desired.resources.contains_key(&address) {
            self.error_at_field(
                "dstack::plan::no_capacity",
                run,
                "/fleets",
                format!("{address} is recorded in state, but its recorded spec cannot be read"),
                Some("give its file too (`-f`), or plan without -f".into()),
            );
        }
        true
    }

    /// Grows fleets by the new instances and makes each job depend on the
    /// instance it was placed on.
    fn record_placement(&mut self, run: &ResourceAddr, placed: Placed) {
        for instance in placed.new_instances {
            self.grow_fleet(run, instance);
        }
        for (job, instance) in placed.assignments {
            if let Some(change) = self.changes.get_mut(&job) {
                change.placement = Some(instance.clone());
            }
            self.graph.depend(&job, &instance, None);
        }
    }

    /// The error for a run no fleet can host (or a project without fleets).
    fn report_unplaceable(&mut self, run: &ResourceAddr, request: &RunRequest, reasons: &[String]) {
        let no_fleets = self
            .desired
            .resources
            .keys()
            .all(|a| a.kind() != ResourceKind::Fleet)
            && self.input.market.local.is_none();
        let (code, summary) = if no_fleets {
            (
                "dstack::plan::no_fleets",
                "the project has no fleets".to_string(),
            )
        } else {
            (
                "dstack::plan::no_capacity",
                format!("no fleet can host {run}"),
            )
        };
        let requirements = request
            .jobs
            .first()
            .map(|(_, r)| r.describe())
            .unwrap_or_default();
        self.error_at_field(
            code,
            run,
            "/resources",
            format!("{summary} ({requirements}): {}", reasons.join("; ")),
            Some("create a fleet that fits (`type: fleet`), let one grow (`nodes: 0..N`), or relax `resources`".into()),
        );
    }

    fn grow_fleet(&mut self, run: &ResourceAddr, instance: NewInstance) {
        let spec = InstanceSpec {
            fleet: instance.fleet.clone(),
            index: instance.address.index().unwrap_or(0),
            host: None,
            for_run: Some(run.name().to_string()),
        };
        let spec_json = std::sync::Arc::new(serde_json::to_value(&spec).unwrap_or_default());
        let mut change = new_change(&instance.address, vec![ActionWord::Create]);
        change.after = Some(std::sync::Arc::clone(&spec_json));
        change.fingerprint = Some(fingerprint(&spec_json));
        change.rate_after = Some(instance.offer.price);
        change.offer = Some(instance.offer);
        change.fallback_offers = instance.fallbacks;
        change.offers_matched = Some(instance.matched);
        change.reason = Some(format!("fleet/{} grows for {run}", instance.fleet));
        change.action_reason = Some(ActionReason::CreateForRun);
        change.source = self.location_of(run);
        if let Some(r) = self.recorded.get(&instance.address) {
            change.recorded_version = Some(r.version);
        }
        self.graph.depend(
            &instance.address,
            &ResourceAddr::Fleet(instance.fleet.clone()),
            None,
        );
        self.desired.resources.insert(
            instance.address.clone(),
            DesiredResource {
                address: instance.address.clone(),
                spec: spec_json,
                fingerprint: change.fingerprint.clone().unwrap_or_default(),
                config: None,
                job: None,
                origin: self
                    .desired
                    .resources
                    .get(run)
                    .and_then(|r| r.origin.clone()),
                references: Vec::new(),
            },
        );
        self.changes.insert(instance.address.clone(), change);
    }
}
