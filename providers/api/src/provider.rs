//! The `Provider` trait and the values crossing it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::grammar::Memory;
use dstack_schemas::money::HourlyRate;
use dstack_schemas::offer::Offer;
use dstack_schemas::recorded::{InstanceData, RunnerEndpoint};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorKind, ProviderError};

/// Tag marking a cloud resource as created by dstack-rs.
pub const TAG_MANAGED: &str = "dstack:managed";
/// Tag naming the project.
pub const TAG_PROJECT: &str = "dstack:project";
/// Tag naming the state lineage (which state file owns it).
pub const TAG_LINEAGE: &str = "dstack:lineage";
/// Tag naming the resource address.
pub const TAG_ADDRESS: &str = "dstack:address";
/// Tag holding the idempotency token of the intent that created it.
pub const TAG_TOKEN: &str = "dstack:token";

/// The tags that tie a cloud resource to project, state lineage, address
/// and creating intent, plus the user's own tags.
pub fn ownership_tags(
    project: &str,
    lineage: &str,
    address: &ResourceAddr,
    token: &str,
    user: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut tags = user.clone();
    tags.insert(TAG_MANAGED.into(), "true".into());
    tags.insert(TAG_PROJECT.into(), project.into());
    tags.insert(TAG_LINEAGE.into(), lineage.into());
    tags.insert(TAG_ADDRESS.into(), address.to_string());
    tags.insert(TAG_TOKEN.into(), token.into());
    tags
}

/// Create an instance from an offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRequest {
    /// The instance's address (`fleet/NAME/instance/N`).
    pub address: ResourceAddr,
    /// Idempotency token: a create with a token already used returns the
    /// existing resource.
    pub token: String,
    /// The offer to create.
    pub offer: Offer,
    /// Disk size, for offers with configurable disks.
    pub disk: Option<Memory>,
    /// Tags (ownership tags included).
    pub tags: BTreeMap<String, String>,
    /// Cloud-init user data that installs and starts the runner, if any.
    pub user_data: Option<String>,
}

/// Create a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeRequest {
    /// The volume's address.
    pub address: ResourceAddr,
    /// Idempotency token.
    pub token: String,
    /// Region.
    pub region: String,
    /// Zone, if pinned.
    pub availability_zone: Option<String>,
    /// Size.
    pub size: Memory,
    /// Tags (ownership tags included).
    pub tags: BTreeMap<String, String>,
}

/// Create a gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayRequest {
    /// The gateway's address.
    pub address: ResourceAddr,
    /// Idempotency token.
    pub token: String,
    /// Region.
    pub region: String,
    /// Instance type (backend default if `None`).
    pub instance_type: Option<String>,
    /// Allocate a public IP.
    pub public_ip: bool,
    /// Tags (ownership tags included).
    pub tags: BTreeMap<String, String>,
}

/// Lifecycle of a provider resource as the provider sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    /// Being created.
    Pending,
    /// Up (instances running, volumes available or attached).
    Running,
    /// Stopped or interrupted (spot reclaimed) but not deleted.
    Stopped,
    /// Being deleted.
    Deleting,
    /// Gone.
    Terminated,
}

impl ResourceStatus {
    /// True for resources that still exist (and may cost money).
    pub fn is_alive(&self) -> bool {
        !matches!(self, Self::Terminated)
    }

    /// The lowercase word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Deleting => "deleting",
            Self::Terminated => "terminated",
        }
    }
}

/// What a provider knows about one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceInfo {
    /// Instance, volume or gateway.
    pub kind: ResourceKind,
    /// The provider's id.
    pub provider_id: String,
    /// Status.
    pub status: ResourceStatus,
    /// Tags (ownership and user tags).
    pub tags: BTreeMap<String, String>,
    /// Region.
    pub region: Option<String>,
    /// The machine shape (instances and gateways).
    pub offer: Option<Offer>,
    /// What it costs now.
    pub price: Option<HourlyRate>,
    /// Backend data: IPs, zone, size, attachments.
    pub data: serde_json::Value,
    /// The dstack-runner on an instance, when the backend starts one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<RunnerEndpoint>,
}

impl ResourceInfo {
    /// The `data` a recorded row of it holds: the backend's data with the
    /// runner endpoint under `runner` (the shape rows have always had).
    pub fn recorded_data(&self) -> serde_json::Value {
        let Some(runner) = &self.runner else {
            return self.data.clone();
        };
        let mut data: InstanceData = dstack_schemas::recorded::decode(&self.data);
        data.runner = Some(runner.clone());
        dstack_schemas::recorded::encode(&data)
    }

    /// The address from the ownership tags.
    pub fn address(&self) -> Option<ResourceAddr> {
        self.tags.get(TAG_ADDRESS)?.parse().ok()
    }

    /// The idempotency token from the tags.
    pub fn token(&self) -> Option<&str> {
        self.tags.get(TAG_TOKEN).map(String::as_str)
    }

    /// The state lineage from the tags.
    pub fn lineage(&self) -> Option<&str> {
        self.tags.get(TAG_LINEAGE).map(String::as_str)
    }
}

fn unsupported(provider: &str, what: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Unsupported,
        provider,
        format!("{what} are not supported by this backend"),
    )
}

/// A backend that creates instances, volumes and gateways. Creates are
/// idempotent by `token`; deletes succeed when the resource is already gone.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Backend name (`local`, `aws`, `fake`, ...).
    fn name(&self) -> &str;

    /// The id this backend gives today to the resource recorded as
    /// `provider_id` (ids recorded in an older form are read in their
    /// current one, so recorded and observed ids compare equal).
    fn canonical_id(&self, kind: ResourceKind, provider_id: &str) -> String {
        let _ = kind;
        provider_id.to_string()
    }

    /// Every offer of this backend now (filtering and ranking are the
    /// planner's).
    async fn offers(&self) -> Result<Vec<Offer>, ProviderError>;

    /// Creates an instance, or returns the one already created with this token.
    async fn create_instance(
        &self,
        request: &InstanceRequest,
    ) -> Result<ResourceInfo, ProviderError>;

    /// Terminates an instance; `Ok` when it is already gone.
    async fn delete_instance(&self, provider_id: &str) -> Result<(), ProviderError>;

    /// Creates a volume, or returns the one already created with this token.
    async fn create_volume(&self, request: &VolumeRequest) -> Result<ResourceInfo, ProviderError> {
        let _ = request;
        Err(unsupported(self.name(), "volumes"))
    }

    /// Grows a volume.
    async fn resize_volume(
        &self,
        provider_id: &str,
        size: Memory,
    ) -> Result<ResourceInfo, ProviderError> {
        let _ = (provider_id, size);
        Err(unsupported(self.name(), "volumes"))
    }

    /// Deletes a volume; `Ok` when it is already gone.
    async fn delete_volume(&self, provider_id: &str) -> Result<(), ProviderError> {
        let _ = provider_id;
        Err(unsupported(self.name(), "volumes"))
    }

    /// Attaches a volume to an instance.
    async fn attach_volume(&self, volume_id: &str, instance_id: &str) -> Result<(), ProviderError> {
        let _ = (volume_id, instance_id);
        Err(unsupported(self.name(), "volumes"))
    }

    /// Detaches a volume from an instance; `Ok` when not attached.
    async fn detach_volume(&self, volume_id: &str, instance_id: &str) -> Result<(), ProviderError> {
        let _ = (volume_id, instance_id);
        Err(unsupported(self.name(), "volumes"))
    }

    /// Creates a gateway, or returns the one already created with this token.
    async fn create_gateway(
        &self,
        request: &GatewayRequest,
    ) -> Result<ResourceInfo, ProviderError> {
        let _ = request;
        Err(unsupported(self.name(), "gateways"))
    }

    /// Deletes a gateway and what it holds (IP, security group); `Ok` when gone.
    async fn delete_gateway(&self, provider_id: &str) -> Result<(), ProviderError> {
        let _ = provider_id;
        Err(unsupported(self.name(), "gateways"))
    }

    /// One resource by id; `None` when it does not exist.
    async fn get(
        &self,
        kind: ResourceKind,
        provider_id: &str,
    ) -> Result<Option<ResourceInfo>, ProviderError>;

    /// Every live resource tagged as dstack's (any lineage), in one sweep.
    async fn list_owned(&self) -> Result<Vec<ResourceInfo>, ProviderError>;
}
