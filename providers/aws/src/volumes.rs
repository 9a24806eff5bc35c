//! EBS volumes: idempotent create (adopt by token), grow, delete (gone is
//! fine; attached is refused), attach to and detach from an instance, each
//! waiting (bounded) for EC2 to settle. Volumes are only ever deleted when
//! asked; nothing here deletes one as a side effect.

use std::time::Instant;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    Instance, ResourceType, Volume, VolumeAttachmentState, VolumeState, VolumeType,
};
use dstack_provider::{ErrorKind, ProviderError, ResourceInfo, TAG_TOKEN, VolumeRequest};
use dstack_schemas::grammar::Memory;

use crate::describe::volume_info;
use crate::error::{code_of, from_sdk, own};
use crate::instances::describe_one;
use crate::network::{subnet_zone, tag_spec};
use crate::offers::filter;
use crate::provider::{AwsProvider, gib};

/// Device names handed to attached volumes, in order.
const DEVICES: &[&str] = &[
    "/dev/sdf", "/dev/sdg", "/dev/sdh", "/dev/sdi", "/dev/sdj", "/dev/sdk", "/dev/sdl", "/dev/sdm",
    "/dev/sdn", "/dev/sdo", "/dev/sdp",
];

impl AwsProvider {
    pub(crate) async fn create_volume_impl(
        &self,
        request: &VolumeRequest,
    ) -> Result<ResourceInfo, ProviderError> {
        let region = request.region.as_str();
        let client = self.client(region).await?;
        if let Some(found) = find_volume_by_token(client, &request.token).await? {
            let id = found.volume_id().unwrap_or_default().to_string();
            self.remember(&id, region);
            return Ok(volume_info(region, &found, &self.prices()));
        }
        // Default: where instances run when a subnet pins them, else the
        // region's first zone.
        let zone = match (&request.availability_zone, &self.config.subnet_id) {
            (Some(zone), _) => zone.clone(),
            (None, Some(subnet)) => subnet_zone(client, subnet).await?,
            (None, None) => first_zone(client).await?,
        };
        let out = client
            .create_volume()
            .availability_zone(&zone)
            .size(gib(request.size))
            .volume_type(VolumeType::Gp3)
            .client_token(&request.token)
            .tag_specifications(tag_spec(
                ResourceType::Volume,
                &self.with_backend_tags(&request.tags),
            ))
            .send()
            .await
            .map_err(|e| from_sdk("CreateVolume", e).in_region(region))?;
        let id = out.volume_id().unwrap_or_default().to_string();
        self.remember(&id, region);
        let volume = self
            .wait_volume(client, &id, |v| v.state() == Some(&VolumeState::Available))
            .await?;
        Ok(volume_info(region, &volume, &self.prices()))
    }

    pub(crate) async fn resize_volume_impl(
        &self,
        id: &str,
        size: Memory,
    ) -> Result<ResourceInfo, ProviderError> {
        let (region, client, volume) = self
            .locate_volume(id)
            .await?
            .ok_or_else(|| own(ErrorKind::NotFound, format!("volume {id} does not exist")))?;
        let target = gib(size);
        if volume.size().is_some_and(|now| target < now) {
            return Err(own(
                ErrorKind::InvalidRequest,
                format!(
                    "EBS volumes can only grow: {id} has {} GiB, asked {target} GiB",
                    volume.size().unwrap_or(0)
                ),
            ));
        }
        client
            .modify_volume()
            .volume_id(id)
            .size(target)
            .send()
            .await
            .map_err(|e| from_sdk("ModifyVolume", e).in_region(&region))?;
        let volume = self
            .wait_volume(client, id, |v| v.size() == Some(target))
            .await?;
        Ok(volume_info(&region, &volume, &self.prices()))
    }

    pub(crate) async fn delete_volume_impl(&self, id: &str) -> Result<(), ProviderError> {
        let Some((region, client, volume)) = self.locate_volume(id).await? else {
            return Ok(());
        };
        if let Some(instance) = volume.attachments().first().and_then(|a| a.instance_id()) {
            return Err(own(
                ErrorKind::InvalidRequest,
                format!("volume {id} is attached to {instance}; stop the run using it first"),
            )
            .in_region(&region));
        }
        match client.delete_volume().volume_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) => match from_sdk("DeleteVolume", e) {
                e if e.kind == ErrorKind::NotFound => Ok(()),
                e => Err(e.in_region(&region)),
            },
        }
    }

    pub(crate) async fn attach_volume_impl(
        &self,
        volume_id: &str,
        instance_id: &str,
    ) -> Result<(), ProviderError> {
        let (region, client, volume) = self.locate_volume(volume_id).await?.ok_or_else(|| {
            own(
                ErrorKind::NotFound,
                format!("volume {volume_id} does not exist"),
            )
        })?;
        match volume.attachments().first().and_then(|a| a.instance_id()) {
            Some(current) if current == instance_id => return Ok(()),
            Some(other) => {
                return Err(own(
                    ErrorKind::InvalidRequest,
                    format!(
                        "volume {volume_id} is attached to {other}; a volume attaches to one instance at a time"
                    ),
                )
                .in_region(&region));
            }
            None => {}
        }
        let instance = describe_one(client, instance_id).await?.ok_or_else(|| {
            own(
                ErrorKind::NotFound,
                format!("instance {instance_id} does not exist"),
            )
        })?;
        same_zone(&volume, &instance)?;
        let device = free_device(&instance)?;
        self.retry_settling(|| async {
            client
                .attach_volume()
                .volume_id(volume_id)
                .instance_id(instance_id)
                .device(&device)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| from_sdk("AttachVolume", e).in_region(&region))
        })
        .await?;
        self.wait_volume(client, volume_id, |v| {
            v.attachments().iter().any(|a| {
                a.instance_id() == Some(instance_id)
                    && a.state() == Some(&VolumeAttachmentState::Attached)
            })
        })
        .await
        .map(|_| ())
    }

    pub(crate) async fn detach_volume_impl(
        &self,
        volume_id: &str,
        instance_id: &str,
    ) -> Result<(), ProviderError> {
        let Some((region, client, volume)) = self.locate_volume(volume_id).await? else {
            return Ok(());
        };
        let Some(attachment) = volume
            .attachments()
            .iter()
            .find(|a| a.instance_id() == Some(instance_id))
        else {
            return Ok(());
        };
        // Always name the instance (and device): moto answers a bare
        // DetachVolume with HTTP 500, and EC2 wants them for multi-attach.
        let mut call = client
            .detach_volume()
            .volume_id(volume_id)
            .instance_id(instance_id);
        if let Some(device) = attachment.device() {
            call = call.device(device);
        }
        match call.send().await {
            Ok(_) => {}
            // Already detaching: wait for it below.
            Err(e) if code_of(&e) == Some("IncorrectState") => {}
            Err(e) => match from_sdk("DetachVolume", e) {
                e if e.kind == ErrorKind::NotFound => return Ok(()),
                e => return Err(e.in_region(&region)),
            },
        }
        self.wait_volume(client, volume_id, |v| {
            !v.attachments()
                .iter()
                .any(|a| a.instance_id() == Some(instance_id))
        })
        .await
        .map(|_| ())
    }

    /// Repeats `call` while EC2 says the resource is not ready (transient),
    /// within `waits.settle`.
    pub(crate) async fn retry_settling<F, Fut>(&self, mut call: F) -> Result<(), ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), ProviderError>>,
    {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            match call().await {
                Err(e) if e.kind.is_retryable() && start.elapsed() < self.waits.settle => {
                    self.pause(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Polls volume `id` until `ready` (bounded by `waits.settle`).
    async fn wait_volume(
        &self,
        client: &Client,
        id: &str,
        ready: impl Fn(&Volume) -> bool,
    ) -> Result<Volume, ProviderError> {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            let volume = describe_volume(client, id)
                .await?
                .ok_or_else(|| own(ErrorKind::NotFound, format!("volume {id} disappeared")))?;
            if ready(&volume) {
                return Ok(volume);
            }
            if start.elapsed() >= self.waits.settle {
                return Err(own(
                    ErrorKind::Transient,
                    format!(
                        "volume {id} did not settle within {}s (state {})",
                        self.waits.settle.as_secs(),
                        volume.state().map_or("?", |s| s.as_str())
                    ),
                ));
            }
            self.pause(attempt).await;
            attempt += 1;
        }
    }

    /// The region, client and description of volume `id`, if it exists.
    pub(crate) async fn locate_volume(
        &self,
        id: &str,
    ) -> Result<Option<(String, &Client, Volume)>, ProviderError> {
        for region in self.regions_for(id) {
            let client = self.client(&region).await?;
            if let Some(volume) = describe_volume(client, id).await? {
                self.remember(id, &region);
                return Ok(Some((region, client, volume)));
            }
        }
        Ok(None)
    }
}

/// An EBS volume attaches only to instances in its own zone.
fn same_zone(volume: &Volume, instance: &Instance) -> Result<(), ProviderError> {
    let volume_zone = volume.availability_zone();
    let instance_zone = instance.placement().and_then(|p| p.availability_zone());
    match (volume_zone, instance_zone) {
        (Some(v), Some(i)) if v != i => Err(own(
            ErrorKind::InvalidRequest,
            format!(
                "volume {} is in {v} but instance {} is in {i}; an EBS volume attaches only in its zone: \
                 pin instances to one zone with `subnet_id` in .dstack/backends.yml (volumes then default \
                 to its zone) or give the volume `availability_zone: {i}`",
                volume.volume_id().unwrap_or("?"),
                instance.instance_id().unwrap_or("?"),
            ),
        )),
        _ => Ok(()),
    }
}

/// The first device name `instance` does not use.
fn free_device(instance: &Instance) -> Result<String, ProviderError> {
    let used: Vec<&str> = instance
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.device_name())
        .collect();
    DEVICES
        .iter()
        .find(|d| {
            !used
                .iter()
                .any(|u| u == *d || u.replace("/dev/xvd", "/dev/sd") == **d)
        })
        .map(|d| d.to_string())
        .ok_or_else(|| {
            own(
                ErrorKind::InvalidRequest,
                format!(
                    "instance {} has no free device name for another volume",
                    instance.instance_id().unwrap_or("?")
                ),
            )
        })
}

/// Volume `id`, or `None` when EC2 does not know it.
pub(crate) async fn describe_volume(
    client: &Client,
    id: &str,
) -> Result<Option<Volume>, ProviderError> {
    match client.describe_volumes().volume_ids(id).send().await {
        Ok(out) => Ok(out
            .volumes()
            .iter()
            .find(|v| v.volume_id() == Some(id))
            .filter(|v| v.state() != Some(&VolumeState::Deleted))
            .cloned()),
        Err(e) => match from_sdk("DescribeVolumes", e) {
            e if e.kind == ErrorKind::NotFound => Ok(None),
            e => Err(e),
        },
    }
}

async fn find_volume_by_token(
    client: &Client,
    token: &str,
) -> Result<Option<Volume>, ProviderError> {
    let out = client
        .describe_volumes()
        .filters(filter(&format!("tag:{TAG_TOKEN}"), [token.to_string()]))
        .send()
        .await
        .map_err(|e| from_sdk("DescribeVolumes", e))?;
    Ok(out
        .volumes()
        .iter()
        .find(|v| {
            !matches!(
                v.state(),
                Some(VolumeState::Deleting | VolumeState::Deleted)
            )
        })
        .cloned())
}

/// The region's first available zone (by name).
async fn first_zone(client: &Client) -> Result<String, ProviderError> {
    let out = client
        .describe_availability_zones()
        .filters(filter("state", ["available".to_string()]))
        .send()
        .await
        .map_err(|e| from_sdk("DescribeAvailabilityZones", e))?;
    out.availability_zones()
        .iter()
        .filter_map(|z| z.zone_name())
        .min()
        .map(str::to_string)
        .ok_or_else(|| own(ErrorKind::Other, "the region lists no availability zone"))
}
