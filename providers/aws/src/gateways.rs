//! Gateways: an instance in its own security group (SSH, HTTP, HTTPS) with
//! an elastic IP, all tagged with the gateway's ownership tags plus
//! `dstack:role=gateway`. The gateway's provider id is its instance id;
//! deleting it releases the address, terminates the instance and deletes
//! the group. Leftover parts (an address or group whose instance is gone)
//! are listed as gateway orphans under their own ids and deleted by them.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Address, DomainType, ResourceType};
use dstack_provider::{
    ErrorKind, GatewayRequest, ProviderError, ResourceInfo, TAG_MANAGED, TAG_TOKEN,
};
use dstack_schemas::grammar::CpuArch;

use crate::describe::{ROLE_GATEWAY, TAG_ROLE, tag_map};
use crate::error::{BACKEND, from_sdk};
use crate::instances::{Launch, client_token, describe_one, find_by_token};
use crate::network::{ensure_group, tag_spec};
use crate::offers::filter;
use crate::provider::AwsProvider;

impl AwsProvider {
    pub(crate) async fn create_gateway_impl(
        &self,
        request: &GatewayRequest,
    ) -> Result<ResourceInfo, ProviderError> {
        let region = request.region.as_str();
        let client = self.client(region).await?;
        let mut tags = self.with_backend_tags(&request.tags);
        tags.insert(TAG_ROLE.into(), ROLE_GATEWAY.into());
        let id = match find_by_token(client, &request.token).await? {
            Some(found) => found.instance_id().unwrap_or_default().to_string(),
            None => self.launch_gateway(client, request, &tags).await?,
        };
        self.remember(&id, region);
        let mut info = self.wait_running(client, region, &id).await?;
        if request.public_ip {
            let address = ensure_address(client, &request.token, &tags).await?;
            associate(client, &address, &id).await?;
            info.data["ip"] = serde_json::json!(address.public_ip());
            info.data["allocation_id"] = serde_json::json!(address.allocation_id());
        } else {
            info.data["ip"] = info.data["private_ip"].clone();
        }
        Ok(info)
    }

    async fn launch_gateway(
        &self,
        client: &Client,
        request: &GatewayRequest,
        tags: &BTreeMap<String, String>,
    ) -> Result<String, ProviderError> {
        let region = request.region.as_str();
        let placement = self.placement(region).await?;
        let group = ensure_group(
            client,
            &format!("dstack-gateway-{}", request.token),
            &placement.vpc_id,
            &format!("dstack gateway {}: SSH, HTTP, HTTPS", request.address),
            &[22, 80, 443],
            tags,
        )
        .await?;
        let instance_type = request.instance_type.clone().unwrap_or_else(|| {
            self.catalog
                .backend_prices(BACKEND)
                .map_or("t3.medium".into(), |p| p.gateway_instance_type.clone())
        });
        let launch = Launch {
            region,
            instance_type: &instance_type,
            spot: false,
            image: self.image(region, CpuArch::X86).await?,
            tags,
            security_group_id: &group,
            subnet_id: placement.subnet_id.as_deref(),
            key_name: &placement.key_name,
            user_data: None,
            client_token: client_token(&request.token, "gateway"),
            zone: None,
            root_disk_gib: None,
        };
        self.run_instance(client, &launch)
            .await
            .map_err(|e| e.in_region(region).for_instance_type(&instance_type))
    }

    pub(crate) async fn delete_gateway_impl(&self, id: &str) -> Result<(), ProviderError> {
        if id.starts_with("eipalloc-") {
            return self.release_leftover_address(id).await;
        }
        if id.starts_with("sg-") {
            return self.delete_leftover_group(id).await;
        }
        let Some((region, client)) = self.locate_instance(id).await? else {
            return Ok(());
        };
        let token = describe_one(client, id)
            .await?
            .and_then(|i| tag_map(i.tags()).remove(TAG_TOKEN));
        if let Some(token) = &token {
            for address in addresses_by_token(client, token).await? {
                release(client, &address)
                    .await
                    .map_err(|e| e.in_region(&region))?;
            }
        }
        self.terminate_instance(id).await?;
        if let Some(token) = &token {
            for group in groups_by_token(client, token).await? {
                self.delete_group(client, &group).await?;
            }
        }
        Ok(())
    }

    async fn release_leftover_address(&self, allocation_id: &str) -> Result<(), ProviderError> {
        for region in self.regions_for(allocation_id) {
            let client = self.client(&region).await?;
            let found = client
                .describe_addresses()
                .filters(filter("allocation-id", [allocation_id.to_string()]))
                .send()
                .await
                .map_err(|e| from_sdk("DescribeAddresses", e))?;
            if let Some(address) = found.addresses().first() {
                return release(client, address).await;
            }
        }
        Ok(())
    }

    async fn delete_leftover_group(&self, group_id: &str) -> Result<(), ProviderError> {
        for region in self.regions_for(group_id) {
            let client = self.client(&region).await?;
            self.delete_group(client, group_id).await?;
        }
        Ok(())
    }

    /// Deletes a security group, waiting out `DependencyViolation` while the
    /// instance using it shuts down; gone is fine.
    async fn delete_group(&self, client: &Client, group_id: &str) -> Result<(), ProviderError> {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            let result = client
                .delete_security_group()
                .group_id(group_id)
                .send()
                .await;
            match result.map_err(|e| from_sdk("DeleteSecurityGroup", e)) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
                Err(e) if e.kind.is_retryable() && start.elapsed() < self.waits.settle => {
                    self.pause(attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The gateway's elastic IP: the one tagged with its token, or a new one.
async fn ensure_address(
    client: &Client,
    token: &str,
    tags: &BTreeMap<String, String>,
) -> Result<Address, ProviderError> {
    if let Some(found) = addresses_by_token(client, token).await?.into_iter().next() {
        return Ok(found);
    }
    let out = client
        .allocate_address()
        .domain(DomainType::Vpc)
        .tag_specifications(tag_spec(ResourceType::ElasticIp, tags))
        .send()
        .await
        .map_err(|e| from_sdk("AllocateAddress", e))?;
    Ok(Address::builder()
        .set_allocation_id(out.allocation_id().map(str::to_string))
        .set_public_ip(out.public_ip().map(str::to_string))
        .build())
}

async fn associate(
    client: &Client,
    address: &Address,
    instance_id: &str,
) -> Result<(), ProviderError> {
    if address.instance_id() == Some(instance_id) {
        return Ok(());
    }
    client
        .associate_address()
        .set_allocation_id(address.allocation_id().map(str::to_string))
        .instance_id(instance_id)
        .send()
        .await
        .map_err(|e| from_sdk("AssociateAddress", e))?;
    Ok(())
}

/// Disassociates (if needed) and releases an address; gone is fine.
async fn release(client: &Client, address: &Address) -> Result<(), ProviderError> {
    if let Some(association) = address.association_id().filter(|a| !a.is_empty()) {
        let result = client
            .disassociate_address()
            .association_id(association)
            .send()
            .await;
        match result.map_err(|e| from_sdk("DisassociateAddress", e)) {
            Err(e) if e.kind != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let result = client
        .release_address()
        .set_allocation_id(address.allocation_id().map(str::to_string))
        .send()
        .await;
    match result.map_err(|e| from_sdk("ReleaseAddress", e)) {
        Err(e) if e.kind != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

async fn addresses_by_token(client: &Client, token: &str) -> Result<Vec<Address>, ProviderError> {
    let out = client
        .describe_addresses()
        .filters(filter(&format!("tag:{TAG_TOKEN}"), [token.to_string()]))
        .filters(filter(&format!("tag:{TAG_MANAGED}"), ["true".to_string()]))
        .send()
        .await
        .map_err(|e| from_sdk("DescribeAddresses", e))?;
    Ok(out.addresses().to_vec())
}

async fn groups_by_token(client: &Client, token: &str) -> Result<Vec<String>, ProviderError> {
    let out = client
        .describe_security_groups()
        .filters(filter(&format!("tag:{TAG_TOKEN}"), [token.to_string()]))
        .filters(filter(&format!("tag:{TAG_MANAGED}"), ["true".to_string()]))
        .send()
        .await
        .map_err(|e| from_sdk("DescribeSecurityGroups", e))?;
    Ok(out
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect())
}
