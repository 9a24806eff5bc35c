//! Offers (something for sale: a machine shape in a backend and region at a
//! price) and the versioned offline catalog they come from.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::grammar::{CpuArch, GpuVendor, Memory};
use crate::money::{HourlyRate, Usd};

/// The GPUs of an offer (one model per machine).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct OfferGpu {
    /// Vendor.
    #[serde(with = "vendor_serde")]
    #[schemars(with = "String")]
    pub vendor: GpuVendor,
    /// Model name, e.g. `A10G`.
    pub name: String,
    /// Memory per GPU (GB).
    #[serde(with = "memory_gb")]
    #[schemars(with = "f64")]
    pub memory: Memory,
    /// Number of GPUs.
    pub count: u32,
}

/// Whether an offer can be had now.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Availability {
    /// Probably available (no signal otherwise).
    #[default]
    Available,
    /// An existing instance of ours, idle.
    Idle,
    /// An existing instance of ours, in use.
    Busy,
    /// The account has no quota for it.
    NoQuota,
    /// The backend says it is not available.
    NotAvailable,
}

/// A machine shape for sale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Offer {
    /// Backend (`aws`, `local`, ...).
    pub backend: String,
    /// Region.
    pub region: String,
    /// Availability zone, when the backend pins one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    /// Instance type name.
    pub instance_type: String,
    /// vCPUs.
    pub cpus: u32,
    /// CPU architecture.
    #[serde(with = "arch_serde")]
    #[schemars(with = "String")]
    pub cpu_arch: CpuArch,
    /// Memory (GB).
    #[serde(with = "memory_gb")]
    #[schemars(with = "f64")]
    pub memory: Memory,
    /// Fixed disk size, or `None` when the disk is chosen at creation.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_memory_gb"
    )]
    #[schemars(with = "Option<f64>")]
    pub disk: Option<Memory>,
    /// GPUs, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<OfferGpu>,
    /// Spot (interruptible) capacity.
    pub spot: bool,
    /// Price per hour.
    pub price: HourlyRate,
    /// Availability.
    #[serde(default)]
    pub availability: Availability,
}

impl Offer {
    /// A stable key: backend/region/instance type/spot.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}{}",
            self.backend,
            self.region,
            self.instance_type,
            if self.spot { "/spot" } else { "" }
        )
    }

    /// `cpu=8 mem=32GB disk=100GB gpu=A10G:24GB:1 (spot)` (spec §3.3).
    pub fn resources(&self) -> String {
        let mut parts = vec![format!("cpu={}", self.cpus), format!("mem={}", self.memory)];
        if let Some(disk) = self.disk {
            parts.push(format!("disk={disk}"));
        }
        if let Some(gpu) = &self.gpu {
            parts.push(format!("gpu={}:{}:{}", gpu.name, gpu.memory, gpu.count));
        }
        if self.spot {
            parts.push("(spot)".into());
        }
        parts.join(" ")
    }
}

impl fmt::Display for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) {} {} {}",
            self.backend,
            self.region,
            self.instance_type,
            self.resources(),
            self.price
        )
    }
}

/// One row of the catalog: a machine shape with its prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogItem {
    /// Backend.
    pub backend: String,
    /// Regions with these prices.
    pub regions: Vec<String>,
    /// Instance type.
    pub instance_type: String,
    /// vCPUs.
    pub cpus: u32,
    /// `x86` or `arm` (default x86).
    #[serde(default = "default_arch", with = "arch_serde")]
    pub cpu_arch: CpuArch,
    /// Memory in GB.
    pub memory_gb: f64,
    /// GPUs.
    #[serde(default)]
    pub gpu: Option<CatalogGpu>,
    /// Fixed disk (GB), if not configurable.
    #[serde(default)]
    pub disk_gb: Option<f64>,
    /// On-demand $/h.
    pub on_demand: Option<f64>,
    /// Typical spot $/h.
    #[serde(default)]
    pub spot: Option<f64>,
}

fn default_arch() -> CpuArch {
    CpuArch::X86
}

/// GPUs of a catalog row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogGpu {
    /// Vendor.
    #[serde(with = "vendor_serde")]
    pub vendor: GpuVendor,
    /// Model.
    pub name: String,
    /// Memory per GPU, GB.
    pub memory_gb: f64,
    /// Count.
    pub count: u32,
}

/// Per-backend prices of things that are not machines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendPrices {
    /// Backend.
    pub backend: String,
    /// Block storage, $ per GB-month.
    pub volume_gb_month: f64,
    /// Gateway instance type.
    pub gateway_instance_type: String,
    /// Gateway extras per hour (elastic IP, ...).
    pub gateway_extra_hourly: f64,
}

/// A versioned, offline offer catalog shipped with dstack-rs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Version (a date), recorded in plans.
    pub catalog_version: String,
    /// Where the prices come from.
    pub sources: Vec<String>,
    /// Machine shapes.
    pub items: Vec<CatalogItem>,
    /// Other prices per backend.
    #[serde(default)]
    pub backends: Vec<BackendPrices>,
}

/// Hours in a month, for converting monthly prices (as Infracost does).
pub const HOURS_PER_MONTH: f64 = 730.0;

impl Catalog {
    /// Parses catalog JSON.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Every offer of `backend` (on-demand and spot), one per region.
    pub fn offers(&self, backend: &str) -> Vec<Offer> {
        let mut out = Vec::new();
        for item in self.items.iter().filter(|i| i.backend == backend) {
            for region in &item.regions {
                for (spot, price) in [(false, item.on_demand), (true, item.spot)] {
                    let Some(price) = price.and_then(Usd::from_dollars_f64) else {
                        continue;
                    };
                    out.push(Offer {
                        backend: backend.to_string(),
                        region: region.clone(),
                        availability_zone: None,
                        instance_type: item.instance_type.clone(),
                        cpus: item.cpus,
                        cpu_arch: item.cpu_arch,
                        memory: Memory::from_mb((item.memory_gb * 1024.0).round() as u64),
                        disk: item
                            .disk_gb
                            .map(|gb| Memory::from_mb((gb * 1024.0).round() as u64)),
                        gpu: item.gpu.as_ref().map(|g| OfferGpu {
                            vendor: g.vendor,
                            name: g.name.clone(),
                            memory: Memory::from_mb((g.memory_gb * 1024.0).round() as u64),
                            count: g.count,
                        }),
                        spot,
                        price: HourlyRate(price),
                        availability: Availability::Available,
                    });
                }
            }
        }
        out
    }

    /// Non-machine prices of `backend`.
    pub fn backend_prices(&self, backend: &str) -> Option<&BackendPrices> {
        self.backends.iter().find(|b| b.backend == backend)
    }
}

mod memory_gb {
    use super::Memory;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &Memory, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(m.gb())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Memory, D::Error> {
        let gb = f64::deserialize(d)?;
        Memory::from_gb_f64(gb).map_err(serde::de::Error::custom)
    }
}

mod opt_memory_gb {
    use super::Memory;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &Option<Memory>, s: S) -> Result<S::Ok, S::Error> {
        match m {
            Some(m) => s.serialize_some(&m.gb()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Memory>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|gb| Memory::from_gb_f64(gb).map_err(serde::de::Error::custom))
            .transpose()
    }
}

mod arch_serde {
    use crate::grammar::CpuArch;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &CpuArch, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(a)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CpuArch, D::Error> {
        let text = String::deserialize(d)?;
        CpuArch::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown CPU architecture `{text}`")))
    }
}

mod vendor_serde {
    use crate::grammar::GpuVendor;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &GpuVendor, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<GpuVendor, D::Error> {
        let text = String::deserialize(d)?;
        GpuVendor::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown GPU vendor `{text}`")))
    }
}
