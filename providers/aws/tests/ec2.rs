//! The AWS provider against a real moto EC2 server (one per test, on a free
//! port of 127.0.0.1): offers, on-demand and spot creates, adoption by
//! token, classified capacity errors (injected), volumes, gateways, the
//! tag-filtered sweep, the provider conformance suite, and bounded failure
//! when EC2 cannot be reached.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, InstanceLifecycleType, InstanceStateName};
use dstack_provider::testing::{Scope, conformance};
use dstack_provider::{
    ErrorKind, GatewayRequest, InstanceRequest, Provider, ResourceInfo, ResourceStatus,
    VolumeRequest, ownership_tags,
};
use dstack_provider_aws::moto::{ACCESS_KEY, Moto, SECRET_KEY};
use dstack_provider_aws::{AwsProvider, Limits, client::Clients};
use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_schemas::backends::AwsConfig;
use dstack_schemas::grammar::Memory;
use dstack_schemas::offer::Offer;

const REGION: &str = "us-east-1";

fn config(moto: &Moto) -> AwsConfig {
    AwsConfig {
        regions: vec![REGION.into()],
        endpoint_url: Some(moto.endpoint().into()),
        tags: BTreeMap::from([("team".to_string(), "ml".to_string())]),
        ..AwsConfig::default()
    }
}

fn provider(moto: &Moto) -> AwsProvider {
    AwsProvider::new(config(moto), "test")
        .expect("valid config")
        .with_static_credentials(ACCESS_KEY, SECRET_KEY)
}

fn moto() -> Moto {
    Moto::start().unwrap_or_else(|e| panic!("{e}"))
}

/// A plain EC2 client on moto, for looking behind the provider's back.
async fn ec2(moto: &Moto) -> aws_sdk_ec2::Client {
    let clients = Clients::load(
        &config(moto),
        Limits::default(),
        Some((ACCESS_KEY.into(), SECRET_KEY.into())),
    )
    .await;
    clients.get(REGION).expect("client").clone()
}

fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// Instances in moto tagged `key=value`, with their state.
async fn tagged_instances(moto: &Moto, key: &str, value: &str) -> Vec<(String, String)> {
    let out = ec2(moto)
        .await
        .describe_instances()
        .filters(tag_filter(key, value))
        .send()
        .await
        .expect("describe");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            (
                i.instance_id().unwrap_or_default().to_string(),
                i.state()
                    .and_then(|s| s.name())
                    .map_or("?".into(), |n| n.as_str().to_string()),
            )
        })
        .collect()
}

async fn offer(p: &AwsProvider, instance_type: &str, spot: bool) -> Offer {
    p.offers()
        .await
        .expect("offers")
        .into_iter()
        .find(|o| o.instance_type == instance_type && o.spot == spot && o.region == REGION)
        .unwrap_or_else(|| panic!("no {instance_type} offer (spot={spot})"))
}

fn request(address: &str, token: &str, offer: Offer) -> InstanceRequest {
    let address: ResourceAddr = address.parse().expect("address");
    InstanceRequest {
        tags: ownership_tags("test", "lineage-1", &address, token, &BTreeMap::new()),
        address,
        token: token.into(),
        offer,
        disk: None,
        user_data: None,
    }
}

/// An on-demand `m5.large` created at `address` with intent `token`.
async fn m5_large(p: &AwsProvider, address: &str, token: &str) -> ResourceInfo {
    p.create_instance(&request(address, token, offer(p, "m5.large", false).await))
        .await
        .unwrap_or_else(|e| panic!("create {address}: {e}"))
}

#[tokio::test]
async fn offers_join_ec2_shapes_catalog_prices_and_spot_history() {
    let moto = moto();
    let p = provider(&moto);
    let offers = p.offers().await.expect("offers");
    assert!(
        offers
            .iter()
            .all(|o| o.region == REGION && o.backend == "aws")
    );
    let g5 = offer(&p, "g5.xlarge", false).await;
    let gpu = g5.gpu.clone().expect("g5.xlarge has a GPU");
    assert_eq!((gpu.name.as_str(), gpu.count), ("A10G", 1));
    assert_eq!(
        gpu.memory,
        Memory::from_gb(24),
        "marketed memory from the catalog"
    );
    assert_eq!((g5.cpus, g5.memory), (4, Memory::from_gb(16)));
    assert_eq!(
        g5.price.to_string(),
        "$1.006/h",
        "on-demand price from the catalog"
    );
    // moto's spot price history says $0.00001 for everything.
    let spot = offer(&p, "g5.xlarge", true).await;
    assert_eq!(spot.price.0.micros(), 10);
    let p4d = offer(&p, "p4d.24xlarge", false).await;
    let gpu = p4d.gpu.expect("p4d has GPUs");
    assert_eq!((gpu.name.as_str(), gpu.count, p4d.cpus), ("A100", 8, 96));
    // Only catalog types are sold on demand; GPU types the catalog does not
    // price are offered on spot only (priced by the spot history).
    let catalog: Vec<String> = dstack_provider::catalog::shipped()
        .offers("aws")
        .into_iter()
        .map(|o| o.instance_type)
        .collect();
    assert!(
        offers
            .iter()
            .filter(|o| !o.spot)
            .all(|o| catalog.contains(&o.instance_type))
    );
    assert!(
        offers
            .iter()
            .any(|o| o.spot && o.gpu.is_some() && !catalog.contains(&o.instance_type)),
        "no spot-only GPU type"
    );
}

#[tokio::test]
async fn on_demand_and_spot_instances_are_created_tagged_and_adopted_by_token() {
    let moto = moto();
    let p = provider(&moto);
    let spot = request(
        "fleet/f/instance/0",
        "dstk-spot",
        offer(&p, "g5.xlarge", true).await,
    );
    let on_demand = request(
        "fleet/f/instance/1",
        "dstk-od",
        offer(&p, "g5.xlarge", false).await,
    );
    let a = p.create_instance(&spot).await.expect("spot create");
    let b = p
        .create_instance(&on_demand)
        .await
        .expect("on-demand create");
    assert_eq!(a.status, ResourceStatus::Running);
    assert_eq!(a.data["lifecycle"], "spot");
    assert_eq!(b.data["lifecycle"], "on-demand");
    let runner = a.runner.clone().expect("runner endpoint");
    assert!(
        runner.url.starts_with("http://") && runner.url.ends_with(":10999"),
        "{}",
        runner.url
    );
    assert_eq!(
        runner.token,
        dstack_provider_aws::userdata::runner_token("dstk-spot")
    );
    let described = ec2(&moto)
        .await
        .describe_instances()
        .instance_ids(&a.provider_id)
        .send()
        .await
        .expect("describe");
    let instance = &described.reservations()[0].instances()[0];
    assert_eq!(
        instance.instance_lifecycle(),
        Some(&InstanceLifecycleType::Spot)
    );
    assert_eq!(instance.key_name(), Some("dstack-test"));
    // EC2's own idempotency token is sent too (per intent and offer).
    assert!(
        instance
            .client_token()
            .is_some_and(|t| t.starts_with("dstack-") && t.len() <= 64),
        "{:?}",
        instance.client_token()
    );
    assert!(
        instance
            .tags()
            .iter()
            .any(|t| t.key() == Some("team") && t.value() == Some("ml")),
        "the backend's tags are on the instance"
    );
    assert_eq!(instance.security_groups().len(), 1);

    // moto ignores ClientToken: only the tag lookup stops a second instance.
    let again = p.create_instance(&spot).await.expect("create again");
    assert_eq!(again.provider_id, a.provider_id);
    let fresh = provider(&moto);
    let adopted = fresh
        .create_instance(&spot)
        .await
        .expect("adopt in a new process");
    assert_eq!(adopted.provider_id, a.provider_id);
    let tagged = tagged_instances(&moto, "dstack:address", "fleet/f/instance/0").await;
    assert_eq!(tagged.len(), 1, "{tagged:?}");
}

#[tokio::test]
async fn injected_capacity_errors_are_no_capacity_and_not_retried_by_the_sdk() {
    let moto = moto();
    let p = provider(&moto);
    moto.set_faults(&serde_json::json!([
        {"action": "RunInstances", "instance_type": "g5.xlarge", "market": "spot"},
        {"action": "RunInstances", "instance_type": "g5.2xlarge", "code": "VcpuLimitExceeded", "status": 400},
    ]))
    .expect("faults");
    let spot = request(
        "fleet/f/instance/0",
        "dstk-1",
        offer(&p, "g5.xlarge", true).await,
    );
    let err = p.create_instance(&spot).await.expect_err("no capacity");
    assert_eq!(err.kind, ErrorKind::NoCapacity, "{err}");
    let text = err.to_string();
    assert!(text.contains("InsufficientInstanceCapacity"), "{text}");
    assert!(
        text.contains("us-east-1") && text.contains("g5.xlarge"),
        "{text}"
    );
    let quota = request(
        "fleet/f/instance/1",
        "dstk-2",
        offer(&p, "g5.2xlarge", false).await,
    );
    let err = p.create_instance(&quota).await.expect_err("quota");
    assert_eq!(err.kind, ErrorKind::QuotaExceeded, "{err}");
    let fired = moto.faults().expect("faults")["fired"].clone();
    assert_eq!(
        fired,
        serde_json::json!([1, 1]),
        "the SDK retried a final error"
    );
    // The on-demand offer of the same type still works.
    let on_demand = request(
        "fleet/f/instance/0",
        "dstk-1",
        offer(&p, "g5.xlarge", false).await,
    );
    p.create_instance(&on_demand)
        .await
        .expect("on-demand create");
}

#[tokio::test]
async fn terminate_is_idempotent_and_waits_until_terminated() {
    let moto = moto();
    let p = provider(&moto);
    let req = request(
        "fleet/f/instance/0",
        "dstk-t",
        offer(&p, "m5.large", false).await,
    );
    let info = p.create_instance(&req).await.expect("create");
    p.delete_instance(&info.provider_id).await.expect("delete");
    p.delete_instance(&info.provider_id)
        .await
        .expect("delete again");
    p.delete_instance("i-0123456789abcdef0")
        .await
        .expect("unknown id is gone");
    let tagged = tagged_instances(&moto, "dstack:token", "dstk-t").await;
    assert_eq!(
        tagged,
        vec![(info.provider_id.clone(), "terminated".into())]
    );
    let got = p
        .get(ResourceKind::Instance, &info.provider_id)
        .await
        .expect("get");
    assert!(got.is_none_or(|r| r.status == ResourceStatus::Terminated));
}

#[tokio::test]
async fn volumes_are_created_attached_detached_grown_and_deleted() {
    let moto = moto();
    let p = provider(&moto);
    let instance = m5_large(&p, "fleet/f/instance/0", "dstk-i").await;
    let zone = instance.data["zone"].as_str().expect("zone").to_string();
    // A volume in another zone is refused with what to do.
    let elsewhere = p
        .create_volume(&VolumeRequest {
            address: "volume/far".parse().expect("address"),
            token: "dstk-far".into(),
            region: REGION.into(),
            availability_zone: Some("us-east-1c".into()),
            size: Memory::from_gb(1),
            tags: BTreeMap::new(),
        })
        .await
        .expect("volume elsewhere");
    assert_ne!(zone, "us-east-1c", "moto places instances in us-east-1a");
    let err = p
        .attach_volume(&elsewhere.provider_id, &instance.provider_id)
        .await
        .expect_err("zone mismatch");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("availability_zone"), "{err}");
    let address: ResourceAddr = "volume/data".parse().expect("address");
    let vreq = VolumeRequest {
        tags: ownership_tags("test", "lineage-1", &address, "dstk-v", &BTreeMap::new()),
        address,
        token: "dstk-v".into(),
        region: REGION.into(),
        availability_zone: Some(zone.clone()),
        size: Memory::from_mb(50 * 1024 + 1),
    };
    let v = p.create_volume(&vreq).await.expect("create volume");
    assert_eq!(v.data["size_gb"], 51, "rounded up to whole GiB");
    assert_eq!(v.data["availability_zone"], zone.as_str());
    assert_eq!(
        p.create_volume(&vreq).await.expect("again").provider_id,
        v.provider_id
    );
    let id = v.provider_id.clone();
    p.attach_volume(&id, &instance.provider_id)
        .await
        .expect("attach");
    p.attach_volume(&id, &instance.provider_id)
        .await
        .expect("attach again");
    let attached = p
        .get(ResourceKind::Volume, &id)
        .await
        .expect("get")
        .expect("volume");
    assert_eq!(attached.data["attached_to"], instance.provider_id.as_str());
    assert_eq!(attached.data["device"], "/dev/sdf");
    let err = p
        .delete_volume(&id)
        .await
        .expect_err("attached volumes are kept");
    assert!(err.to_string().contains("attached"), "{err}");
    p.detach_volume(&id, &instance.provider_id)
        .await
        .expect("detach");
    p.detach_volume(&id, &instance.provider_id)
        .await
        .expect("detach again");
    let grown = p
        .resize_volume(&id, Memory::from_gb(80))
        .await
        .expect("grow");
    assert_eq!(grown.data["size_gb"], 80);
    let err = p
        .resize_volume(&id, Memory::from_gb(10))
        .await
        .expect_err("shrink");
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    p.delete_volume(&id).await.expect("delete");
    p.delete_volume(&id).await.expect("delete again");
    assert!(
        p.get(ResourceKind::Volume, &id)
            .await
            .expect("get")
            .is_none()
    );
}

#[tokio::test]
async fn a_gateway_is_an_instance_with_an_elastic_ip_and_its_own_group_all_removed_on_delete() {
    let moto = moto();
    let p = provider(&moto);
    let address: ResourceAddr = "gateway/gw".parse().expect("address");
    let req = GatewayRequest {
        tags: ownership_tags("test", "lineage-1", &address, "dstk-gw", &BTreeMap::new()),
        address,
        token: "dstk-gw".into(),
        region: REGION.into(),
        instance_type: None,
        public_ip: true,
    };
    let gw = p.create_gateway(&req).await.expect("gateway");
    assert_eq!(gw.kind, ResourceKind::Gateway);
    assert_eq!(gw.data["instance_type"], "t3.medium");
    let ip = gw.data["ip"].as_str().expect("elastic ip").to_string();
    assert_eq!(
        p.create_gateway(&req).await.expect("again").data["ip"],
        ip.as_str()
    );
    let client = ec2(&moto).await;
    let addresses = client
        .describe_addresses()
        .filters(tag_filter("dstack:token", "dstk-gw"))
        .send()
        .await
        .expect("addresses");
    assert_eq!(addresses.addresses().len(), 1);
    assert_eq!(
        addresses.addresses()[0].instance_id(),
        Some(gw.provider_id.as_str())
    );
    let groups = client
        .describe_security_groups()
        .filters(tag_filter("dstack:token", "dstk-gw"))
        .send()
        .await
        .expect("groups");
    let ports: Vec<i32> = groups.security_groups()[0]
        .ip_permissions()
        .iter()
        .filter_map(|p| p.from_port())
        .collect();
    assert_eq!(ports, vec![22, 80, 443]);
    let owned = p.list_owned().await.expect("list");
    assert_eq!(
        owned.len(),
        1,
        "the address and group fold into the gateway: {owned:?}"
    );
    assert_eq!(owned[0].data["ip"], ip.as_str());

    p.delete_gateway(&gw.provider_id).await.expect("delete");
    p.delete_gateway(&gw.provider_id)
        .await
        .expect("delete again");
    assert!(p.list_owned().await.expect("list").is_empty());
    let left = client
        .describe_addresses()
        .filters(tag_filter("dstack:token", "dstk-gw"))
        .send()
        .await
        .expect("addresses");
    assert!(left.addresses().is_empty());
}

#[tokio::test]
async fn the_sweep_reports_stopped_and_retyped_instances_and_leaked_gateway_parts() {
    let moto = moto();
    let p = provider(&moto);
    let a = m5_large(&p, "fleet/f/instance/0", "dstk-a").await;
    let b = m5_large(&p, "fleet/f/instance/1", "dstk-b").await;
    let client = ec2(&moto).await;
    client
        .stop_instances()
        .instance_ids(&a.provider_id)
        .send()
        .await
        .expect("stop");
    client
        .modify_instance_attribute()
        .instance_id(&b.provider_id)
        .instance_type(
            aws_sdk_ec2::types::AttributeValue::builder()
                .value("m5.xlarge")
                .build(),
        )
        .send()
        .await
        .expect("retype");
    // A gateway address whose instance is gone.
    let address: ResourceAddr = "gateway/gw".parse().expect("address");
    let mut tags = ownership_tags("test", "lineage-1", &address, "dstk-leak", &BTreeMap::new());
    tags.insert("dstack:role".into(), "gateway".into());
    client
        .allocate_address()
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::ElasticIp)
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .build(),
        )
        .send()
        .await
        .expect("allocate");

    let owned = p.list_owned().await.expect("list");
    let by_id: BTreeMap<&str, _> = owned.iter().map(|r| (r.provider_id.as_str(), r)).collect();
    assert_eq!(
        by_id[a.provider_id.as_str()].status,
        ResourceStatus::Stopped
    );
    let retyped = by_id[b.provider_id.as_str()];
    assert_eq!(
        retyped.offer.as_ref().map(|o| o.instance_type.as_str()),
        Some("m5.xlarge")
    );
    assert_eq!(
        retyped.price.map(|p| p.to_string()),
        Some("$0.192/h".into())
    );
    let leak = owned
        .iter()
        .find(|r| r.provider_id.starts_with("eipalloc-"))
        .expect("leaked address listed");
    assert_eq!(leak.kind, ResourceKind::Gateway);
    assert_eq!(leak.price.map(|p| p.to_string()), Some("$0.005/h".into()));
    p.delete_gateway(&leak.provider_id).await.expect("release");
    let state = client
        .describe_instances()
        .instance_ids(&a.provider_id)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        state.reservations()[0].instances()[0]
            .state()
            .and_then(|s| s.name()),
        Some(&InstanceStateName::Stopped)
    );
    assert_eq!(p.list_owned().await.expect("list").len(), 2);
}

#[tokio::test]
async fn the_provider_passes_the_conformance_suite_on_moto() {
    let moto = moto();
    let p = provider(&moto);
    let scope = Scope {
        offer: offer(&p, "g5.xlarge", true).await,
        volume_region: Some(REGION.into()),
        lineage: "conformance-lineage".into(),
    };
    conformance(&p, &scope).await;
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_as_transient_without_hanging() {
    let config = AwsConfig {
        regions: vec![REGION.into()],
        // Port 9 (discard) on loopback: nothing listens there.
        endpoint_url: Some("http://127.0.0.1:9".into()),
        ..AwsConfig::default()
    };
    let p = AwsProvider::new(config, "test")
        .expect("config")
        .with_static_credentials(ACCESS_KEY, SECRET_KEY);
    let err = p.offers().await.expect_err("nothing listens");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("DescribeInstanceTypes"), "{err}");
}

#[tokio::test]
async fn offers_come_from_every_configured_region_and_only_those() {
    let moto = moto();
    let config = AwsConfig {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        endpoint_url: Some(moto.endpoint().into()),
        ..AwsConfig::default()
    };
    let p = AwsProvider::new(config, "test")
        .expect("config")
        .with_static_credentials(ACCESS_KEY, SECRET_KEY);
    let offers = p.offers().await.expect("offers");
    let regions: std::collections::BTreeSet<&str> =
        offers.iter().map(|o| o.region.as_str()).collect();
    assert_eq!(regions, ["eu-west-1", "us-east-1"].into_iter().collect());
    let eu = offers
        .iter()
        .find(|o| o.region == "eu-west-1" && o.instance_type == "g5.xlarge" && !o.spot)
        .expect("g5.xlarge in eu-west-1");
    assert_eq!(
        eu.price.to_string(),
        "$1.1267/h",
        "the region's catalog price"
    );
}

#[tokio::test]
async fn an_endpoint_that_never_answers_times_out_within_the_limits() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let config = AwsConfig {
        regions: vec![REGION.into()],
        endpoint_url: Some(endpoint),
        ..AwsConfig::default()
    };
    let limits = Limits {
        max_attempts: 2,
        initial_backoff: std::time::Duration::from_millis(10),
        connect_timeout: std::time::Duration::from_secs(1),
        attempt_timeout: std::time::Duration::from_secs(1),
        operation_timeout: std::time::Duration::from_secs(3),
    };
    let p = AwsProvider::new(config, "test")
        .expect("config")
        .with_static_credentials(ACCESS_KEY, SECRET_KEY)
        .with_limits(limits);
    let err = p.offers().await.expect_err("no answer");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(err.to_string().contains("did not answer in time"), "{err}");
    drop(listener);
}

#[tokio::test]
async fn with_a_subnet_instances_and_default_volumes_share_its_zone_and_attach() {
    let moto = moto();
    let subnets = ec2(&moto)
        .await
        .describe_subnets()
        .send()
        .await
        .expect("subnets");
    let subnet = subnets
        .subnets()
        .iter()
        .find(|s| s.availability_zone() == Some("us-east-1b"))
        .expect("a default subnet in us-east-1b");
    let config = AwsConfig {
        subnet_id: subnet.subnet_id().map(str::to_string),
        ..config(&moto)
    };
    let p = AwsProvider::new(config, "test")
        .expect("config")
        .with_static_credentials(ACCESS_KEY, SECRET_KEY);
    let instance = m5_large(&p, "fleet/f/instance/0", "dstk-i").await;
    assert_eq!(instance.data["zone"], "us-east-1b");
    assert_eq!(
        instance.data["subnet_id"],
        subnet.subnet_id().unwrap_or("?")
    );
    let address: ResourceAddr = "volume/data".parse().expect("address");
    let volume = p
        .create_volume(&VolumeRequest {
            tags: ownership_tags("test", "lineage-1", &address, "dstk-v", &BTreeMap::new()),
            address,
            token: "dstk-v".into(),
            region: REGION.into(),
            availability_zone: None,
            size: Memory::from_gb(10),
        })
        .await
        .expect("volume");
    assert_eq!(volume.data["availability_zone"], "us-east-1b");
    p.attach_volume(&volume.provider_id, &instance.provider_id)
        .await
        .expect("attach in the same zone");
}
