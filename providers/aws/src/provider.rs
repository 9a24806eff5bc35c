//! [`AwsProvider`]: the configuration, lazily built per-region clients and
//! caches shared by the operations (offers, placements, images, which region
//! holds which id), and the [`Provider`] impl that dispatches to the
//! `instances`, `volumes`, `gateways` and `listing` modules.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use dstack_provider::{
    ErrorKind, GatewayRequest, InstanceRequest, Provider, ProviderError, ResourceInfo,
    VolumeRequest,
};
use dstack_schemas::addr::ResourceKind;
use dstack_schemas::backends::AwsConfig;
use dstack_schemas::grammar::{CpuArch, Memory};
use dstack_schemas::offer::{Catalog, Offer};
use tokio::sync::OnceCell;

use crate::client::{Clients, Limits};
use crate::describe::Prices;
use crate::error::{BACKEND, own};
use crate::network::{self, Placement};
use crate::offers;
use crate::userdata::DEFAULT_RUNNER_URL;

/// How long operations wait for EC2 to settle (all bounded).
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// A new instance reaching `running` (after that it is returned pending).
    pub running: Duration,
    /// A terminated instance being gone.
    pub terminated: Duration,
    /// Volumes becoming available, attached or detached; security groups
    /// becoming deletable.
    pub settle: Duration,
    /// First pause between polls (doubles up to 5 s).
    pub poll: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Self {
            running: Duration::from_secs(180),
            terminated: Duration::from_secs(300),
            settle: Duration::from_secs(120),
            poll: Duration::from_millis(250),
        }
    }
}

/// The AWS EC2 backend.
pub struct AwsProvider {
    pub(crate) config: AwsConfig,
    pub(crate) project: String,
    pub(crate) key_dir: Option<PathBuf>,
    pub(crate) limits: Limits,
    pub(crate) waits: Waits,
    pub(crate) runner_url: String,
    pub(crate) catalog: Catalog,
    static_credentials: Option<(String, String)>,
    clients: OnceCell<Clients>,
    offers: OnceCell<Vec<Offer>>,
    placements: BTreeMap<String, OnceCell<Placement>>,
    images: tokio::sync::Mutex<BTreeMap<(String, CpuArch), String>>,
    /// Which region holds a resource id (learned from creates and listings).
    regions: Mutex<BTreeMap<String, String>>,
}

impl AwsProvider {
    /// A provider for `config` in `project`. Checks the settings; contacts
    /// nothing until the first call.
    pub fn new(config: AwsConfig, project: &str) -> Result<Self, ProviderError> {
        validate(&config)?;
        let placements = config
            .regions
            .iter()
            .map(|r| (r.clone(), OnceCell::new()))
            .collect();
        Ok(Self {
            config,
            project: project.to_string(),
            key_dir: None,
            limits: Limits::default(),
            waits: Waits::default(),
            runner_url: std::env::var("DSTACK_RUNNER_URL")
                .unwrap_or_else(|_| DEFAULT_RUNNER_URL.into()),
            catalog: dstack_provider::catalog::shipped(),
            static_credentials: None,
            clients: OnceCell::new(),
            offers: OnceCell::new(),
            placements,
            images: tokio::sync::Mutex::default(),
            regions: Mutex::default(),
        })
    }

    /// Saves the private key of a key pair it creates in `dir`.
    pub fn with_key_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.key_dir = Some(dir.into());
        self
    }

    /// Uses these credentials instead of the standard AWS chain (tests
    /// against moto, which accepts any).
    pub fn with_static_credentials(mut self, access_key: &str, secret_key: &str) -> Self {
        self.static_credentials = Some((access_key.into(), secret_key.into()));
        self
    }

    /// Overrides SDK retry and timeout limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Overrides how long operations wait for EC2.
    pub fn with_waits(mut self, waits: Waits) -> Self {
        self.waits = waits;
        self
    }

    pub(crate) async fn clients(&self) -> &Clients {
        self.clients
            .get_or_init(|| {
                Clients::load(&self.config, self.limits, self.static_credentials.clone())
            })
            .await
    }

    /// The client of `region`, or an error naming the configured regions.
    pub(crate) async fn client(&self, region: &str) -> Result<&Client, ProviderError> {
        self.clients().await.get(region).ok_or_else(|| {
            own(
                ErrorKind::InvalidRequest,
                format!(
                    "region {region} is not configured for aws (configured: {}); add it to `regions` in .dstack/backends.yml",
                    self.config.regions.join(", ")
                ),
            )
        })
    }

    /// Prices for describing resources: live offers if fetched, else the catalog.
    pub(crate) fn prices(&self) -> Prices<'_> {
        Prices {
            offers: self.offers.get().map(Vec::as_slice),
            catalog: &self.catalog,
        }
    }

    /// VPC, subnet, security group and key pair of `region` (once).
    pub(crate) async fn placement(&self, region: &str) -> Result<&Placement, ProviderError> {
        let client = self.client(region).await?;
        let cell = self.placements.get(region).ok_or_else(|| {
            own(
                ErrorKind::InvalidRequest,
                format!("region {region} is not configured"),
            )
        })?;
        cell.get_or_try_init(|| {
            network::prepare(
                client,
                &self.project,
                self.config.vpc_id.as_deref(),
                self.config.subnet_id.as_deref(),
                self.key_dir.as_deref(),
            )
        })
        .await
    }

    /// The image for `arch` in `region`: configured, or the newest Ubuntu.
    pub(crate) async fn image(&self, region: &str, arch: CpuArch) -> Result<String, ProviderError> {
        if let Some(ami) = &self.config.ami_id {
            return Ok(ami.clone());
        }
        let mut images = self.images.lock().await;
        let key = (region.to_string(), arch);
        if let Some(found) = images.get(&key) {
            return Ok(found.clone());
        }
        let found = network::default_image(self.client(region).await?, arch).await?;
        images.insert(key, found.clone());
        Ok(found)
    }

    /// Remembers that `id` lives in `region`.
    pub(crate) fn remember(&self, id: &str, region: &str) {
        let mut regions = self.regions.lock().unwrap_or_else(|p| p.into_inner());
        regions.insert(id.to_string(), region.to_string());
    }

    /// Regions to look for `id` in: the known one, else every configured one.
    pub(crate) fn regions_for(&self, id: &str) -> Vec<String> {
        let regions = self.regions.lock().unwrap_or_else(|p| p.into_inner());
        match regions.get(id) {
            Some(region) => vec![region.clone()],
            None => self.config.regions.clone(),
        }
    }

    /// `tags` over the backend's own `tags` from `.dstack/backends.yml`
    /// (ownership and resource tags win).
    pub(crate) fn with_backend_tags(
        &self,
        tags: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut out = self.config.tags.clone();
        out.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }

    /// Sleeps between polls: `poll`, doubling up to 5 s.
    pub(crate) async fn pause(&self, attempt: u32) {
        let factor = 2u32.saturating_pow(attempt.min(5));
        let delay = (self.waits.poll * factor).min(Duration::from_secs(5));
        tokio::time::sleep(delay).await;
    }

    async fn fetch_offers(&self) -> Result<Vec<Offer>, ProviderError> {
        let mut out = Vec::new();
        let patterns = offers::type_patterns(&self.catalog);
        for (region, client) in self.clients().await.iter() {
            let shapes = offers::fetch_shapes(client, &patterns)
                .await
                .map_err(|e| e.in_region(region))?;
            let candidates = offers::spot_candidates(&shapes, &self.catalog, region);
            let spot = offers::fetch_spot_prices(client, &candidates)
                .await
                .map_err(|e| e.in_region(region))?;
            out.extend(offers::build_offers(region, &shapes, &self.catalog, &spot));
        }
        Ok(out)
    }
}

fn validate(config: &AwsConfig) -> Result<(), ProviderError> {
    let bad = |message: String| own(ErrorKind::InvalidRequest, message);
    if config.regions.is_empty() {
        return Err(bad(
            "the aws backend has no regions; list some under `regions` in .dstack/backends.yml"
                .into(),
        ));
    }
    if let Some(url) = &config.endpoint_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(bad(format!(
            "endpoint_url `{url}` must start with http:// or https://"
        )));
    }
    if (config.vpc_id.is_some() || config.subnet_id.is_some()) && config.regions.len() > 1 {
        return Err(bad(
            "vpc_id and subnet_id name resources of one region; configure exactly one region with them"
                .into(),
        ));
    }
    Ok(())
}

/// Whole GiB for EBS (rounded up; at least 1).
pub(crate) fn gib(size: Memory) -> i32 {
    let gib = size.mb().div_ceil(1024).max(1);
    i32::try_from(gib).unwrap_or(i32::MAX)
}

#[async_trait]
impl Provider for AwsProvider {
    fn name(&self) -> &str {
        BACKEND
    }

    async fn offers(&self) -> Result<Vec<Offer>, ProviderError> {
        self.offers
            .get_or_try_init(|| self.fetch_offers())
            .await
            .cloned()
    }

    async fn create_instance(
        &self,
        request: &InstanceRequest,
    ) -> Result<ResourceInfo, ProviderError> {
        self.create_instance_impl(request).await
    }

    async fn delete_instance(&self, provider_id: &str) -> Result<(), ProviderError> {
        self.terminate_instance(provider_id).await
    }

    async fn create_volume(&self, request: &VolumeRequest) -> Result<ResourceInfo, ProviderError> {
        self.create_volume_impl(request).await
    }

    async fn resize_volume(
        &self,
        provider_id: &str,
        size: Memory,
    ) -> Result<ResourceInfo, ProviderError> {
        self.resize_volume_impl(provider_id, size).await
    }

    async fn delete_volume(&self, provider_id: &str) -> Result<(), ProviderError> {
        self.delete_volume_impl(provider_id).await
    }

    async fn attach_volume(&self, volume_id: &str, instance_id: &str) -> Result<(), ProviderError> {
        self.attach_volume_impl(volume_id, instance_id).await
    }

    async fn detach_volume(&self, volume_id: &str, instance_id: &str) -> Result<(), ProviderError> {
        self.detach_volume_impl(volume_id, instance_id).await
    }

    async fn create_gateway(
        &self,
        request: &GatewayRequest,
    ) -> Result<ResourceInfo, ProviderError> {
        self.create_gateway_impl(request).await
    }

    async fn delete_gateway(&self, provider_id: &str) -> Result<(), ProviderError> {
        self.delete_gateway_impl(provider_id).await
    }

    async fn get(
        &self,
        kind: ResourceKind,
        provider_id: &str,
    ) -> Result<Option<ResourceInfo>, ProviderError> {
        self.get_impl(kind, provider_id).await
    }

    async fn list_owned(&self) -> Result<Vec<ResourceInfo>, ProviderError> {
        self.list_owned_impl().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(regions: &[&str]) -> AwsConfig {
        AwsConfig {
            regions: regions.iter().map(|r| r.to_string()).collect(),
            ..AwsConfig::default()
        }
    }

    #[test]
    fn settings_are_checked_before_any_call() {
        assert!(AwsProvider::new(config(&["us-east-1"]), "p").is_ok());
        let err = AwsProvider::new(config(&[]), "p")
            .err()
            .expect("no regions");
        assert!(err.message.contains("regions"), "{err}");
        let mut c = config(&["us-east-1", "us-west-2"]);
        c.subnet_id = Some("subnet-1".into());
        let err = AwsProvider::new(c, "p")
            .err()
            .expect("subnet in two regions");
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        let mut c = config(&["us-east-1"]);
        c.endpoint_url = Some("127.0.0.1:5000".into());
        assert!(AwsProvider::new(c, "p").is_err());
    }

    #[test]
    fn backend_tags_are_added_under_the_resources_own() {
        let mut c = config(&["us-east-1"]);
        c.tags = BTreeMap::from([
            ("team".to_string(), "ml".to_string()),
            ("dstack:project".to_string(), "spoofed".to_string()),
        ]);
        let p = AwsProvider::new(c, "p").expect("config");
        let own = BTreeMap::from([("dstack:project".to_string(), "p".to_string())]);
        let tags = p.with_backend_tags(&own);
        assert_eq!(tags["team"], "ml");
        assert_eq!(tags["dstack:project"], "p");
    }

    #[test]
    fn ebs_sizes_round_up_to_whole_gib() {
        assert_eq!(gib(Memory::from_gb(100)), 100);
        assert_eq!(gib(Memory::from_mb(1500)), 2);
        assert_eq!(gib(Memory::from_mb(0)), 1);
    }
}
