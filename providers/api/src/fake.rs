//! `FakeProvider`: a cloud that exists only in memory or in a file (an
//! append-only journal, [`journal`]), with configurable latency and
//! injected failures. Used by tests, the crash test (its file outlives a
//! killed process) and benchmarks.

mod journal;

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

use journal::{Cloud, Journal};

/// A fake backend.
pub struct FakeProvider {
    name: String,
    offers: Vec<Offer>,
    latency: Duration,
    state_file: Option<PathBuf>,
    failures: Vec<FailureRule>,
    /// The cloud, and (with a state file) this process's place in it.
    cloud: Mutex<(Cloud, Option<Journal>)>,
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
        self.cloud = Mutex::new((Cloud::default(), Some(Journal::new(path.as_ref()))));
        self
    }

    /// The cloud a state file holds, as one JSON document (`resources`,
    /// `tokens`, `calls`, ...), for tests and tools that look inside.
    pub fn document(path: impl AsRef<Path>) -> Result<serde_json::Value, String> {
        journal::read_document(path.as_ref())
            .map_err(|(what, e)| format!("fake cloud file {what}: {e}"))
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
        let (cloud, journal) = &mut *guard;
        let (Some(path), Some(journal)) = (&self.state_file, journal) else {
            return f(cloud);
        };
        let lock_path = path.with_extension("lock");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.io_error("directory", e))?;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.io_error("lock", e))?;
        lock.lock().map_err(|e| self.io_error("lock", e))?;
        journal
            .sync(cloud, &lock)
            .map_err(|(what, e)| self.io_error(what, e))?;
        let out = f(cloud);
        journal
            .append(cloud, &lock)
            .map_err(|(what, e)| self.io_error(what, e))?;
        let _ = lock.unlock();
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
                runner: None,
            };
            cloud.insert_resource(info.clone());
            cloud.insert_token(token, &info.provider_id);
            Ok(info)
        })
    }

    fn terminate(&self, kind: ResourceKind, provider_id: &str) -> Result<(), ProviderError> {
        self.with_cloud(|cloud| {
            if let Some(r) = cloud.resource_mut(provider_id).filter(|r| r.kind == kind) {
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
            if let Some(r) = cloud.resource_mut(provider_id) {
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
                .resource_mut(provider_id)
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
            if let Some(r) = cloud.resource_mut(volume_id) {
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
            if let Some(r) = cloud.resource_mut(volume_id) {
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

#[cfg(test)]
mod journal_tests {
    use super::*;
    use std::collections::BTreeSet;

    fn request(index: usize, token: &str) -> InstanceRequest {
        InstanceRequest {
            address: format!("fleet/f/instance/{index}")
                .parse()
                .expect("address"),
            token: token.into(),
            offer: crate::catalog::shipped().offers("aws").remove(0),
            disk: None,
            tags: BTreeMap::new(),
            user_data: None,
        }
    }

    fn temp(name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(name);
        (dir, path)
    }

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path).expect("file").lines().count()
    }

    #[tokio::test]
    async fn a_call_appends_one_line_and_a_second_process_sees_it() {
        let (_dir, path) = temp("cloud.json");
        let a = FakeProvider::new("aws", vec![]).with_state_file(&path);
        let b = FakeProvider::new("aws", vec![]).with_state_file(&path);
        a.create_instance(&request(0, "t0")).await.expect("create");
        let before = lines(&path);
        b.create_instance(&request(1, "t1")).await.expect("create");
        // b's call: its counter line and its create line.
        assert_eq!(lines(&path), before + 2);
        a.create_instance(&request(2, "t2")).await.expect("create");
        let ids: BTreeSet<String> = a
            .all_resources()
            .into_iter()
            .map(|r| r.provider_id)
            .collect();
        assert_eq!(ids.len(), 3, "{ids:?}");
        let doc = FakeProvider::document(&path).expect("document");
        assert_eq!(doc["next_id"], 3);
        assert_eq!(doc["calls"]["create_instance"], 3);
    }

    #[tokio::test]
    async fn a_file_from_before_the_journal_is_read_and_extended() {
        let (_dir, path) = temp("cloud.json");
        let old = FakeProvider::new("aws", vec![]);
        old.create_instance(&request(0, "t0"))
            .await
            .expect("create");
        let whole = {
            let cloud = old.cloud.lock().expect("lock");
            serde_json::to_string(&cloud.0).expect("json")
        };
        std::fs::write(&path, whole).expect("write");
        let fake = FakeProvider::new("aws", vec![]).with_state_file(&path);
        fake.create_instance(&request(1, "t1"))
            .await
            .expect("create");
        let doc = FakeProvider::document(&path).expect("document");
        assert_eq!(
            doc["resources"].as_object().map(|r| r.len()),
            Some(2),
            "{doc}"
        );
    }

    #[tokio::test]
    async fn a_line_cut_short_by_a_kill_is_dropped_not_fatal() {
        let (_dir, path) = temp("cloud.json");
        let fake = FakeProvider::new("aws", vec![]).with_state_file(&path);
        fake.create_instance(&request(0, "t0"))
            .await
            .expect("create");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut file, b"{\"next_id\":9,\"resou").expect("write");
        let other = FakeProvider::new("aws", vec![]).with_state_file(&path);
        other
            .create_instance(&request(1, "t1"))
            .await
            .expect("create");
        let doc = FakeProvider::document(&path).expect("document");
        assert_eq!(doc["next_id"], 2, "{doc}");
        assert!(
            std::fs::read_to_string(&path)
                .expect("file")
                .ends_with('\n')
        );
    }

    #[tokio::test]
    async fn compaction_keeps_everything_and_others_follow_it() {
        let (_dir, path) = temp("cloud.json");
        let a = FakeProvider::new("aws", vec![]).with_state_file(&path);
        let b = FakeProvider::new("aws", vec![]).with_state_file(&path);
        if let Err(e) = b.create_instance(&request(0, "first")).await {
            panic!("{e:?} FILE {}", std::fs::read_to_string(&path).unwrap());
        }
        let id = b.all_resources()[0].provider_id.clone();
        // Reads add a line each (their counters) and no resources.
        for _ in 0..1500 {
            a.get(ResourceKind::Instance, &id).await.expect("get");
        }
        assert!(
            lines(&path) < 1500,
            "{} lines: never compacted",
            lines(&path)
        );
        // b's place in the file is stale (the file was replaced): it rereads.
        b.create_instance(&request(1, "last"))
            .await
            .expect("create");
        assert_eq!(b.all_resources().len(), 2);
        assert_eq!(b.calls("get"), 1500);
        let doc = FakeProvider::document(&path).expect("document");
        assert_eq!(doc["next_id"], 2);
    }

    #[test]
    fn concurrent_writers_on_one_file_lose_nothing() {
        let (_dir, path) = temp("cloud.json");
        std::thread::scope(|s| {
            for w in 0..4 {
                let path = path.clone();
                s.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    let fake = FakeProvider::new("aws", vec![]).with_state_file(&path);
                    for i in 0..100 {
                        rt.block_on(fake.create_instance(&request(i, &format!("w{w}-{i}"))))
                            .expect("create");
                    }
                });
            }
        });
        let doc = FakeProvider::document(&path).expect("document");
        assert_eq!(doc["next_id"], 400);
        assert_eq!(doc["resources"].as_object().map(|r| r.len()), Some(400));
        assert_eq!(doc["calls"]["create_instance"], 400);
    }
}
