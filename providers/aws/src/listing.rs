//! What exists: `list_owned` sweeps each configured region with one
//! tag-filtered describe per kind (instances, volumes, elastic IPs, security
//! groups; paginated), never one call per resource; `get` looks one id up.
//! Gateway addresses and groups are folded into their gateway and listed on
//! their own only when their instance is gone (a leak to clean up).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Address, Instance, SecurityGroup, Volume, VolumeState};
use dstack_provider::{ProviderError, ResourceInfo, TAG_MANAGED, TAG_TOKEN};
use dstack_schemas::addr::ResourceKind;

use crate::describe::{
    address_info, instance_info, instance_is_live, security_group_info, tag_map, volume_info,
};
use crate::error::from_sdk;
use crate::instances::describe_one;
use crate::offers::filter;
use crate::provider::AwsProvider;
use crate::volumes::describe_volume;

/// What one region holds with our tag.
struct Sweep {
    instances: Vec<Instance>,
    volumes: Vec<Volume>,
    addresses: Vec<Address>,
    groups: Vec<SecurityGroup>,
}

impl AwsProvider {
    pub(crate) async fn list_owned_impl(&self) -> Result<Vec<ResourceInfo>, ProviderError> {
        let mut out = Vec::new();
        for (region, client) in self.clients().await.iter() {
            let sweep = sweep(client).await.map_err(|e| e.in_region(region))?;
            out.extend(self.resources_of(region, &sweep));
        }
        Ok(out)
    }

    fn resources_of(&self, region: &str, sweep: &Sweep) -> Vec<ResourceInfo> {
        let prices = self.prices();
        let mut out = Vec::new();
        let mut live_tokens = BTreeSet::new();
        let ips: BTreeMap<String, &Address> = sweep
            .addresses
            .iter()
            .filter_map(|a| Some((tag_map(a.tags()).remove(TAG_TOKEN)?, a)))
            .collect();
        for instance in sweep.instances.iter().filter(|i| instance_is_live(i)) {
            let mut info = instance_info(region, instance, &prices);
            if let Some(token) = info.token().map(str::to_string) {
                if let (ResourceKind::Gateway, Some(address)) = (info.kind, ips.get(&token)) {
                    info.data["ip"] = serde_json::json!(address.public_ip());
                    info.data["allocation_id"] = serde_json::json!(address.allocation_id());
                }
                live_tokens.insert(token);
            }
            self.remember(&info.provider_id, region);
            out.push(info);
        }
        let leftover = |tags: BTreeMap<String, String>| {
            tags.get(TAG_TOKEN).is_none_or(|t| !live_tokens.contains(t))
        };
        for volume in &sweep.volumes {
            let info = volume_info(region, volume, &prices);
            self.remember(&info.provider_id, region);
            out.push(info);
        }
        for address in sweep
            .addresses
            .iter()
            .filter(|a| leftover(tag_map(a.tags())))
        {
            let info = address_info(region, address, &prices);
            self.remember(&info.provider_id, region);
            out.push(info);
        }
        for group in sweep.groups.iter().filter(|g| leftover(tag_map(g.tags()))) {
            let info = security_group_info(region, group);
            self.remember(&info.provider_id, region);
            out.push(info);
        }
        out
    }

    pub(crate) async fn get_impl(
        &self,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<ResourceInfo>, ProviderError> {
        for region in self.regions_for(id) {
            let client = self.client(&region).await?;
            let found = match kind {
                ResourceKind::Volume => describe_volume(client, id)
                    .await?
                    .map(|v| volume_info(&region, &v, &self.prices())),
                _ => describe_one(client, id)
                    .await?
                    .map(|i| instance_info(&region, &i, &self.prices())),
            };
            if let Some(info) = found {
                self.remember(id, &region);
                return Ok(Some(info));
            }
        }
        Ok(None)
    }
}

fn managed() -> aws_sdk_ec2::types::Filter {
    filter(&format!("tag:{TAG_MANAGED}"), ["true".to_string()])
}

/// One region's tagged resources: four describes (each paginated).
async fn sweep(client: &Client) -> Result<Sweep, ProviderError> {
    let instances = client
        .describe_instances()
        .filters(managed())
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| from_sdk("DescribeInstances", e))?
        .iter()
        .flat_map(|page| page.reservations())
        .flat_map(|r| r.instances())
        .cloned()
        .collect();
    let volumes = client
        .describe_volumes()
        .filters(managed())
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| from_sdk("DescribeVolumes", e))?
        .iter()
        .flat_map(|page| page.volumes())
        .filter(|v| {
            !matches!(
                v.state(),
                Some(VolumeState::Deleted | VolumeState::Deleting)
            )
        })
        .cloned()
        .collect();
    let addresses = client
        .describe_addresses()
        .filters(managed())
        .send()
        .await
        .map_err(|e| from_sdk("DescribeAddresses", e))?
        .addresses()
        .to_vec();
    let groups = client
        .describe_security_groups()
        .filters(managed())
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| from_sdk("DescribeSecurityGroups", e))?
        .iter()
        .flat_map(|page| page.security_groups())
        .cloned()
        .collect();
    Ok(Sweep {
        instances,
        volumes,
        addresses,
        groups,
    })
}
