//! Offers: machine shapes from `DescribeInstanceTypes` (vCPUs, memory,
//! architecture, GPUs) joined with the shipped catalog's on-demand prices and
//! live spot prices from `DescribeSpotPriceHistory`, per configured region.
//!
//! Pricing rules (documented in the crate README):
//! - an on-demand offer exists when the catalog prices the type in that
//!   region (EC2 has no price API; the catalog is the price list);
//! - a spot offer exists when EC2 reports a current Linux/UNIX spot price;
//!   its price is the highest across the region's zones, because EC2 picks
//!   the zone and a plan must not under-state spend;
//! - types with neither price are skipped, and GPU types the catalog does
//!   not know are offered on spot only;
//! - only GPU families (`g*`, `p*`) and the catalog's types are described.
//!
//! GPU memory is the catalog's for models it knows (the marketed size, e.g.
//! A10G 24GB, whatever the instance type), else what EC2 reports (A10G:
//! 22888 MiB), so `gpu: A10G:24GB` matches every A10G type.

use std::collections::BTreeMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{ArchitectureType, Filter, InstanceTypeInfo, UsageClassType};
use dstack_provider::ProviderError;
use dstack_schemas::grammar::{CpuArch, GpuVendor, Memory};
use dstack_schemas::money::{HourlyRate, Usd};
use dstack_schemas::offer::{Availability, Catalog, CatalogItem, Offer, OfferGpu};

use crate::error::{BACKEND, from_sdk};

/// GPUs of an instance type as EC2 describes them.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeGpu {
    /// Vendor.
    pub vendor: GpuVendor,
    /// Model, e.g. `A10G`.
    pub name: String,
    /// Count.
    pub count: u32,
    /// Memory per GPU, MiB.
    pub memory_mib: u64,
}

/// An instance type as EC2 describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Instance type name.
    pub instance_type: String,
    /// Default vCPUs.
    pub cpus: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Architecture.
    pub arch: CpuArch,
    /// GPUs.
    pub gpu: Option<ShapeGpu>,
    /// Sold as spot.
    pub spot_capable: bool,
}

/// Instance type patterns worth describing: every GPU family (`g*`, `p*`)
/// and each type the catalog prices. Asking for all ~900 types of a region
/// would be slower and add only types that get no offer.
pub fn type_patterns(catalog: &Catalog) -> Vec<String> {
    let mut out: Vec<String> = GPU_FAMILIES.iter().map(|f| f.to_string()).collect();
    for item in catalog.items.iter().filter(|i| i.backend == BACKEND) {
        if !out.contains(&item.instance_type) {
            out.push(item.instance_type.clone());
        }
    }
    out
}

/// EC2's GPU instance families (every `g` and `p` type).
const GPU_FAMILIES: &[&str] = &["g*", "p*"];

/// The instance types of the region matching `patterns` (all pages).
pub async fn fetch_shapes(
    client: &Client,
    patterns: &[String],
) -> Result<Vec<Shape>, ProviderError> {
    let pages = client
        .describe_instance_types()
        .filters(filter("instance-type", patterns.iter().cloned()))
        .max_results(100)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| from_sdk("DescribeInstanceTypes", e))?;
    Ok(pages
        .iter()
        .flat_map(|page| page.instance_types())
        .filter_map(shape_of)
        .collect())
}

fn shape_of(info: &InstanceTypeInfo) -> Option<Shape> {
    let instance_type = info.instance_type()?.as_str().to_string();
    let cpus = u32::try_from(info.v_cpu_info()?.default_v_cpus()?).ok()?;
    let memory_mib = u64::try_from(info.memory_info()?.size_in_mib()?).ok()?;
    let archs = info
        .processor_info()
        .map(|p| p.supported_architectures())
        .unwrap_or_default();
    let arch = if archs.contains(&ArchitectureType::X8664) || archs.is_empty() {
        CpuArch::X86
    } else if archs.contains(&ArchitectureType::Arm64) {
        CpuArch::Arm
    } else {
        return None;
    };
    let gpu = match info.gpu_info().map(|g| g.gpus()).unwrap_or_default() {
        [] => None,
        [first, ..] => Some(ShapeGpu {
            vendor: vendor_of(first.manufacturer()?)?,
            name: first.name()?.to_string(),
            count: u32::try_from(first.count()?).ok()?,
            memory_mib: u64::try_from(first.memory_info()?.size_in_mib()?).ok()?,
        }),
    };
    Some(Shape {
        instance_type,
        cpus,
        memory_mib,
        arch,
        gpu,
        spot_capable: info
            .supported_usage_classes()
            .contains(&UsageClassType::Spot),
    })
}

fn vendor_of(manufacturer: &str) -> Option<GpuVendor> {
    match manufacturer.to_ascii_lowercase().as_str() {
        "nvidia" => Some(GpuVendor::Nvidia),
        "amd" => Some(GpuVendor::Amd),
        "habana" | "intel" => Some(GpuVendor::Intel),
        _ => None,
    }
}

/// Types worth a spot price lookup: what the catalog knows plus GPU types.
pub fn spot_candidates(shapes: &[Shape], catalog: &Catalog, region: &str) -> Vec<String> {
    let priced = catalog_rows(catalog, region);
    shapes
        .iter()
        .filter(|s| s.spot_capable && (priced.contains_key(&s.instance_type) || s.gpu.is_some()))
        .map(|s| s.instance_type.clone())
        .collect()
}

/// The current Linux/UNIX spot price of each type: the highest across zones
/// of each zone's newest price.
pub async fn fetch_spot_prices(
    client: &Client,
    types: &[String],
) -> Result<BTreeMap<String, Usd>, ProviderError> {
    let mut newest: BTreeMap<(String, String), (i64, Usd)> = BTreeMap::new();
    for chunk in types.chunks(100) {
        let pages = client
            .describe_spot_price_history()
            .filters(filter("instance-type", chunk.iter().cloned()))
            .product_descriptions("Linux/UNIX")
            .product_descriptions("Linux/UNIX (Amazon VPC)")
            .start_time(aws_sdk_ec2::primitives::DateTime::from(
                std::time::SystemTime::now(),
            ))
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| from_sdk("DescribeSpotPriceHistory", e))?;
        for price in pages.iter().flat_map(|p| p.spot_price_history()) {
            let linux = price
                .product_description()
                .is_some_and(|d| d.as_str().starts_with("Linux/UNIX"));
            let (Some(t), Some(zone), Some(usd), true) = (
                price.instance_type(),
                price.availability_zone(),
                price
                    .spot_price()
                    .and_then(|p| p.parse::<f64>().ok())
                    .and_then(Usd::from_dollars_f64),
                linux,
            ) else {
                continue;
            };
            let at = price.timestamp().map_or(0, |t| t.secs());
            let key = (t.as_str().to_string(), zone.to_string());
            if newest.get(&key).is_none_or(|(seen, _)| at >= *seen) {
                newest.insert(key, (at, usd));
            }
        }
    }
    let mut out: BTreeMap<String, Usd> = BTreeMap::new();
    for ((instance_type, _zone), (_, usd)) in newest {
        let entry = out.entry(instance_type).or_insert(usd);
        *entry = (*entry).max(usd);
    }
    Ok(out)
}

/// An EC2 filter.
pub fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().collect()))
        .build()
}

fn catalog_rows<'c>(catalog: &'c Catalog, region: &str) -> BTreeMap<String, &'c CatalogItem> {
    catalog
        .items
        .iter()
        .filter(|i| i.backend == BACKEND && i.regions.iter().any(|r| r == region))
        .map(|i| (i.instance_type.clone(), i))
        .collect()
}

/// The offers of one region (pure: shapes, catalog and spot prices in).
pub fn build_offers(
    region: &str,
    shapes: &[Shape],
    catalog: &Catalog,
    spot: &BTreeMap<String, Usd>,
) -> Vec<Offer> {
    let rows = catalog_rows(catalog, region);
    let mut out = Vec::new();
    for shape in shapes {
        let row = rows.get(&shape.instance_type).copied();
        let on_demand = row
            .and_then(|r| r.on_demand)
            .and_then(Usd::from_dollars_f64);
        let spot_price = spot
            .get(&shape.instance_type)
            .copied()
            .filter(|_| shape.spot_capable);
        if row.is_none() && shape.gpu.is_none() {
            continue;
        }
        for (is_spot, price) in [(false, on_demand), (true, spot_price)] {
            if let Some(price) = price {
                out.push(offer(region, shape, catalog, is_spot, price));
            }
        }
    }
    out
}

fn offer(region: &str, shape: &Shape, catalog: &Catalog, spot: bool, price: Usd) -> Offer {
    Offer {
        backend: BACKEND.into(),
        region: region.into(),
        availability_zone: None,
        instance_type: shape.instance_type.clone(),
        cpus: shape.cpus,
        cpu_arch: shape.arch,
        memory: Memory::from_mb(shape.memory_mib),
        disk: None,
        gpu: shape.gpu.as_ref().map(|g| offer_gpu(g, catalog)),
        spot,
        price: HourlyRate(price),
        availability: Availability::Available,
    }
}

fn offer_gpu(gpu: &ShapeGpu, catalog: &Catalog) -> OfferGpu {
    let marketed = catalog
        .items
        .iter()
        .filter_map(|i| i.gpu.as_ref())
        .find(|g| g.name.eq_ignore_ascii_case(&gpu.name))
        .map(|g| Memory::from_mb((g.memory_gb * 1024.0).round() as u64));
    OfferGpu {
        vendor: gpu.vendor,
        name: gpu.name.clone(),
        memory: marketed.unwrap_or(Memory::from_mb(gpu.memory_mib)),
        count: gpu.count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(t: &str, gpu: Option<(&str, u32, u64)>) -> Shape {
        Shape {
            instance_type: t.into(),
            cpus: 4,
            memory_mib: 16384,
            arch: CpuArch::X86,
            gpu: gpu.map(|(name, count, memory_mib)| ShapeGpu {
                vendor: GpuVendor::Nvidia,
                name: name.into(),
                count,
                memory_mib,
            }),
            spot_capable: true,
        }
    }

    fn check(shapes: &[Shape], spot: &[(&str, f64)], expected: &[&str]) {
        let catalog = dstack_provider::catalog::shipped();
        let spot = spot
            .iter()
            .map(|(t, p)| (t.to_string(), Usd::from_dollars_f64(*p).expect("price")))
            .collect();
        let offers = build_offers("us-east-1", shapes, &catalog, &spot);
        let got: Vec<String> = offers
            .iter()
            .map(|o| format!("{} {}", o.key(), o.price))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn catalog_types_get_on_demand_and_live_spot_prices() {
        check(
            &[shape("g5.xlarge", Some(("A10G", 1, 22888)))],
            &[("g5.xlarge", 0.31)],
            &[
                "aws/us-east-1/g5.xlarge $1.006/h",
                "aws/us-east-1/g5.xlarge/spot $0.31/h",
            ],
        );
    }

    #[test]
    fn unknown_types_without_gpus_are_skipped_and_unknown_gpus_are_spot_only() {
        check(
            &[
                shape("x9.huge", None),
                shape("g9.xlarge", Some(("Z100", 1, 40960))),
            ],
            &[("x9.huge", 0.1), ("g9.xlarge", 0.5)],
            &["aws/us-east-1/g9.xlarge/spot $0.5/h"],
        );
    }

    #[test]
    fn no_spot_price_means_no_spot_offer_and_gpu_memory_is_the_marketed_one() {
        let catalog = dstack_provider::catalog::shipped();
        let offers = build_offers(
            "us-east-1",
            &[shape("g5.xlarge", Some(("A10G", 1, 22888)))],
            &catalog,
            &BTreeMap::new(),
        );
        assert_eq!(offers.len(), 1);
        assert!(!offers[0].spot);
        let gpu = offers[0].gpu.as_ref().expect("gpu");
        assert_eq!(gpu.memory, Memory::from_gb(24));
        let other = build_offers(
            "us-east-1",
            &[shape("g5.16xlarge", Some(("A10G", 1, 22888)))],
            &catalog,
            &BTreeMap::from([("g5.16xlarge".to_string(), Usd::from_micros(10))]),
        );
        let gpu = other[0].gpu.as_ref().expect("gpu");
        assert_eq!(
            gpu.memory,
            Memory::from_gb(24),
            "the model's, not the type's"
        );
    }

    #[test]
    fn described_types_are_gpu_families_and_catalog_types() {
        let patterns = type_patterns(&dstack_provider::catalog::shipped());
        assert_eq!(&patterns[..2], ["g*", "p*"]);
        assert!(patterns.contains(&"m5.large".to_string()));
        assert_eq!(
            patterns.iter().filter(|p| *p == "g5.xlarge").count(),
            1,
            "no duplicates"
        );
    }

    #[test]
    fn spot_candidates_are_catalog_and_gpu_types() {
        let catalog = dstack_provider::catalog::shipped();
        let shapes = [
            shape("m5.large", None),
            shape("x9.huge", None),
            shape("g9.xlarge", Some(("Z100", 1, 1))),
        ];
        assert_eq!(
            spot_candidates(&shapes, &catalog, "us-east-1"),
            vec!["m5.large".to_string(), "g9.xlarge".to_string()]
        );
    }
}
