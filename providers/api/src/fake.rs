//! `FakeProvider`: a cloud that exists only in memory or in a JSON file,
//! with configurable latency and injected failures. Used by tests, the
//! crash test (its file outlives a killed process) and benchmarks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use dstack_schemas::addr::ResourceKind;
use dstack_schemas::grammar::Memory;
use dstack_schemas::offer::Offer;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, ProviderError};
use crate::provider::{
    GatewayRequest, InstanceRequest, Provider, ResourceInfo, ResourceStatus, VolumeRequest,
};

/// An injected failure: calls matching every set field fail with `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureRule {
    /// `create_instance`, `delete_instance`, `create_volume`, `delete_volume`,
    /// `create_gateway`, `delete_gateway`, `offers`, `get`, `list_owned`.
    pub operation: String,
    /// Only for this instance type.
    #[serde(default)]
    pub instance_type: Option<String>,
    /// Only in this region.
    #[serde(default)]
    pub region: Option<String>,
    /// Only for this address.
    #[serde(default)]
    pub address: Option<String>,
    /// The error kind, kebab-case (`no-capacity`, `quota-exceeded`, `transient`, ...).
    pub kind: String,
    /// Fail this many times, then succeed (unset: always).
    #[serde(default)]
    pub times: Option<u32>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cloud {
    next_id: u64,
    resources: BTreeMap<String, ResourceInfo>,
    /// Idempotency token → resource id (creates look here, not through all).
    #[serde(default)]
    tokens: BTreeMap<String, String>,
    failures_used: BTreeMap<usize, u32>,
    calls: BTreeMap<String, u64>,
}

/// A fake backend.
pub struct FakeProvider {
    name: String,
    offers: Vec<Offer>,
    latency: Duration,
    state_file: Option<PathBuf>,
    failures: Vec<FailureRule>,
    cloud: Mutex<Cloud>,
}

impl FakeProvider {
    /// A fake backend named `name` selling `offers`, in memory, no latency.
    pub fn new(name: impl Into<String>, offers: Vec<Offer>) -> Self {
        let name = name.into();
        let offers = offers
            .into_iter()
            .map(|mut o| {
                o.backend = name.clone();
                o
            })
            .collect();
        Self {
            name,
            offers,
            latency: Duration::ZERO,
            state_file: None,
            failures: Vec::new(),
            cloud: Mutex::default(),
        }
    }

    /// Every call sleeps this long first.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Keeps the fake cloud in `path` (shared by processes, survives kills).
    pub fn with_state_file(mut self, path: impl AsRef<Path>) -> Self {
        self.state_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// Injects failures.
    pub fn with_failures(mut self, failures: Vec<FailureRule>) -> Self {
        self.failures = failures;
        self
    }

    /// Number of calls of `operation` so far (in this fake cloud).
    pub fn calls(&self, operation: &str) -> u64 {
        self.with_cloud(|c| Ok(c.calls.get(operation).copied().unwrap_or(0)))
            .unwrap_or(0)
    }

    /// Every resource ever created, terminated ones included.
    pub fn all_resources(&self) -> Vec<ResourceInfo> {
        self.with_cloud(|c| Ok(c.resources.values().cloned().collect()))
            .unwrap_or_default()
    }

    fn io_error(&self, what: &str, err: impl std::fmt::Display) -> ProviderError {
        ProviderError::new(
            ErrorKind::Other,
            &self.name,
            format!("fake cloud file {what}: {err}"),
        )
    }

    /// Runs `f` on the cloud, loading and saving the state file around it
    /// under an exclusive file lock.
    fn with_cloud<T>(
        &self,
        f: impl FnOnce(&mut Cloud) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let mut guard = self.cloud.lock().unwrap_or_else(|p| p.into_inner());
        let Some(path) = &self.state_file else {
            return f(&mut guard);
        };
        let lock_path = path.with_extension("lock");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io_error("directory", e))?;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.io_error("lock", e))?;
        lock.lock().map_err(|e| self.io_error("lock", e))?;
        let mut cloud: Cloud = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| self.io_error("parse", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Cloud::default(),
            Err(e) => return Err(self.io_error("read", e)),
        };
        let out = f(&mut cloud);
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string(&cloud).map_err(|e| self.io_error("encode", e))?;
        std::fs::write(&tmp, text).map_err(|e| self.io_error("write", e))?;
        std::fs::rename(&tmp, path).map_err(|e| self.io_error("rename", e))?;
        let _ = lock.unlock();
        *guard = Cloud::default();
        out
    }

    /// Waits the latency, counts the call and applies injected failures.
    async fn call(
        &self,
        operation: &str,
        offer: Option<&Offer>,
        address: Option<&str>,
    ) -> Result<(), ProviderError> {
        self.call_with_wait(operation, offer, address, self.latency)
            .await
    }

    /// Like `call`, waiting `wait` before the call's effect. Creates wait
    /// half before and half after (see `settle`), so a process killed
    /// mid-create may leave a resource it never recorded.
    async fn call_with_wait(
        &self,
        operation: &str,
        offer: Option<&Offer>,
        address: Option<&str>,
        wait: Duration,
    ) -> Result<(), ProviderError> {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        self.with_cloud(|cloud| {
            *cloud.calls.entry(operation.to_string()).or_default() += 1;
            for (i, rule) in self.failures.iter().enumerate() {
                let matches = rule.operation == operation
                    && rule
                        .instance_type
                        .as_deref()
                        .is_none_or(|t| offer.is_some_and(|o| o.instance_type == t))
                    && rule
                        .region
                        .as_deref()
                        .is_none_or(|r| offer.is_some_and(|o| o.region == r))
                    && rule.address.as_deref().is_none_or(|a| address == Some(a));
                if !matches {
                    continue;
                }
                let used = cloud.failures_used.entry(i).or_default();
                if rule.times.is_some_and(|t| *used >= t) {
                    continue;
                }
                *used += 1;
                let kind = ErrorKind::parse(&rule.kind).unwrap_or(ErrorKind::Other);
                let mut err = ProviderError::new(
                    kind,
                    &self.name,
                    format!("injected failure of {operation}"),
                );
                if let Some(o) = offer {
                    err = err.in_region(&o.region).for_instance_type(&o.instance_type);
                }
                return Err(err);
            }
            Ok(())
        })
    }

    fn create(
        &self,
        kind: ResourceKind,
        token: &str,
        tags: &BTreeMap<String, String>,
        region: Option<&str>,
        offer: Option<&Offer>,
        data: serde_json::Value,
    ) -> Result<ResourceInfo, ProviderError> {
        self.with_cloud(|cloud| {
            let existing = cloud
                .tokens
                .get(token)
                .and_then(|id| cloud.resources.get(id))
                .filter(|r| r.kind == kind && r.status.is_alive());
            if let Some(found) = existing {
                return Ok(found.clone());
            }
            cloud.next_id += 1;
            let prefix = match kind {
                ResourceKind::Volume => "vol",
                ResourceKind::Gateway => "gw",
                _ => "i",
            };
            let info = ResourceInfo {
                kind,
                provider_id: format!("{prefix}-{:08x}", cloud.next_id),
                status: ResourceStatus::Running,
                tags: tags.clone(),
                region: region.map(str::to_string),
                offer: offer.cloned(),
                price: offer.map(|o| o.price),
                data,
            };
            cloud
                .resources
                .insert(info.provider_id.clone(), info.clone());
            cloud
                .tokens
                .insert(token.to_string(), info.provider_id.clone());
            Ok(info)
        })
    }

    fn terminate(&self, kind: ResourceKind, provider_id: &str) -> Result<(), ProviderError> {
        self.with_cloud(|cloud| {
            if let Some(r) = cloud
                .resources
                .get_mut(provider_id)
                .filter(|r| r.kind == kind)
            {
                r.status = ResourceStatus::Terminated;
            }
            Ok(())
        })
    }

    async fn settle(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency / 2).await;
        }
    }

    /// Marks an instance terminated behind dstack's back (drift tests).
    pub fn terminate_out_of_band(&self, provider_id: &str) {
        let _ = self.with_cloud(|cloud| {
            if let Some(r) = cloud.resources.get_mut(provider_id) {
                r.status = ResourceStatus::Terminated;
            }
            Ok(())
        });
    }
}

#[async_trait]
impl Provider for FakeProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn offers(&self) -> Result<Vec<Offer>, ProviderError> {
        self.call("offers", None, None).await?;
        Ok(self.offers.clone())
    }

    async fn create_instance(
        &self,
        request: &InstanceRequest,
    ) -> Result<ResourceInfo, ProviderError> {
        self.call_with_wait(
            "create_instance",
            Some(&request.offer),
            Some(&request.address.to_string()),
            self.latency / 2,
        )
        .await?;
        let index = request.address.index().unwrap_or(0);
        let data =
            serde_json::json!({ "hostname": format!("10.0.{}.{}", index / 250, index % 250 + 2) });
        let region = Some(request.offer.region.as_str());
        let info = self.create(
            ResourceKind::Instance,
            &request.token,
            &request.tags,
            region,
            Some(&request.offer),
            data,
        )?;
        self.settle().await;
        Ok(info)
    }

    async fn delete_instance(&self, provider_id: &str) -> Result<(), ProviderError> {
        self.call("delete_instance", None, None).await?;
        self.terminate(ResourceKind::Instance, provider_id)
    }

    async fn create_volume(&self, request: &VolumeRequest) -> Result<ResourceInfo, ProviderError> {
        self.call("create_volume", None, Some(&request.address.to_string()))
            .await?;
        let data = serde_json::json!({ "size_gb": request.size.gb(), "availability_zone": request.availability_zone });
        self.create(
            ResourceKind::Volume,
            &request.token,
            &request.tags,
            Some(&request.region),
            None,
            data,
        )
    }

    async fn resize_volume(
        &self,
        provider_id: &str,
        size: Memory,
    ) -> Result<ResourceInfo, ProviderError> {
        self.call("resize_volume", None, None).await?;
        self.with_cloud(|cloud| {
            let r = cloud
                .resources
                .get_mut(provider_id)
                .filter(|r| r.status.is_alive())
                .ok_or_else(|| {
                    ProviderError::new(
                        ErrorKind::NotFound,
                        &self.name,
                        format!("volume {provider_id} not found"),
                    )
                })?;
            r.data["size_gb"] = serde_json::json!(size.gb());
            Ok(r.clone())
        })
    }

    async fn delete_volume(&self, provider_id: &str) -> Result<(), ProviderError> {
        self.call("delete_volume", None, None).await?;
        self.terminate(ResourceKind::Volume, provider_id)
    }

    async fn attach_volume(&self, volume_id: &str, instance_id: &str) -> Result<(), ProviderError> {
        self.call("attach_volume", None, None).await?;
        self.with_cloud(|cloud| {
            if let Some(r) = cloud.resources.get_mut(volume_id) {
                r.data["attached_to"] = serde_json::json!(instance_id);
            }
            Ok(())
        })
    }

    async fn detach_volume(
        &self,
        volume_id: &str,
        _instance_id: &str,
    ) -> Result<(), ProviderError> {
        self.call("detach_volume", None, None).await?;
        self.with_cloud(|cloud| {
            if let Some(r) = cloud.resources.get_mut(volume_id) {
                r.data["attached_to"] = serde_json::Value::Null;
            }
            Ok(())
        })
    }

    async fn create_gateway(
        &self,
        request: &GatewayRequest,
    ) -> Result<ResourceInfo, ProviderError> {
        self.call("create_gateway", None, Some(&request.address.to_string()))
            .await?;
        let data =
            serde_json::json!({ "ip": "198.51.100.7", "instance_type": request.instance_type });
        self.create(
            ResourceKind::Gateway,
            &request.token,
            &request.tags,
            Some(&request.region),
            None,
            data,
        )
    }

    async fn delete_gateway(&self, provider_id: &str) -> Result<(), ProviderError> {
        self.call("delete_gateway", None, None).await?;
        self.terminate(ResourceKind::Gateway, provider_id)
    }

    async fn get(
        &self,
        kind: ResourceKind,
        provider_id: &str,
    ) -> Result<Option<ResourceInfo>, ProviderError> {
        self.call("get", None, None).await?;
        self.with_cloud(|cloud| {
            Ok(cloud
                .resources
                .get(provider_id)
                .filter(|r| r.kind == kind)
                .cloned())
        })
    }

    async fn list_owned(&self) -> Result<Vec<ResourceInfo>, ProviderError> {
        self.call("list_owned", None, None).await?;
        self.with_cloud(|cloud| {
            Ok(cloud
                .resources
                .values()
                .filter(|r| r.status.is_alive())
                .cloned()
                .collect())
        })
    }
}

#[cfg(test)]
mod latency_tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_takes_its_latency() {
        let offer = crate::catalog::shipped().offers("aws").remove(0);
        let fake =
            FakeProvider::new("aws", vec![offer.clone()]).with_latency(Duration::from_millis(100));
        let address: dstack_schemas::addr::ResourceAddr =
            "fleet/f/instance/0".parse().expect("address");
        let request = InstanceRequest {
            address: address.clone(),
            token: "t".into(),
            offer,
            disk: None,
            tags: BTreeMap::new(),
            user_data: None,
        };
        let start = std::time::Instant::now();
        fake.create_instance(&request).await.expect("create");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_millis(130),
            "{took:?}"
        );
    }
}
