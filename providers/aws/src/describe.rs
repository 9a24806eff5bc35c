//! EC2 objects (instances, volumes, elastic IPs, security groups) as the
//! provider API's [`ResourceInfo`]: status, tags, price and backend data
//! (IPs, zone, the runner's URL and token). Pure conversions, no calls.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    Address, Instance, InstanceLifecycleType, InstanceStateName, SecurityGroup, Tag, Volume,
    VolumeState,
};
use dstack_provider::{ResourceInfo, ResourceStatus, TAG_TOKEN};
use dstack_schemas::addr::ResourceKind;
use dstack_schemas::grammar::Memory;
use dstack_schemas::money::{HourlyRate, Usd};
use dstack_schemas::offer::{Availability, Catalog, Offer};

use crate::error::BACKEND;
use crate::userdata::{RUNNER_PORT, runner_token};
use dstack_schemas::recorded::RunnerEndpoint;

/// Tag naming what a dstack resource is for (`gateway` on the gateway's
/// instance, address and security group).
pub const TAG_ROLE: &str = "dstack:role";
/// [`TAG_ROLE`] of gateway parts.
pub const ROLE_GATEWAY: &str = "gateway";

/// Prices of instance types: live offers when known, else the catalog.
pub struct Prices<'a> {
    /// Offers fetched in this process, if any.
    pub offers: Option<&'a [Offer]>,
    /// The shipped catalog.
    pub catalog: &'a Catalog,
}

impl Prices<'_> {
    /// The offer for `instance_type` in `region` (spot or not), or a bare
    /// one naming only the type when nothing prices it.
    pub fn offer(&self, region: &str, instance_type: &str, spot: bool) -> Offer {
        let same =
            |o: &Offer| o.region == region && o.instance_type == instance_type && o.spot == spot;
        if let Some(found) = self
            .offers
            .and_then(|offers| offers.iter().find(|o| same(o)))
        {
            return found.clone();
        }
        if let Some(found) = self.catalog.offers(BACKEND).into_iter().find(same) {
            return found;
        }
        Offer {
            backend: BACKEND.into(),
            region: region.into(),
            availability_zone: None,
            instance_type: instance_type.into(),
            cpus: 0,
            cpu_arch: dstack_schemas::grammar::CpuArch::X86,
            memory: Memory::from_mb(0),
            disk: None,
            gpu: None,
            spot,
            price: HourlyRate(Usd::default()),
            availability: Availability::Available,
        }
    }

    /// Gateway extras per hour (the elastic IP).
    pub fn gateway_extra(&self) -> Usd {
        self.catalog
            .backend_prices(BACKEND)
            .and_then(|p| Usd::from_dollars_f64(p.gateway_extra_hourly))
            .unwrap_or_default()
    }

    /// Block storage, per GB-month.
    pub fn volume_gb_month(&self) -> f64 {
        self.catalog
            .backend_prices(BACKEND)
            .map_or(0.0, |p| p.volume_gb_month)
    }
}

/// EC2 tags as a map.
pub fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// The provider status of an instance state.
pub fn instance_status(state: Option<&InstanceStateName>) -> ResourceStatus {
    match state {
        Some(InstanceStateName::Pending) => ResourceStatus::Pending,
        Some(InstanceStateName::Running) => ResourceStatus::Running,
        Some(InstanceStateName::Stopping | InstanceStateName::Stopped) => ResourceStatus::Stopped,
        Some(InstanceStateName::ShuttingDown) => ResourceStatus::Deleting,
        Some(InstanceStateName::Terminated) => ResourceStatus::Terminated,
        _ => ResourceStatus::Pending,
    }
}

/// True for instances that still exist in a useful sense (not on their way
/// out); listings leave the others out so drift calls them deleted.
pub fn instance_is_live(instance: &Instance) -> bool {
    !matches!(
        instance.state().and_then(|s| s.name()),
        Some(InstanceStateName::ShuttingDown | InstanceStateName::Terminated)
    )
}

/// An instance (or a gateway's instance) as a resource.
pub fn instance_info(region: &str, instance: &Instance, prices: &Prices<'_>) -> ResourceInfo {
    let tags = tag_map(instance.tags());
    let id = instance.instance_id().unwrap_or_default().to_string();
    let instance_type = instance
        .instance_type()
        .map(|t| t.as_str().to_string())
        .unwrap_or_default();
    let spot = instance.instance_lifecycle() == Some(&InstanceLifecycleType::Spot);
    let offer = prices.offer(region, &instance_type, spot);
    let gateway = tags.get(TAG_ROLE).map(String::as_str) == Some(ROLE_GATEWAY);
    let state = instance.state().and_then(|s| s.name());
    let host = instance
        .public_ip_address()
        .or(instance.private_ip_address());
    let data = serde_json::json!({
        "instance_type": instance_type,
        "lifecycle": if spot { "spot" } else { "on-demand" },
        "state": state.map(|s| s.as_str()),
        "state_reason": instance.state_reason().and_then(|r| r.code()).filter(|c| !c.is_empty()),
        "zone": instance.placement().and_then(|p| p.availability_zone()),
        "private_ip": instance.private_ip_address(),
        "public_ip": instance.public_ip_address(),
        "hostname": host,
        "vpc_id": instance.vpc_id(),
        "subnet_id": instance.subnet_id(),
    });
    let runner = match (tags.get(TAG_TOKEN), host, gateway) {
        (Some(token), Some(host), false) => Some(RunnerEndpoint {
            url: format!("http://{host}:{RUNNER_PORT}"),
            token: runner_token(token),
        }),
        _ => None,
    };
    let mut price = Some(offer.price).filter(|p| p.0 != Usd::default());
    if gateway {
        price = price.map(|p| {
            HourlyRate(Usd::from_micros(
                p.0.micros() + prices.gateway_extra().micros(),
            ))
        });
    }
    ResourceInfo {
        kind: if gateway {
            ResourceKind::Gateway
        } else {
            ResourceKind::Instance
        },
        provider_id: id,
        status: instance_status(state),
        tags,
        region: Some(region.into()),
        offer: Some(offer),
        price,
        data,
        runner,
    }
}

/// A volume as a resource (priced per hour from the catalog's GB-month).
pub fn volume_info(region: &str, volume: &Volume, prices: &Prices<'_>) -> ResourceInfo {
    let size_gb = volume.size().unwrap_or(0);
    let attachment = volume.attachments().first();
    let hourly =
        prices.volume_gb_month() * f64::from(size_gb) / dstack_schemas::offer::HOURS_PER_MONTH;
    let status = match volume.state() {
        Some(VolumeState::Creating) => ResourceStatus::Pending,
        Some(VolumeState::Deleting) => ResourceStatus::Deleting,
        Some(VolumeState::Deleted) => ResourceStatus::Terminated,
        _ => ResourceStatus::Running,
    };
    ResourceInfo {
        kind: ResourceKind::Volume,
        provider_id: volume.volume_id().unwrap_or_default().to_string(),
        status,
        tags: tag_map(volume.tags()),
        region: Some(region.into()),
        offer: None,
        price: Usd::from_dollars_f64(hourly).map(HourlyRate),
        data: serde_json::json!({
            "size_gb": size_gb,
            "availability_zone": volume.availability_zone(),
            "volume_type": volume.volume_type().map(|t| t.as_str()),
            "state": volume.state().map(|s| s.as_str()),
            "attached_to": attachment.and_then(|a| a.instance_id()),
            "device": attachment.and_then(|a| a.device()),
        }),
        runner: None,
    }
}

/// A gateway's elastic IP left without its instance (a leak to clean up).
pub fn address_info(region: &str, address: &Address, prices: &Prices<'_>) -> ResourceInfo {
    ResourceInfo {
        kind: ResourceKind::Gateway,
        provider_id: address.allocation_id().unwrap_or_default().to_string(),
        status: ResourceStatus::Running,
        tags: tag_map(address.tags()),
        region: Some(region.into()),
        offer: None,
        price: Some(HourlyRate(prices.gateway_extra())),
        data: serde_json::json!({
            "ip": address.public_ip(),
            "instance_id": address.instance_id().filter(|i| !i.is_empty()),
        }),
        runner: None,
    }
}

/// A gateway's security group left without its instance (free, but ours).
pub fn security_group_info(region: &str, group: &SecurityGroup) -> ResourceInfo {
    ResourceInfo {
        kind: ResourceKind::Gateway,
        provider_id: group.group_id().unwrap_or_default().to_string(),
        status: ResourceStatus::Running,
        tags: tag_map(group.tags()),
        region: Some(region.into()),
        offer: None,
        price: Some(HourlyRate(Usd::default())),
        data: serde_json::json!({
            "group_name": group.group_name(),
            "vpc_id": group.vpc_id(),
        }),
        runner: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::{InstanceState, InstanceType, Placement};

    fn instance(state: InstanceStateName, spot: bool, tags: &[(&str, &str)]) -> Instance {
        let mut b = Instance::builder()
            .instance_id("i-1")
            .instance_type(InstanceType::G5Xlarge)
            .state(InstanceState::builder().name(state).build())
            .placement(Placement::builder().availability_zone("us-east-1a").build())
            .private_ip_address("10.0.0.5")
            .public_ip_address("54.0.0.9");
        if spot {
            b = b.instance_lifecycle(InstanceLifecycleType::Spot);
        }
        for (k, v) in tags {
            b = b.tags(Tag::builder().key(*k).value(*v).build());
        }
        b.build()
    }

    #[test]
    fn a_running_spot_instance_has_its_runner_endpoint_and_spot_price() {
        let catalog = dstack_provider::catalog::shipped();
        let prices = Prices {
            offers: None,
            catalog: &catalog,
        };
        let info = instance_info(
            "us-east-1",
            &instance(InstanceStateName::Running, true, &[(TAG_TOKEN, "dstk-1")]),
            &prices,
        );
        assert_eq!(info.kind, ResourceKind::Instance);
        assert_eq!(info.status, ResourceStatus::Running);
        let runner = info.runner.expect("runner endpoint");
        assert_eq!(runner.url, "http://54.0.0.9:10999");
        assert_eq!(runner.token, runner_token("dstk-1"));
        assert_eq!(info.data["zone"], "us-east-1a");
        let offer = info.offer.expect("offer");
        assert!(offer.spot);
        assert_eq!(offer.instance_type, "g5.xlarge");
        assert_eq!(info.price.map(|p| p.to_string()), Some("$0.4024/h".into()));
    }

    #[test]
    fn stopped_instances_are_stopped_and_terminating_ones_are_not_live() {
        assert_eq!(
            instance_status(Some(&InstanceStateName::Stopped)),
            ResourceStatus::Stopped
        );
        assert!(!instance_is_live(&instance(
            InstanceStateName::ShuttingDown,
            false,
            &[]
        )));
        assert!(instance_is_live(&instance(
            InstanceStateName::Stopped,
            false,
            &[]
        )));
    }

    #[test]
    fn a_gateway_instance_is_priced_with_its_elastic_ip() {
        let catalog = dstack_provider::catalog::shipped();
        let prices = Prices {
            offers: None,
            catalog: &catalog,
        };
        let mut i = instance(
            InstanceStateName::Running,
            false,
            &[(TAG_ROLE, ROLE_GATEWAY)],
        );
        i.instance_type = Some(InstanceType::T3Medium);
        let info = instance_info("us-east-1", &i, &prices);
        assert_eq!(info.kind, ResourceKind::Gateway);
        assert_eq!(info.runner, None);
        assert_eq!(info.price.map(|p| p.to_string()), Some("$0.0466/h".into()));
    }
}
