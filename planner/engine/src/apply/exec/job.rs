//! The job steps: submitting a job to the runtime of the instance it was
//! placed on (with its volumes attached first) and stopping it (volumes
//! detached after).

use super::*;
use crate::apply::{RuntimeErrorKind, StepErrorKind};
use dstack_schemas::plan::ActionWord;
use dstack_schemas::recorded::{AttachedVolume, InstanceData, JobData};

impl Exec<'_> {
    fn instance_target(&self, instance: &ResourceAddr) -> Result<InstanceTarget, StepError> {
        crate::apply::runtime::instance_target(self.ctx.state.as_ref(), instance)
            .map_err(StepError::state)
    }

    /// The run's configuration as the user wrote it now (un-redacted), or
    /// else the recorded (normalised) one; and the directory of its file.
    fn run_config(&self, run: &str) -> Result<(Configuration, std::path::PathBuf), StepError> {
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
        let recorded = self.ctx.state.get(&ResourceAddr::Run(run.into()))?;
        let spec = recorded
            .map(|r| r.spec)
            .ok_or_else(|| StepError::config(format!("run/{run} has no configuration")))?;
        let config = serde_json::from_value(spec)
            .map_err(|e| StepError::state(format!("run/{run} spec unreadable: {e}")))?;
        Ok((config, std::path::PathBuf::from(".")))
    }

    pub(super) async fn submit_job(&self) -> Result<String, StepError> {
        let job: JobSpec =
            serde_json::from_value(self.change.after.as_deref().cloned().unwrap_or_default())
                .map_err(|e| {
                    StepError::new(StepErrorKind::Internal, format!("job spec unreadable: {e}"))
                })?;
        let instance = self
            .change
            .placement
            .clone()
            .ok_or_else(|| StepError::new(StepErrorKind::Internal, "job has no placement"))?;
        let target = self.instance_target(&instance)?;
        let (config, config_dir) = self.run_config(&job.run)?;
        let env = resolve_inherited_env(&config, self.address())?;
        let volumes = self.volume_targets(&config, &job)?;
        let attached = self.attach_volumes(&target, &volumes).await?;
        let previous = self.ctx.state.get(self.address())?;
        let submission = previous
            .as_ref()
            .and_then(|p| p.job_data().submission)
            .map_or(0, |s| s + 1);
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
                return Err(e.into());
            }
        };
        let mut record = self.new_record();
        record.provider = Some(runtime.name().to_string());
        record.provider_id = Some(state.id.clone());
        record.status = state.status.into();
        let replacing = self.change.actions.first() == Some(&ActionWord::Create);
        record.set_data(&JobData {
            instance: Some(instance.to_string()),
            submission: Some(submission),
            exit_code: state.exit_code,
            reason: state.reason,
            runtime: state.data,
            previous: previous
                .as_ref()
                .filter(|_| replacing)
                .and_then(|p| p.provider_id.clone()),
            attached,
            ..JobData::default()
        });
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
    ) -> Result<Vec<VolumeTarget>, StepError> {
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
                let row = self.ctx.state.get(&ResourceAddr::Volume(name.clone()))?;
                let Some(row) = row else {
                    return Err(StepError::config(format!(
                        "volume/{name} is not recorded; create it first (`type: volume`)"
                    )));
                };
                let provider = row
                    .provider
                    .as_ref()
                    .and_then(|p| self.ctx.providers.get(p));
                let data = row.volume_data();
                out.push(VolumeTarget {
                    name,
                    provider_id: match (provider, row.provider_id) {
                        (Some(p), Some(id)) => Some(p.canonical_id(ResourceKind::Volume, &id)),
                        (_, id) => id,
                    },
                    data,
                });
            }
        }
        Ok(out)
    }

    pub(super) async fn stop_job(&self) -> Result<String, StepError> {
        let Some(recorded) = self.ctx.state.get(self.address())? else {
            return Ok("already gone".into());
        };
        // In a rolling replacement the row already holds the new job; the
        // delete step stops the previous one.
        let rolling =
            self.change.actions.first() == Some(&dstack_schemas::plan::ActionWord::Create);
        let job_id = if rolling {
            recorded.job_data().previous
        } else {
            recorded.provider_id.clone()
        };
        let finished = !rolling && recorded.status.is_finished();
        let instance = crate::apply::job_instance(&recorded);
        if let (Some(job_id), Some(instance), false) = (&job_id, instance, finished) {
            let target = self.instance_target(&instance).unwrap_or(InstanceTarget {
                address: instance.clone(),
                provider: None,
                provider_id: None,
                data: InstanceData::default(),
            });
            let intent = self.begin("stop", Some(self.ctx.runtime.name()))?;
            match self.ctx.runtime.stop(job_id, &target, false).await {
                Ok(_) => self.end(intent, IntentOutcome::Done, Some(job_id)),
                Err(e) if e.kind == RuntimeErrorKind::NotFound => {
                    self.end(intent, IntentOutcome::Done, Some("already gone"))
                }
                Err(e) => {
                    self.end(intent, IntentOutcome::Failed, Some(&e.message));
                    return Err(e.into());
                }
            }
        }
        if !rolling {
            self.detach_volumes(&recorded.job_data().attached).await?;
        }
        if rolling {
            let mut record = recorded.clone();
            let mut data = record.job_data();
            data.previous = None;
            record.set_data(&data);
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
            Err(e) => Err(StepError::state(format!(
                "stopped but the state write failed: {e}"
            ))),
        }
    }
}

/// Values of `env` entries inherited from the environment of `dstack apply`.
fn resolve_inherited_env(
    config: &Configuration,
    address: &ResourceAddr,
) -> Result<BTreeMap<String, String>, StepError> {
    let mut out = BTreeMap::new();
    let Some(common) = config.run_common() else {
        return Ok(out);
    };
    for entry in &common.env.0 {
        if entry.value == EnvValue::Inherit {
            let value = std::env::var(&entry.name).map_err(|_| {
                StepError::config(format!(
                    "environment variable {} is not set (run/{} inherits it: `- {}` in env)",
                    entry.name,
                    address.name(),
                    entry.name
                ))
            })?;
            out.insert(entry.name.clone(), value);
        }
    }
    Ok(out)
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
    ) -> Result<Vec<AttachedVolume>, StepError> {
        let mut attached = Vec::new();
        for volume in volumes {
            let row = self
                .ctx
                .state
                .get(&ResourceAddr::Volume(volume.name.clone()))?;
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
                return Err(StepError::config(format!(
                    "volume/{} is in backend {backend} but the job landed on {} ({instance_backend}); a volume attaches only to instances of its backend",
                    volume.name, instance.address
                )));
            }
            let provider = self.provider(&backend)?;
            with_retries(self.ctx, self.address(), || {
                provider.attach_volume(&volume_id, instance_id)
            })
            .await
            .map_err(|e| {
                StepError::provider(&e, format!("cannot attach volume/{}: {e}", volume.name))
            })?;
            attached.push(AttachedVolume {
                name: Some(volume.name.clone()),
                backend: Some(backend),
                volume_id: Some(volume_id),
                instance_id: Some(instance_id.clone()),
            });
        }
        Ok(attached)
    }

    /// Detaches what `attach_volumes` recorded in a job row.
    async fn detach_volumes(&self, attached: &[AttachedVolume]) -> Result<(), StepError> {
        for a in attached {
            let (Some(backend), Some(volume_id), Some(instance_id)) = (
                a.backend.as_deref(),
                a.volume_id.as_deref(),
                a.instance_id.as_deref(),
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
                    return Err(StepError::provider(
                        &e,
                        format!("cannot detach {volume_id} from {instance_id}: {e}"),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
