//! What a job or a fleet instance needs from a machine, and whether an offer
//! (or an existing instance's offer) satisfies it, with the reason when not.

use std::fmt;

use dstack_schemas::config::enums::SpotPolicy;
use dstack_schemas::config::profile::ProfileParams;
use dstack_schemas::config::resources::Resources;
use dstack_schemas::grammar::{CpuSpec, GpuSpec, Memory, Range};
use dstack_schemas::money::Usd;
use dstack_schemas::offer::Offer;

/// Machine requirements plus where and how to buy.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirements {
    /// CPUs.
    pub cpu: CpuSpec,
    /// Memory.
    pub memory: Range<Memory>,
    /// GPUs.
    pub gpu: GpuSpec,
    /// Disk (none: no constraint).
    pub disk: Option<Range<Memory>>,
    /// `Some(true)` spot only, `Some(false)` on-demand only, `None` either.
    pub spot: Option<bool>,
    /// Highest price per hour.
    pub max_price: Option<Usd>,
    /// Allowed backends.
    pub backends: Option<Vec<String>>,
    /// Allowed regions (case-insensitive).
    pub regions: Option<Vec<String>>,
    /// Allowed instance types (case-insensitive).
    pub instance_types: Option<Vec<String>>,
}

impl Requirements {
    /// From (normalised) resources and profile.
    pub fn from_config(resources: &Resources, profile: &ProfileParams) -> Self {
        Self {
            cpu: resources.cpu.unwrap_or_default(),
            memory: resources
                .memory
                .unwrap_or(Range::at_least(Memory::from_gb(0))),
            gpu: resources.gpu.clone().unwrap_or_default(),
            disk: resources.disk.map(|d| d.size),
            spot: match profile.spot_policy.unwrap_or(SpotPolicy::OnDemand) {
                SpotPolicy::Spot => Some(true),
                SpotPolicy::OnDemand => Some(false),
                SpotPolicy::Auto => None,
            },
            max_price: profile.max_price,
            backends: profile
                .backends
                .as_ref()
                .map(|b| b.iter().map(|b| b.to_string()).collect()),
            regions: profile.regions.clone(),
            instance_types: profile.instance_types.clone(),
        }
    }

    /// Both sets of requirements at once (a run on a fleet's instance).
    pub fn and(&self, other: &Requirements) -> Requirements {
        let mut out = self.clone();
        out.spot = self.spot.or(other.spot);
        out.max_price = match (self.max_price, other.max_price) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        out.backends = intersect_lists(&self.backends, &other.backends);
        out.regions = intersect_lists(&self.regions, &other.regions);
        out.instance_types = intersect_lists(&self.instance_types, &other.instance_types);
        out
    }

    /// `Ok` when the offer satisfies every requirement, else why not.
    pub fn check(&self, offer: &Offer) -> Result<(), Mismatch> {
        self.check_machine(offer)?;
        self.check_purchase(offer)
    }

    /// Only the machine shape (CPU, memory, GPU, disk).
    pub fn check_machine(&self, offer: &Offer) -> Result<(), Mismatch> {
        if let Some(arch) = self.cpu.arch
            && arch != offer.cpu_arch
        {
            return Err(Mismatch::new(
                "cpu",
                format!("{} CPU, need {arch}", offer.cpu_arch),
            ));
        }
        if !self.cpu.count.contains(offer.cpus) {
            return Err(Mismatch::new(
                "cpu",
                format!("{} CPUs, need {}", offer.cpus, self.cpu.count),
            ));
        }
        if !self.memory.contains(offer.memory) {
            return Err(Mismatch::new(
                "memory",
                format!("{} memory, need {}", offer.memory, self.memory),
            ));
        }
        check_gpu(&self.gpu, offer)?;
        if let (Some(disk), Some(offer_disk)) = (&self.disk, offer.disk)
            && !disk.contains(offer_disk)
        {
            return Err(Mismatch::new(
                "disk",
                format!("{offer_disk} disk, need {disk}"),
            ));
        }
        Ok(())
    }

    /// Only where and how to buy (backend, region, type, spot, price).
    pub fn check_purchase(&self, offer: &Offer) -> Result<(), Mismatch> {
        if let Some(backends) = &self.backends
            && !backends.iter().any(|b| b == &offer.backend)
        {
            return Err(Mismatch::new(
                "backends",
                format!("backend {} not in {}", offer.backend, backends.join(", ")),
            ));
        }
        if let Some(regions) = &self.regions
            && !regions
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&offer.region))
        {
            return Err(Mismatch::new(
                "regions",
                format!("region {} not in {}", offer.region, regions.join(", ")),
            ));
        }
        if let Some(types) = &self.instance_types
            && !types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&offer.instance_type))
        {
            return Err(Mismatch::new(
                "instance_types",
                format!("{} not in {}", offer.instance_type, types.join(", ")),
            ));
        }
        if let Some(spot) = self.spot
            && spot != offer.spot
        {
            let what = if offer.spot { "spot" } else { "on-demand" };
            return Err(Mismatch::new(
                "spot_policy",
                format!("{what}, need {}", if spot { "spot" } else { "on-demand" }),
            ));
        }
        if let Some(max) = self.max_price
            && offer.price.0 > max
        {
            return Err(Mismatch::new(
                "max_price",
                format!("{} is above max_price {}", offer.price, max.short()),
            ));
        }
        Ok(())
    }

    /// `cpu=2.. mem=8GB.. disk=100GB.. gpu=nvidia:0..` (spec §3.2 rendering).
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("cpu={}", self.cpu), format!("mem={}", self.memory)];
        if let Some(disk) = &self.disk {
            parts.push(format!("disk={disk}"));
        }
        parts.push(format!("gpu={}", self.gpu));
        parts.join(" ")
    }
}

fn intersect_lists(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> Option<Vec<String>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(
            a.iter()
                .filter(|x| b.iter().any(|y| y.eq_ignore_ascii_case(x)))
                .cloned()
                .collect(),
        ),
        (a, b) => a.clone().or_else(|| b.clone()),
    }
}

fn check_gpu(gpu: &GpuSpec, offer: &Offer) -> Result<(), Mismatch> {
    let count = offer.gpu.as_ref().map_or(0, |g| g.count);
    if !gpu.count.contains(count) {
        let have = offer
            .gpu
            .as_ref()
            .map_or("no GPU".to_string(), |g| format!("{}x {}", g.count, g.name));
        return Err(Mismatch::new(
            "gpu",
            format!("{have}, need {} GPU(s)", gpu.count),
        ));
    }
    let Some(offered) = &offer.gpu else {
        // A GPU-less machine satisfies any spec that allows zero GPUs.
        return Ok(());
    };
    if let Some(vendor) = gpu.vendor
        && vendor != offered.vendor
    {
        return Err(Mismatch::new(
            "gpu",
            format!("{} GPU, need {vendor}", offered.vendor),
        ));
    }
    if !gpu.names.is_empty()
        && !gpu
            .names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&offered.name))
    {
        return Err(Mismatch::new(
            "gpu",
            format!("{}, need {}", offered.name, gpu.names.join(" or ")),
        ));
    }
    if let Some(memory) = &gpu.memory
        && !memory.contains(offered.memory)
    {
        return Err(Mismatch::new(
            "gpu",
            format!(
                "{} has {} per GPU, need {memory}",
                offered.name, offered.memory
            ),
        ));
    }
    if let Some(total) = &gpu.total_memory {
        let sum = Memory::from_mb(offered.memory.mb() * u64::from(offered.count));
        if !total.contains(sum) {
            return Err(Mismatch::new(
                "gpu",
                format!("{sum} GPU memory in total, need {total}"),
            ));
        }
    }
    Ok(())
}

/// Why an offer does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The requirement not met (`gpu`, `memory`, `max_price`, ...).
    pub field: &'static str,
    /// What the offer has against what is needed.
    pub detail: String,
}

impl Mismatch {
    fn new(field: &'static str, detail: String) -> Self {
        Self { field, detail }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dstack_schemas::grammar::{CpuArch, GpuVendor};
    use dstack_schemas::money::HourlyRate;
    use dstack_schemas::offer::{Availability, OfferGpu};

    fn offer(gpu: Option<(&str, u64, u32)>, spot: bool, price: f64) -> Offer {
        Offer {
            backend: "aws".into(),
            region: "us-east-1".into(),
            availability_zone: None,
            instance_type: "x".into(),
            cpus: 8,
            cpu_arch: CpuArch::X86,
            memory: Memory::from_gb(32),
            disk: None,
            gpu: gpu.map(|(name, mem, count)| OfferGpu {
                vendor: GpuVendor::Nvidia,
                name: name.into(),
                memory: Memory::from_gb(mem),
                count,
            }),
            spot,
            price: HourlyRate(Usd::from_dollars_f64(price).unwrap_or_default()),
            availability: Availability::Available,
        }
    }

    fn req(gpu: &str) -> Requirements {
        Requirements {
            cpu: "2..".parse().unwrap(),
            memory: Range::at_least(Memory::from_gb(8)),
            gpu: gpu.parse().unwrap(),
            disk: None,
            spot: Some(false),
            max_price: None,
            backends: None,
            regions: None,
            instance_types: None,
        }
    }

    #[test]
    fn gpu_matching() {
        assert!(
            req("A10G:1")
                .check(&offer(Some(("A10G", 24, 1)), false, 1.0))
                .is_ok()
        );
        assert!(
            req("a10g")
                .check(&offer(Some(("A10G", 24, 1)), false, 1.0))
                .is_ok(),
            "names are case-insensitive"
        );
        assert_eq!(
            req("A100")
                .check(&offer(Some(("A10G", 24, 1)), false, 1.0))
                .unwrap_err()
                .field,
            "gpu"
        );
        assert!(
            req("24GB..")
                .check(&offer(Some(("A10G", 24, 1)), false, 1.0))
                .is_ok()
        );
        assert!(
            req("0..").check(&offer(None, false, 1.0)).is_ok(),
            "zero GPUs allowed"
        );
        assert!(req("1..").check(&offer(None, false, 1.0)).is_err());
    }

    #[test]
    fn purchase_constraints() {
        let mut r = req("0..");
        assert_eq!(
            r.check(&offer(None, true, 1.0)).unwrap_err().field,
            "spot_policy"
        );
        r.spot = None;
        assert!(r.check(&offer(None, true, 1.0)).is_ok());
        r.max_price = Usd::from_dollars_f64(0.5);
        assert_eq!(
            r.check(&offer(None, true, 1.0)).unwrap_err().field,
            "max_price"
        );
    }
}
