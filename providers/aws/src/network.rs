//! What instances of a region need before any is launched, created once
//! and reused: the VPC and subnet to use, the project's security group
//! (SSH and the runner port) and key pair, and the machine image. Also the
//! per-gateway security group (SSH, HTTP, HTTPS).
//!
//! The project's security group and key pair are free, shared by every
//! instance of the project in the region, tagged `dstack:project` (not
//! `dstack:managed`: they are not resources of any state) and kept across
//! applies, as dstack does.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    ArchitectureValues, IpPermission, IpRange, ResourceType, Tag, TagSpecification,
};
use dstack_provider::{ErrorKind, ProviderError, TAG_PROJECT};
use dstack_schemas::grammar::CpuArch;

use crate::error::{code_of, from_sdk, own};
use crate::offers::filter;
use crate::userdata::RUNNER_PORT;

/// Canonical's account (Ubuntu images).
const CANONICAL: &str = "099720109477";

/// Where instances of a region go.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// VPC.
    pub vpc_id: String,
    /// Subnet, when configured (else EC2 picks the default subnet).
    pub subnet_id: Option<String>,
    /// The project's security group in that VPC.
    pub security_group_id: String,
    /// The project's key pair.
    pub key_name: String,
}

/// EC2 tags from a map.
pub fn tags_of(map: &BTreeMap<String, String>) -> Vec<Tag> {
    map.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// A tag specification for `resource` with `tags`.
pub fn tag_spec(resource: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(tags_of(tags)))
        .build()
}

/// A name EC2 accepts for groups and key pairs: `dstack-<project>`.
pub fn project_resource_name(project: &str) -> String {
    let clean: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(200)
        .collect();
    format!("dstack-{clean}")
}

/// Settles the VPC, subnet, security group and key pair of a region.
pub async fn prepare(
    client: &Client,
    project: &str,
    vpc_id: Option<&str>,
    subnet_id: Option<&str>,
    key_dir: Option<&Path>,
) -> Result<Placement, ProviderError> {
    let vpc_id = match (vpc_id, subnet_id) {
        (_, Some(subnet)) => vpc_of_subnet(client, subnet).await?,
        (Some(vpc), None) => vpc.to_string(),
        (None, None) => default_vpc(client).await?,
    };
    let name = project_resource_name(project);
    let security_group_id = ensure_group(
        client,
        &name,
        &vpc_id,
        &format!("dstack project {project}: SSH and the dstack runner"),
        &[22, RUNNER_PORT],
        &project_tags(project),
    )
    .await?;
    let key_name = ensure_key_pair(client, &name, project, key_dir).await?;
    Ok(Placement {
        vpc_id,
        subnet_id: subnet_id.map(str::to_string),
        security_group_id,
        key_name,
    })
}

fn project_tags(project: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(TAG_PROJECT.to_string(), project.to_string())])
}

async fn vpc_of_subnet(client: &Client, subnet: &str) -> Result<String, ProviderError> {
    subnet_field(client, subnet, |s| s.vpc_id()).await
}

/// The zone of `subnet` (where instances placed in it run).
pub async fn subnet_zone(client: &Client, subnet: &str) -> Result<String, ProviderError> {
    subnet_field(client, subnet, |s| s.availability_zone()).await
}

/// One field of the subnet `subnet`, which must exist.
async fn subnet_field(
    client: &Client,
    subnet: &str,
    field: impl Fn(&aws_sdk_ec2::types::Subnet) -> Option<&str>,
) -> Result<String, ProviderError> {
    let out = client
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .map_err(|e| from_sdk("DescribeSubnets", e))?;
    out.subnets()
        .first()
        .and_then(field)
        .map(str::to_string)
        .ok_or_else(|| {
            own(
                ErrorKind::InvalidRequest,
                format!("subnet {subnet} not found; fix `subnet_id` in .dstack/backends.yml"),
            )
        })
}

async fn default_vpc(client: &Client) -> Result<String, ProviderError> {
    let out = client
        .describe_vpcs()
        .filters(filter("is-default", ["true".to_string()]))
        .send()
        .await
        .map_err(|e| from_sdk("DescribeVpcs", e))?;
    out.vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(str::to_string)
        .ok_or_else(|| {
            own(
                ErrorKind::InvalidRequest,
                "the region has no default VPC; set `vpc_id` or `subnet_id` in .dstack/backends.yml",
            )
        })
}

/// Finds the group `name` in `vpc_id` or creates it with TCP `ports` open.
pub async fn ensure_group(
    client: &Client,
    name: &str,
    vpc_id: &str,
    description: &str,
    ports: &[u16],
    tags: &BTreeMap<String, String>,
) -> Result<String, ProviderError> {
    if let Some(id) = find_group(client, name, vpc_id).await? {
        return Ok(id);
    }
    let created = client
        .create_security_group()
        .group_name(name)
        .description(description)
        .vpc_id(vpc_id)
        .tag_specifications(tag_spec(ResourceType::SecurityGroup, tags))
        .send()
        .await;
    let id = match created {
        Ok(out) => out.group_id().unwrap_or_default().to_string(),
        // Someone created it between our look and our create.
        Err(e) if code_of(&e) == Some("InvalidGroup.Duplicate") => {
            return find_group(client, name, vpc_id).await?.ok_or_else(|| {
                own(
                    ErrorKind::Transient,
                    format!("security group {name} vanished"),
                )
            });
        }
        Err(e) => return Err(from_sdk("CreateSecurityGroup", e)),
    };
    let permissions: Vec<IpPermission> = ports
        .iter()
        .map(|port| {
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(i32::from(*port))
                .to_port(i32::from(*port))
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build()
        })
        .collect();
    client
        .authorize_security_group_ingress()
        .group_id(&id)
        .set_ip_permissions(Some(permissions))
        .send()
        .await
        .map_err(|e| from_sdk("AuthorizeSecurityGroupIngress", e))?;
    Ok(id)
}

async fn find_group(
    client: &Client,
    name: &str,
    vpc_id: &str,
) -> Result<Option<String>, ProviderError> {
    let out = client
        .describe_security_groups()
        .filters(filter("group-name", [name.to_string()]))
        .filters(filter("vpc-id", [vpc_id.to_string()]))
        .send()
        .await
        .map_err(|e| from_sdk("DescribeSecurityGroups", e))?;
    Ok(out
        .security_groups()
        .first()
        .and_then(|g| g.group_id())
        .map(str::to_string))
}

/// Finds the key pair `name` or creates it, saving the private key under
/// `key_dir` (it is only ever returned once, at creation).
async fn ensure_key_pair(
    client: &Client,
    name: &str,
    project: &str,
    key_dir: Option<&Path>,
) -> Result<String, ProviderError> {
    let found = client
        .describe_key_pairs()
        .filters(filter("key-name", [name.to_string()]))
        .send()
        .await
        .map_err(|e| from_sdk("DescribeKeyPairs", e))?;
    if !found.key_pairs().is_empty() {
        return Ok(name.to_string());
    }
    let created = client
        .create_key_pair()
        .key_name(name)
        .tag_specifications(tag_spec(ResourceType::KeyPair, &project_tags(project)))
        .send()
        .await;
    match created {
        Ok(out) => {
            if let (Some(dir), Some(material)) = (key_dir, out.key_material()) {
                save_private_key(dir, name, material)?;
            }
            Ok(name.to_string())
        }
        Err(e) if code_of(&e) == Some("InvalidKeyPair.Duplicate") => Ok(name.to_string()),
        Err(e) => Err(from_sdk("CreateKeyPair", e)),
    }
}

fn save_private_key(dir: &Path, name: &str, material: &str) -> Result<(), ProviderError> {
    let io = |e: std::io::Error| {
        own(
            ErrorKind::Other,
            format!(
                "cannot save the key pair's private key in {}: {e}",
                dir.display()
            ),
        )
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, material).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

/// The newest Ubuntu server image for `arch` the account can see.
pub async fn default_image(client: &Client, arch: CpuArch) -> Result<String, ProviderError> {
    let (arch_value, arch_name) = match arch {
        CpuArch::X86 => (ArchitectureValues::X8664, "amd64"),
        CpuArch::Arm => (ArchitectureValues::Arm64, "arm64"),
    };
    let out = client
        .describe_images()
        .owners(CANONICAL)
        .filters(filter(
            "name",
            [format!("ubuntu/images/*ubuntu-*-{arch_name}-server-*")],
        ))
        .filters(filter("architecture", [arch_value.as_str().to_string()]))
        .filters(filter("state", ["available".to_string()]))
        .send()
        .await
        .map_err(|e| from_sdk("DescribeImages", e))?;
    let newest = out
        .images()
        .iter()
        .filter(|i| i.architecture().is_none_or(|a| a == &arch_value))
        .max_by(|a, b| (a.creation_date(), a.name()).cmp(&(b.creation_date(), b.name())));
    newest
        .and_then(|i| i.image_id())
        .map(str::to_string)
        .ok_or_else(|| {
            own(
                ErrorKind::InvalidRequest,
                format!("no Ubuntu {arch_name} image found; set `ami_id` in .dstack/backends.yml"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_become_valid_group_and_key_names() {
        assert_eq!(project_resource_name("my proj/1"), "dstack-my-proj-1");
        assert_eq!(project_resource_name("ml"), "dstack-ml");
    }
}
