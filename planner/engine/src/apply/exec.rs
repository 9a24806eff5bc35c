//! Executing one step: the provider or runtime call, wrapped in an intent
//! row, followed by the state write. Returns a detail line or an error.

use std::collections::BTreeMap;

use dstack_provider::{
    GatewayRequest, InstanceRequest, ProviderError, ResourceInfo, VolumeRequest, ownership_tags,
};
use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::config::Configuration;
use dstack_schemas::grammar::{EnvValue, Memory, VolumeMount};
use dstack_schemas::offer::Offer;
use dstack_schemas::plan::{PlanDoc, ResourceChange};
use dstack_schemas::spec::JobSpec;
use dstack_state::{Expected, IntentOutcome, NewIntent, RecordedResource};

use super::runtime::{InstanceTarget, JobLaunch, VolumeTarget};
use super::steps::{Op, Step};
use super::{ApplyContext, ApplyEvent, Done, with_retries};

mod delete;
use dstack_planner::fingerprint::digest;

/// Runs a blocking state write without stalling the other steps: on a
/// multi-threaded runtime the worker first hands its other tasks to a new
/// thread, so concurrent steps wait on one group commit together instead of
/// queueing behind each other's fsync. Elsewhere (a current-thread runtime
/// in tests) it simply calls `f`.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Runs `step`; what it did on success.
pub async fn execute(
    plan: &PlanDoc,
    ctx: &ApplyContext,
    apply_id: &str,
    step: &Step,
) -> Result<Done, String> {
    let change = &plan.resource_changes[step.change];
    let token = token(&ctx.lineage, apply_id, &change.address, step.op);
    let exec = Exec {
        ctx,
        apply_id,
        change,
        token,
    };
    let detail = match (change.kind, step.op) {
        (ResourceKind::Instance | ResourceKind::Volume | ResourceKind::Gateway, Op::Delete) => {
            return exec.delete_cloud(change.kind).await;
        }
        (ResourceKind::Instance, Op::Create) => exec.create_instance().await,
        (ResourceKind::Volume, Op::Create) => exec.create_volume().await,
        (ResourceKind::Volume, Op::Update) => exec.update_volume().await,
        (ResourceKind::Gateway, Op::Create) => exec.create_gateway().await,
        (ResourceKind::Job, Op::Create) => exec.submit_job().await,
        (ResourceKind::Job, Op::Delete) => exec.stop_job().await,
        (_, Op::Delete) => exec.forget().await,
        (_, Op::Create | Op::Update) => exec.record_spec().await,
    };
    detail.map(Done::from)
}

/// The idempotency token of one step: stable for a given apply, address
/// and operation, so a retried call within the apply is recognised.
fn token(lineage: &str, apply_id: &str, address: &ResourceAddr, op: Op) -> String {
    let d = digest(format!("{lineage}/{apply_id}/{address}/{}", op.as_str()).as_bytes());
    format!("dstk-{}", &d[7..39])
}

struct Exec<'a> {
    ctx: &'a ApplyContext,
    apply_id: &'a str,
    change: &'a ResourceChange,
    token: String,
}

impl Exec<'_> {
    fn address(&self) -> &ResourceAddr {
        &self.change.address
    }

    fn begin(&self, operation: &str, provider: Option<&str>) -> Result<i64, String> {
        let intent = NewIntent {
            apply_id: self.apply_id.to_string(),
            address: self.address().clone(),
            operation: operation.into(),
            token: self.token.clone(),
            provider: provider.map(str::to_string),
            payload: (operation == "create" || operation == "submit").then(|| {
                serde_json::json!({
                    "spec": self.change.after,
                    "fingerprint": self.change.fingerprint,
                    "placement": self.change.placement,
                })
            }),
        };
        blocking(|| self.ctx.state.begin_intent(&intent))
            .map_err(|e| format!("cannot journal intent: {e}"))
    }

    fn end(&self, id: i64, outcome: IntentOutcome, detail: Option<&str>) {
        // The journal is advisory once the call returned; state below is the truth.
        let _ = blocking(|| self.ctx.state.finish_intent(id, outcome, detail));
    }

    fn provider(
        &self,
        backend: &str,
    ) -> Result<std::sync::Arc<dyn dstack_provider::Provider>, String> {
        self.ctx.providers.get(backend).cloned().ok_or_else(|| {
            format!("backend `{backend}` is not configured (see .dstack/backends.yml)")
        })
    }

    fn new_record(&self) -> RecordedResource {
        RecordedResource::new(
            self.address().clone(),
            self.change.after.clone().unwrap_or(serde_json::Value::Null),
            self.change.fingerprint.clone().unwrap_or_default(),
        )
    }

    /// Where the row must be for a create: absent, unless the plan saw a row
    /// (a resource deleted outside dstack) and this is not a replacement.
    fn create_expectation(&self) -> Expected {
        let replacing = self.change.actions.len() == 2;
        match self.change.recorded_version {
            Some(v) if !replacing => Expected::Version(v),
            Some(_) if self.change.actions[0] == dstack_schemas::plan::ActionWord::Create => {
                Expected::Version(self.change.recorded_version.unwrap_or(0))
            }
            _ => Expected::Absent,
        }
    }

    fn write(
        &self,
        record: &RecordedResource,
        expected: Expected,
    ) -> Result<RecordedResource, String> {
        blocking(|| self.ctx.state.put(record, expected))
            .map_err(|e| format!("state write failed: {e}"))
    }

    async fn record_spec(&self) -> Result<String, String> {
        let mut record = match self
            .ctx
            .state
            .get(self.address())
            .map_err(|e| e.to_string())?
        {
            Some(existing) if self.change.recorded_version.is_some() => existing,
            _ => self.new_record(),
        };
        record.spec = self.change.after.clone().unwrap_or(record.spec);
        record.fingerprint = self
            .change
            .fingerprint
            .clone()
            .unwrap_or(record.fingerprint);
        record.status = if self.change.kind == ResourceKind::Run {
            "submitted".into()
        } else {
            "active".into()
        };
        let expected = match self.change.recorded_version {
            Some(v) => Expected::Version(v),
            None => Expected::Absent,
        };
        let expected = if self.change.actions.len() == 2 {
            self.create_expectation()
        } else {
            expected
        };
        self.write(&record, expected)
            .map(|r| format!("version {}", r.version))
    }

    async fn forget(&self) -> Result<String, String> {
        let expected = self
            .change
            .recorded_version
            .map_or(Expected::Any, Expected::Version);
        match blocking(|| self.ctx.state.remove(self.address(), expected)) {
            Ok(()) => Ok("removed from state".into()),
            Err(dstack_state::StateError::Conflict { found, .. }) if found == "no row" => {
                Ok("already gone".into())
            }
            Err(e) => Err(format!("state write failed: {e}")),
        }
    }

    fn tags(&self, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        ownership_tags(
            &self.ctx.project,
            &self.ctx.lineage,
            self.address(),
            &self.token,
            user,
        )
    }

    fn fleet_tags(&self) -> BTreeMap<String, String> {
        let fleet = self
            .ctx
            .state
            .get(&ResourceAddr::Fleet(self.address().name().into()))
            .ok()
            .flatten();
        fleet
            .and_then(|f| f.spec.get("tags").cloned())
            .and_then(|t| serde_json::from_value(t).ok())
            .unwrap_or_default()
    }

    /// Creates an instance, failing over to the next offer on no capacity
    /// or quota errors.
    async fn create_instance(&self) -> Result<String, String> {
        let Some(first) = self.change.offer.clone() else {
            return Err(format!(
                "{} has no offer (SSH fleet hosts cannot be provisioned by this backend)",
                self.address()
            ));
        };
        let offers: Vec<Offer> = std::iter::once(first)
            .chain(self.change.fallback_offers.iter().cloned())
            .collect();
        let tags = self.tags(&self.fleet_tags());
        let mut failures = Vec::new();
        for offer in offers {
            let provider = match self.provider(&offer.backend) {
                Ok(p) => p,
                Err(e) => {
                    failures.push(e);
                    continue;
                }
            };
            let request = InstanceRequest {
                address: self.address().clone(),
                token: self.token.clone(),
                offer: offer.clone(),
                disk: None,
                tags: tags.clone(),
                user_data: self.ctx.instance_user_data.clone(),
            };
            let intent = self.begin("create", Some(&offer.backend))?;
            match with_retries(self.ctx, self.address(), || {
                provider.create_instance(&request)
            })
            .await
            {
                Ok(info) => {
                    failpoint("after-create", self.address());
                    return self
                        .record_then_close(intent, &offer.backend, &info, Some(&offer))
                        .map(|d| {
                            if failures.is_empty() {
                                d
                            } else {
                                format!("{d} (after: {})", failures.join("; "))
                            }
                        });
                }
                Err(e) => {
                    self.end(intent, IntentOutcome::Failed, Some(&e.to_string()));
                    if !e.kind.tries_next_offer() {
                        return Err(fail_message(&e, &failures));
                    }
                    self.ctx.emit(ApplyEvent::Note {
                        address: self.address().clone(),
                        message: format!("{}: {}; trying the next offer", offer.key(), e.kind),
                    });
                    failures.push(format!(
                        "{} ({}): {}",
                        offer.instance_type, offer.region, e.kind
                    ));
                }
            }
        }
        Err(format!("every offer failed: {}", failures.join("; ")))
    }

    /// Writes the created resource, then closes its intent: a crash between
    /// the two leaves the intent open and recovery finds the row (or adopts
    /// the resource by its token); closing first would lose the resource.
    fn record_then_close(
        &self,
        intent: i64,
        backend: &str,
        info: &ResourceInfo,
        offer: Option<&Offer>,
    ) -> Result<String, String> {
        let record = self.created_record(backend, info, offer);
        let stored = blocking(|| {
            self.ctx.state.record_and_close(
                &record,
                self.create_expectation(),
                intent,
                Some(&info.provider_id),
            )
        })
        .map_err(|e| format!("state write failed: {e}"))?;
        Ok(created_detail(info, offer, &stored))
    }

    /// The row of a resource the provider just created.
    fn created_record(
        &self,
        backend: &str,
        info: &ResourceInfo,
        offer: Option<&Offer>,
    ) -> RecordedResource {
        let mut record = self.new_record();
        record.provider = Some(backend.to_string());
        record.provider_id = Some(info.provider_id.clone());
        record.status = "active".into();
        record.offer = offer.and_then(|o| serde_json::to_value(o).ok());
        record.price_per_hour = offer
            .map(|o| o.price.0)
            .or(info.price.map(|p| p.0))
            .or(self.change.rate_after.map(|r| r.0));
        record.data = info.data.clone();
        record
    }

    async fn create_volume(&self) -> Result<String, String> {
        let Some(Configuration::Volume(volume)) = self
            .change
            .after
            .as_ref()
            .and_then(|a| serde_json::from_value(a.clone()).ok())
        else {
            return Err("volume spec unreadable".into());
        };
        let backend = volume.backend.to_string();
        let provider = self.provider(&backend)?;
        if let Some(existing) = &volume.volume_id {
            let found = provider
                .get(ResourceKind::Volume, existing)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("volume {existing} does not exist in {backend}"))?;
            let mut record = self.new_record();
            record.provider = Some(backend);
            record.provider_id = Some(found.provider_id.clone());
            record.status = "active".into();
            record.data = serde_json::json!({ "external": true, "observed": found.data });
            self.write(&record, self.create_expectation())?;
            return Ok(format!("registered external volume {existing}"));
        }
        let request = VolumeRequest {
            address: self.address().clone(),
            token: self.token.clone(),
            region: volume.region.clone().unwrap_or_else(|| "local".into()),
            availability_zone: volume.availability_zone.clone(),
            size: volume.size.unwrap_or(Memory::from_gb(100)),
            tags: self.tags(&volume.tags.clone().unwrap_or_default()),
        };
        let intent = self.begin("create", Some(&backend))?;
        match with_retries(self.ctx, self.address(), || {
            provider.create_volume(&request)
        })
        .await
        {
            Ok(info) => self.record_then_close(intent, &backend, &info, None),
            Err(e) => {
                self.end(intent, IntentOutcome::Failed, Some(&e.to_string()));
                Err(e.to_string())
            }
        }
    }

    async fn update_volume(&self) -> Result<String, String> {
        let recorded = self
            .ctx
            .state
            .get(self.address())
            .map_err(|e| e.to_string())?
            .ok_or("volume is not recorded")?;
        let after = self.change.after.clone().unwrap_or_default();
        let size: Option<Memory> = after
            .get("size")
            .and_then(|s| s.as_str())
            .and_then(|s| s.parse().ok());
        let before_size = recorded
            .spec
            .get("size")
            .and_then(|s| s.as_str())
            .and_then(|s| s.parse::<Memory>().ok());
        let mut record = recorded.clone();
        if let (Some(size), Some(provider_name), Some(id)) =
            (size, &recorded.provider, &recorded.provider_id)
            && Some(size) != before_size
        {
            let provider = self.provider(provider_name)?;
            let intent = self.begin("resize", Some(provider_name))?;
            match with_retries(self.ctx, self.address(), || {
                provider.resize_volume(id, size)
            })
            .await
            {
                Ok(info) => {
                    self.end(intent, IntentOutcome::Done, Some(id));
                    // The id as the backend gives it today (see `canonical_id`).
                    record.provider_id = Some(info.provider_id);
                    record.data = info.data;
                }
                Err(e) => {
                    self.end(intent, IntentOutcome::Failed, Some(&e.to_string()));
                    return Err(e.to_string());
                }
            }
        }
        record.spec = after;
        record.fingerprint = self
            .change
            .fingerprint
            .clone()
            .unwrap_or(record.fingerprint);
        let stored = self.write(&record, Expected::Version(recorded.version))?;
        Ok(format!("version {}", stored.version))
    }

    async fn create_gateway(&self) -> Result<String, String> {
        let Some(Configuration::Gateway(gateway)) = self
            .change
            .after
            .as_ref()
            .and_then(|a| serde_json::from_value(a.clone()).ok())
        else {
            return Err("gateway spec unreadable".into());
        };
        let backend = gateway.backend.to_string();
        let provider = self.provider(&backend)?;
        let request = GatewayRequest {
            address: self.address().clone(),
            token: self.token.clone(),
            region: gateway.region.clone(),
            instance_type: gateway.instance_type.clone(),
            public_ip: gateway.public_ip.unwrap_or(true),
            tags: self.tags(&gateway.tags.clone().unwrap_or_default()),
        };
        let intent = self.begin("create", Some(&backend))?;
        match with_retries(self.ctx, self.address(), || {
            provider.create_gateway(&request)
        })
        .await
        {
            Ok(info) => self.record_then_close(intent, &backend, &info, None),
            Err(e) => {
                self.end(intent, IntentOutcome::Failed, Some(&e.to_string()));
                Err(e.to_string())
            }
        }
    }

    fn instance_target(&self, instance: &ResourceAddr) -> Result<InstanceTarget, String> {
        super::runtime::instance_target(self.ctx.state.as_ref(), instance)
    }

    /// The run's configuration as the user wrote it now (un-redacted), or
    /// else the recorded (normalised) one; and the directory of its file.
    fn run_config(&self, run: &str) -> Result<(Configuration, std::path::PathBuf), String> {
        for pc in &self.ctx.configs {
            let name = dstack_planner::naming::resource_name(&pc.config, pc.file.name()).ok();
            if name.as_deref() == Some(run) && pc.config.run_common().is_some() {
                let dir = std::path::Path::new(pc.file.name())
                    .parent()
                    .map(|p| p.to_path_buf())
                    .unwrap_or_default();
                return Ok((dstack_planner::normalize::normalize(&pc.config), dir));
            }
        }
        let recorded = self
            .ctx
            .state
            .get(&ResourceAddr::Run(run.into()))
            .map_err(|e| e.to_string())?;
        let spec = recorded
            .map(|r| r.spec)
            .ok_or_else(|| format!("run/{run} has no configuration"))?;
        let config =
            serde_json::from_value(spec).map_err(|e| format!("run/{run} spec unreadable: {e}"))?;
        Ok((config, std::path::PathBuf::from(".")))
    }

    async fn submit_job(&self) -> Result<String, String> {
        let job: JobSpec = serde_json::from_value(self.change.after.clone().unwrap_or_default())
            .map_err(|e| format!("job spec unreadable: {e}"))?;
        let instance = self
            .change
            .placement
            .clone()
            .ok_or("job has no placement")?;
        let target = self.instance_target(&instance)?;
        let (config, config_dir) = self.run_config(&job.run)?;
        let env = resolve_inherited_env(&config, self.address())?;
        let volumes = self.volume_targets(&config, &job)?;
        let attached = self.attach_volumes(&target, &volumes).await?;
        let previous = self
            .ctx
            .state
            .get(self.address())
            .map_err(|e| e.to_string())?;
        let submission = previous
            .as_ref()
            .and_then(|p| p.data.get("submission"))
            .and_then(|s| s.as_u64())
            .map_or(0, |s| s as u32 + 1);
        let launch = JobLaunch {
            address: self.address().clone(),
            job,
            config,
            instance: target,
            volumes,
            env,
            token: self.token.clone(),
            submission,
            config_dir,
        };
        let runtime = self.ctx.runtime.clone();
        let intent = self.begin("submit", Some(runtime.name()))?;
        let state = match runtime.submit(&launch).await {
            Ok(s) => {
                self.end(intent, IntentOutcome::Done, Some(&s.id));
                s
            }
            Err(e) => {
                self.end(intent, IntentOutcome::Failed, Some(&e.message));
                return Err(e.message);
            }
        };
        let mut record = self.new_record();
        record.provider = Some(runtime.name().to_string());
        record.provider_id = Some(state.id.clone());
        record.status = state.status.clone();
        record.data = serde_json::json!({
            "instance": instance.to_string(),
            "submission": submission,
            "exit_code": state.exit_code,
            "reason": state.reason,
            "runtime": state.data,
            "previous": previous.as_ref().filter(|_| self.change.actions.first() == Some(&dstack_schemas::plan::ActionWord::Create)).and_then(|p| p.provider_id.clone()),
        });
        record.data["attached"] = attached;
        let expected = match (&previous, self.change.actions.first()) {
            (Some(p), Some(dstack_schemas::plan::ActionWord::Create))
                if self.change.actions.len() == 2 =>
            {
                Expected::Version(p.version)
            }
            _ => self.create_expectation(),
        };
        self.write(&record, expected)?;
        Ok(format!("job {} on {instance} ({})", state.id, state.status))
    }

    fn volume_targets(
        &self,
        config: &Configuration,
        job: &JobSpec,
    ) -> Result<Vec<VolumeTarget>, String> {
        let mut out = Vec::new();
        for mount in config
            .run_common()
            .and_then(|c| c.volumes.clone())
            .unwrap_or_default()
        {
            let VolumeMount::Network { names, .. } = mount else {
                continue;
            };
            for name in names {
                let name = name
                    .replace("${{ dstack.job_num }}", &job.index.to_string())
                    .replace("${{ dstack.node_rank }}", &job.node_rank.to_string());
                let row = self
                    .ctx
                    .state
                    .get(&ResourceAddr::Volume(name.clone()))
                    .map_err(|e| e.to_string())?;
                let Some(row) = row else {
                    return Err(format!(
                        "volume/{name} is not recorded; create it first (`type: volume`)"
                    ));
                };
                let provider = row
                    .provider
                    .as_ref()
                    .and_then(|p| self.ctx.providers.get(p));
                out.push(VolumeTarget {
                    name,
                    provider_id: match (provider, row.provider_id) {
                        (Some(p), Some(id)) => Some(p.canonical_id(ResourceKind::Volume, &id)),
                        (_, id) => id,
                    },
                    data: row.data,
                });
            }
        }
        Ok(out)
    }

    async fn stop_job(&self) -> Result<String, String> {
        let Some(recorded) = self
            .ctx
            .state
            .get(self.address())
            .map_err(|e| e.to_string())?
        else {
            return Ok("already gone".into());
        };
        // In a rolling replacement the row already holds the new job; the
        // delete step stops the previous one.
        let rolling =
            self.change.actions.first() == Some(&dstack_schemas::plan::ActionWord::Create);
        let job_id = if rolling {
            recorded
                .data
                .get("previous")
                .and_then(|p| p.as_str())
                .map(str::to_string)
        } else {
            recorded.provider_id.clone()
        };
        let finished =
            !rolling && dstack_planner::plan::FINISHED_STATUSES.contains(&recorded.status.as_str());
        let instance = super::job_instance(&recorded);
        if let (Some(job_id), Some(instance), false) = (&job_id, instance, finished) {
            let target = self.instance_target(&instance).unwrap_or(InstanceTarget {
                address: instance.clone(),
                provider: None,
                provider_id: None,
                data: serde_json::Value::Null,
            });
            let intent = self.begin("stop", Some(self.ctx.runtime.name()))?;
            match self.ctx.runtime.stop(job_id, &target, false).await {
                Ok(_) => self.end(intent, IntentOutcome::Done, Some(job_id)),
                Err(e) if e.not_found => {
                    self.end(intent, IntentOutcome::Done, Some("already gone"))
                }
                Err(e) => {
                    self.end(intent, IntentOutcome::Failed, Some(&e.message));
                    return Err(e.message);
                }
            }
        }
        if !rolling {
            self.detach_volumes(&recorded.data).await?;
        }
        if rolling {
            let mut record = recorded.clone();
            if let Some(obj) = record.data.as_object_mut() {
                obj.insert("previous".into(), serde_json::Value::Null);
            }
            self.write(&record, Expected::Version(recorded.version))?;
            return Ok(format!(
                "previous job {} stopped",
                job_id.unwrap_or_default()
            ));
        }
        match self
            .ctx
            .state
            .remove(self.address(), Expected::Version(recorded.version))
        {
            Ok(()) => Ok(format!(
                "job {} {}",
                recorded.provider_id.unwrap_or_default(),
                if finished { "removed" } else { "stopped" }
            )),
            Err(e) => Err(format!("stopped but the state write failed: {e}")),
        }
    }
}

fn fail_message(e: &ProviderError, earlier: &[String]) -> String {
    if earlier.is_empty() {
        e.to_string()
    } else {
        format!("{e} (earlier offers: {})", earlier.join("; "))
    }
}

/// Values of `env` entries inherited from the environment of `dstack apply`.
fn resolve_inherited_env(
    config: &Configuration,
    address: &ResourceAddr,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let Some(common) = config.run_common() else {
        return Ok(out);
    };
    for entry in &common.env.0 {
        if entry.value == EnvValue::Inherit {
            let value = std::env::var(&entry.name).map_err(|_| {
                format!(
                    "environment variable {} is not set (run/{} inherits it: `- {}` in env)",
                    entry.name,
                    address.name(),
                    entry.name
                )
            })?;
            out.insert(entry.name.clone(), value);
        }
    }
    Ok(out)
}

/// Crash tests: `DSTACK_FAILPOINT=after-create:ADDRESS` aborts the process
/// right after the provider created ADDRESS, before the intent is closed or
/// state written, as a crash or power cut would (recovery must adopt it).
fn failpoint(point: &str, address: &ResourceAddr) {
    if std::env::var("DSTACK_FAILPOINT").is_ok_and(|v| v == format!("{point}:{address}")) {
        eprintln!("failpoint {point}:{address}: aborting");
        std::process::abort();
    }
}

// Network volume attachment. Before a job starts, each network volume it
// mounts is attached to the instance it landed on (volumes of cloud
// backends; `local` volumes are directories); when the job is stopped or
// removed, they are detached. Both calls are idempotent. What was attached
// is kept in the job row (`data.attached`), so stopping needs neither the
// configuration nor the run.
impl Exec<'_> {
    /// Attaches the job's cloud volumes to `instance`; what was attached.
    async fn attach_volumes(
        &self,
        instance: &InstanceTarget,
        volumes: &[VolumeTarget],
    ) -> Result<serde_json::Value, String> {
        let mut attached = Vec::new();
        for volume in volumes {
            let row = self
                .ctx
                .state
                .get(&ResourceAddr::Volume(volume.name.clone()))
                .map_err(|e| e.to_string())?;
            let Some((backend, volume_id)) = row.and_then(|r| Some((r.provider?, r.provider_id?)))
            else {
                continue;
            };
            let (Some(instance_backend), Some(instance_id)) =
                (&instance.provider, &instance.provider_id)
            else {
                continue;
            };
            if backend == "local" {
                continue;
            }
            if instance_backend != &backend {
                return Err(format!(
                    "volume/{} is in backend {backend} but the job landed on {} ({instance_backend}); a volume attaches only to instances of its backend",
                    volume.name, instance.address
                ));
            }
            let provider = self.provider(&backend)?;
            with_retries(self.ctx, self.address(), || {
                provider.attach_volume(&volume_id, instance_id)
            })
            .await
            .map_err(|e| format!("cannot attach volume/{}: {e}", volume.name))?;
            attached.push(serde_json::json!({
                "name": volume.name,
                "backend": backend,
                "volume_id": volume_id,
                "instance_id": instance_id,
            }));
        }
        Ok(serde_json::Value::Array(attached))
    }

    /// Detaches what `attach_volumes` recorded in a job row.
    async fn detach_volumes(&self, job_data: &serde_json::Value) -> Result<(), String> {
        let attached = job_data.get("attached").and_then(|a| a.as_array());
        for a in attached.into_iter().flatten() {
            let (Some(backend), Some(volume_id), Some(instance_id)) = (
                a["backend"].as_str(),
                a["volume_id"].as_str(),
                a["instance_id"].as_str(),
            ) else {
                continue;
            };
            let provider = self.provider(backend)?;
            match with_retries(self.ctx, self.address(), || {
                provider.detach_volume(volume_id, instance_id)
            })
            .await
            {
                Err(e) if e.kind != dstack_provider::ErrorKind::NotFound => {
                    return Err(format!("cannot detach {volume_id} from {instance_id}: {e}"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What a create step reports: the provider's id, the offer, the version.
fn created_detail(info: &ResourceInfo, offer: Option<&Offer>, stored: &RecordedResource) -> String {
    let what = offer.map_or(String::new(), |o| {
        format!(", {} {} {}", o.region, o.instance_type, o.price)
    });
    format!("id={}{what} (version {})", info.provider_id, stored.version)
}
