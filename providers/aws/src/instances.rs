//! Instances: idempotent create (adopt the instance already tagged with the
//! intent's token, else `RunInstances` on demand or spot, then wait for
//! `running`, bounded) and idempotent terminate (retried until EC2 reports
//! the instance terminated or gone, bounded).

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Instance, InstanceInterruptionBehavior,
    InstanceMarketOptionsRequest, InstanceStateName, InstanceType, MarketType, ResourceType,
    SpotInstanceType, SpotMarketOptions,
};
use dstack_provider::{
    ErrorKind, InstanceRequest, ProviderError, ResourceInfo, TAG_MANAGED, TAG_TOKEN,
};
use sha2::{Digest, Sha256};

use crate::describe::{TAG_ROLE, instance_info};
use crate::error::{from_sdk, own};
use crate::network::tag_spec;
use crate::offers::filter;
use crate::provider::{AwsProvider, gib};
use crate::userdata;

/// States of instances a create adopts (not on their way out).
const ADOPTABLE: &[&str] = &["pending", "running", "stopping", "stopped"];

/// What `RunInstances` needs besides the offer.
pub(crate) struct Launch<'a> {
    pub region: &'a str,
    pub instance_type: &'a str,
    pub spot: bool,
    pub image: String,
    pub tags: &'a BTreeMap<String, String>,
    pub security_group_id: &'a str,
    pub subnet_id: Option<&'a str>,
    pub key_name: &'a str,
    pub user_data: Option<String>,
    pub client_token: String,
    pub zone: Option<&'a str>,
    pub root_disk_gib: Option<i32>,
}

/// The EC2 `ClientToken` of one attempt: per intent *and* offer, because EC2
/// refuses a token reused with other parameters (failover changes the type).
pub(crate) fn client_token(intent_token: &str, offer_key: &str) -> String {
    let digest = Sha256::digest(format!("{intent_token}/{offer_key}").as_bytes());
    format!("dstack-{}", hex::encode(&digest[..24]))
}

impl AwsProvider {
    pub(crate) async fn create_instance_impl(
        &self,
        request: &InstanceRequest,
    ) -> Result<ResourceInfo, ProviderError> {
        let offer = &request.offer;
        let region = offer.region.as_str();
        let client = self.client(region).await?;
        let located =
            |e: ProviderError| e.in_region(region).for_instance_type(&offer.instance_type);
        if let Some(found) = find_by_token(client, &request.token)
            .await
            .map_err(located)?
        {
            let id = found.instance_id().unwrap_or_default().to_string();
            self.remember(&id, region);
            return self
                .wait_running(client, region, &id)
                .await
                .map_err(located);
        }
        let placement = self.placement(region).await.map_err(located)?;
        let image = self.image(region, offer.cpu_arch).await.map_err(located)?;
        let script = userdata::script(
            &userdata::runner_token(&request.token),
            &self.runner_url,
            request.user_data.as_deref(),
        );
        let tags = self.with_backend_tags(&request.tags);
        let launch = Launch {
            region,
            instance_type: &offer.instance_type,
            spot: offer.spot,
            image,
            tags: &tags,
            security_group_id: &placement.security_group_id,
            subnet_id: placement.subnet_id.as_deref(),
            key_name: &placement.key_name,
            user_data: Some(userdata::encode(&script)),
            client_token: client_token(&request.token, &offer.key()),
            zone: offer.availability_zone.as_deref(),
            root_disk_gib: request.disk.map(gib),
        };
        let id = self.run_instance(client, &launch).await.map_err(located)?;
        self.wait_running(client, region, &id)
            .await
            .map_err(located)
    }

    /// `RunInstances` for one instance; its id.
    pub(crate) async fn run_instance(
        &self,
        client: &Client,
        launch: &Launch<'_>,
    ) -> Result<String, ProviderError> {
        let mut call = client
            .run_instances()
            .image_id(&launch.image)
            .instance_type(InstanceType::from(launch.instance_type))
            .min_count(1)
            .max_count(1)
            .client_token(&launch.client_token)
            .key_name(launch.key_name)
            .security_group_ids(launch.security_group_id)
            .tag_specifications(tag_spec(ResourceType::Instance, launch.tags))
            .tag_specifications(tag_spec(ResourceType::Volume, &root_disk_tags(launch.tags)))
            .set_subnet_id(launch.subnet_id.map(str::to_string))
            .set_user_data(launch.user_data.clone());
        if launch.spot {
            call = call.instance_market_options(spot_options());
        }
        if let (Some(zone), None) = (launch.zone, launch.subnet_id) {
            call = call.placement(
                aws_sdk_ec2::types::Placement::builder()
                    .availability_zone(zone)
                    .build(),
            );
        }
        if let Some(size) = launch.root_disk_gib {
            call = call.block_device_mappings(root_disk(size));
        }
        let out = call.send().await.map_err(|e| from_sdk("RunInstances", e))?;
        let id = out
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .ok_or_else(|| own(ErrorKind::Other, "RunInstances returned no instance"))?
            .to_string();
        self.remember(&id, launch.region);
        Ok(id)
    }

    /// Polls until `id` runs (bounded by `waits.running`; then returned as
    /// it is). An instance EC2 terminates at once (spot capacity gone) is a
    /// no-capacity error, so the planner tries the next offer.
    pub(crate) async fn wait_running(
        &self,
        client: &Client,
        region: &str,
        id: &str,
    ) -> Result<ResourceInfo, ProviderError> {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            // EC2 is eventually consistent: a new id may be unknown briefly.
            let described = describe_one(client, id).await?;
            if let Some(instance) = &described {
                let state = instance.state().and_then(|s| s.name());
                match state {
                    Some(InstanceStateName::Running) => {
                        return Ok(instance_info(region, instance, &self.prices()));
                    }
                    Some(InstanceStateName::ShuttingDown | InstanceStateName::Terminated) => {
                        let reason = instance
                            .state_reason()
                            .and_then(|r| r.message())
                            .unwrap_or("no reason given");
                        return Err(own(
                            ErrorKind::NoCapacity,
                            format!("{id} was terminated by EC2 right after launch: {reason}"),
                        ));
                    }
                    _ if start.elapsed() >= self.waits.running => {
                        return Ok(instance_info(region, instance, &self.prices()));
                    }
                    _ => {}
                }
            } else if start.elapsed() >= self.waits.running {
                return Err(own(
                    ErrorKind::Transient,
                    format!("{id} was created but EC2 does not describe it yet"),
                ));
            }
            self.pause(attempt).await;
            attempt += 1;
        }
    }

    /// Terminates `id` and waits until EC2 says it is terminated or gone.
    pub(crate) async fn terminate_instance(&self, id: &str) -> Result<(), ProviderError> {
        let Some((region, client)) = self.locate_instance(id).await? else {
            return Ok(());
        };
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            let last = match self.terminate_once(client, id).await {
                Ok(true) => return Ok(()),
                Ok(false) => None,
                Err(e) if e.kind.is_retryable() => Some(e),
                Err(e) => return Err(e.in_region(&region)),
            };
            if start.elapsed() >= self.waits.terminated {
                let why = last.map_or("still shutting down".to_string(), |e| e.to_string());
                return Err(own(
                    ErrorKind::Transient,
                    format!(
                        "{id} is not terminated after {}s ({why}); run the command again",
                        self.waits.terminated.as_secs()
                    ),
                )
                .in_region(&region));
            }
            self.pause(attempt).await;
            attempt += 1;
        }
    }

    /// One terminate request and a look; `true` once terminated or gone.
    async fn terminate_once(&self, client: &Client, id: &str) -> Result<bool, ProviderError> {
        let result = client.terminate_instances().instance_ids(id).send().await;
        match result.map_err(|e| from_sdk("TerminateInstances", e)) {
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let described = describe_one(client, id).await?;
        Ok(described.is_none_or(|i| {
            i.state().and_then(|s| s.name()) == Some(&InstanceStateName::Terminated)
        }))
    }

    /// The region and client holding instance `id`, if any does.
    pub(crate) async fn locate_instance(
        &self,
        id: &str,
    ) -> Result<Option<(String, &Client)>, ProviderError> {
        for region in self.regions_for(id) {
            let client = self.client(&region).await?;
            if describe_one(client, id).await?.is_some() {
                self.remember(id, &region);
                return Ok(Some((region, client)));
            }
        }
        Ok(None)
    }
}

/// Tags of an instance's root disk: where it belongs, but not
/// `dstack:managed` or the token, because it is part of the instance (deleted
/// with it), not a volume of its own in state or in sweeps.
fn root_disk_tags(tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = tags.clone();
    out.remove(TAG_MANAGED);
    out.remove(TAG_TOKEN);
    out.insert(TAG_ROLE.into(), "root-disk".into());
    out
}

fn spot_options() -> InstanceMarketOptionsRequest {
    InstanceMarketOptionsRequest::builder()
        .market_type(MarketType::Spot)
        .spot_options(
            SpotMarketOptions::builder()
                .spot_instance_type(SpotInstanceType::OneTime)
                .instance_interruption_behavior(InstanceInterruptionBehavior::Terminate)
                .build(),
        )
        .build()
}

fn root_disk(size_gib: i32) -> BlockDeviceMapping {
    BlockDeviceMapping::builder()
        .device_name("/dev/sda1")
        .ebs(
            EbsBlockDevice::builder()
                .volume_size(size_gib)
                .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
                .delete_on_termination(true)
                .build(),
        )
        .build()
}

/// The instance `id`, or `None` when EC2 does not know it.
pub(crate) async fn describe_one(
    client: &Client,
    id: &str,
) -> Result<Option<Instance>, ProviderError> {
    match client.describe_instances().instance_ids(id).send().await {
        Ok(out) => Ok(out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id))
            .cloned()),
        Err(e) => {
            let e = from_sdk("DescribeInstances", e);
            if e.kind == ErrorKind::NotFound {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// The live instance created under intent `token`, if any.
pub(crate) async fn find_by_token(
    client: &Client,
    token: &str,
) -> Result<Option<Instance>, ProviderError> {
    let out = client
        .describe_instances()
        .filters(filter(&format!("tag:{TAG_TOKEN}"), [token.to_string()]))
        .filters(filter(
            "instance-state-name",
            ADOPTABLE.iter().map(|s| s.to_string()),
        ))
        .send()
        .await
        .map_err(|e| from_sdk("DescribeInstances", e))?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .next()
        .cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_tokens_differ_per_offer_and_fit_ec2s_limit() {
        let a = client_token("dstk-1", "aws/us-east-1/g5.xlarge/spot");
        let b = client_token("dstk-1", "aws/us-east-1/g5.xlarge");
        assert_ne!(a, b);
        assert_eq!(a, client_token("dstk-1", "aws/us-east-1/g5.xlarge/spot"));
        assert!(a.len() <= 64 && a.is_ascii(), "{a}");
    }
}
