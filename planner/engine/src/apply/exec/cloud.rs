//! The cloud steps: instances (with failover over offers), volumes and
//! gateways, each created through its provider inside an intent and
//! recorded with the intent closed in the same write.

use super::*;
use crate::apply::StepErrorKind;
use dstack_schemas::recorded::VolumeData;
use dstack_schemas::status::Status;

impl Exec<'_> {
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
    pub(super) async fn create_instance(&self) -> Result<String, StepError> {
        let Some(first) = self.change.offer.clone() else {
            return Err(StepError::config(format!(
                "{} has no offer (SSH fleet hosts cannot be provisioned by this backend)",
                self.address()
            )));
        };
        let offers: Vec<Offer> = std::iter::once(first)
            .chain(self.change.fallback_offers.iter().cloned())
            .collect();
        let tags = self.tags(&self.fleet_tags());
        let mut failures: Vec<String> = Vec::new();
        let mut out_of_capacity = false;
        for offer in offers {
            let provider = match self.provider(&offer.backend) {
                Ok(p) => p,
                Err(e) => {
                    failures.push(e.message);
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
                        return Err(StepError::provider(&e, fail_message(&e, &failures)));
                    }
                    self.ctx.emit(ApplyEvent::Note {
                        address: self.address().clone(),
                        message: format!("{}: {}; trying the next offer", offer.key(), e.kind),
                    });
                    out_of_capacity = true;
                    failures.push(format!(
                        "{} ({}): {}",
                        offer.instance_type, offer.region, e.kind
                    ));
                }
            }
        }
        let message = format!("every offer failed: {}", failures.join("; "));
        Err(if out_of_capacity {
            StepError::new(StepErrorKind::NoCapacity, message)
        } else {
            StepError::config(message)
        })
    }

    /// Records the created resource and closes its intent in one durable
    /// write: a crash before it leaves the intent open, and recovery adopts
    /// the resource by its token; a closed intent always has its row.
    fn record_then_close(
        &self,
        intent: i64,
        backend: &str,
        info: &ResourceInfo,
        offer: Option<&Offer>,
    ) -> Result<String, StepError> {
        let record = self.created_record(backend, info, offer);
        let stored = blocking(|| {
            self.ctx.state.record_and_close(
                &record,
                self.create_expectation(),
                intent,
                Some(&info.provider_id),
            )
        })
        .map_err(|e| StepError::state(format!("state write failed: {e}")))?;
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
        record.status = Status::Active;
        record.offer = offer.and_then(|o| serde_json::to_value(o).ok());
        record.price_per_hour = offer
            .map(|o| o.price.0)
            .or(info.price.map(|p| p.0))
            .or(self.change.rate_after.map(|r| r.0));
        record.data = info.recorded_data();
        record
    }

    pub(super) async fn create_volume(&self) -> Result<String, StepError> {
        let Some(Configuration::Volume(volume)) = self.planned_config() else {
            return Err(unreadable("volume"));
        };
        let backend = volume.backend.to_string();
        let provider = self.provider(&backend)?;
        if let Some(existing) = &volume.volume_id {
            let found = provider
                .get(ResourceKind::Volume, existing)
                .await?
                .ok_or_else(|| {
                    StepError::config(format!("volume {existing} does not exist in {backend}"))
                })?;
            let mut record = self.new_record();
            record.provider = Some(backend);
            record.provider_id = Some(found.provider_id.clone());
            record.status = Status::Active;
            let mut data = VolumeData {
                external: Some(true),
                ..VolumeData::default()
            };
            data.extra.insert("observed".into(), found.data);
            record.set_data(&data);
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
        self.create_recorded(&backend, || provider.create_volume(&request))
            .await
    }

    pub(super) async fn update_volume(&self) -> Result<String, StepError> {
        let recorded = self
            .ctx
            .state
            .get(self.address())?
            .ok_or_else(|| StepError::state("volume is not recorded"))?;
        let after = self.change.after.as_deref().cloned().unwrap_or_default();
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
                    record.data = info.recorded_data();
                    record.provider_id = Some(info.provider_id);
                }
                Err(e) => {
                    self.end(intent, IntentOutcome::Failed, Some(&e.to_string()));
                    return Err(e.into());
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

    pub(super) async fn create_gateway(&self) -> Result<String, StepError> {
        let Some(Configuration::Gateway(gateway)) = self.planned_config() else {
            return Err(unreadable("gateway"));
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
        self.create_recorded(&backend, || provider.create_gateway(&request))
            .await
    }

    /// The configuration the plan wants for this resource.
    fn planned_config(&self) -> Option<Configuration> {
        let after = self.change.after.as_deref()?;
        serde_json::from_value(after.clone()).ok()
    }

    /// Creates through `create` (retried when transient) inside an intent,
    /// then records what was created and closes the intent in one write.
    async fn create_recorded<F, Fut>(&self, backend: &str, create: F) -> Result<String, StepError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<ResourceInfo, ProviderError>>,
    {
        let intent = self.begin("create", Some(backend))?;
        match with_retries(self.ctx, self.address(), create).await {
            Ok(info) => self.record_then_close(intent, backend, &info, None),
            Err(e) => {
                self.end(intent, IntentOutcome::Failed, Some(&e.to_string()));
                Err(e.into())
            }
        }
    }
}

/// A plan whose spec for this kind does not read back (a bug).
fn unreadable(kind: &str) -> StepError {
    StepError::new(StepErrorKind::Internal, format!("{kind} spec unreadable"))
}

fn fail_message(e: &ProviderError, earlier: &[String]) -> String {
    if earlier.is_empty() {
        e.to_string()
    } else {
        format!("{e} (earlier offers: {})", earlier.join("; "))
    }
}

/// What a create step reports: the provider's id, the offer, the version.
fn created_detail(info: &ResourceInfo, offer: Option<&Offer>, stored: &RecordedResource) -> String {
    let what = offer.map_or(String::new(), |o| {
        format!(", {} {} {}", o.region, o.instance_type, o.price)
    });
    format!("id={}{what} (version {})", info.provider_id, stored.version)
}
