//! What an SSH host offers: its probed resources as one offer, or split into
//! `blocks` equal shares (dstack semantics: GPUs and CPUs must divide
//! evenly, memory is split evenly rounded down, the disk is shared).
//!
//! Offers are free (`HourlyRate::ZERO`) in backend [`BACKEND`] and region
//! [`REGION`] (a fixed word: the host is wherever the user put it); the
//! instance type is the host's name, `name (i/N)` for the i-th of N blocks,
//! so that every block has its own [`Offer::key`].

use std::fmt;

use dstack_schemas::config::fleet::Blocks;
use dstack_schemas::grammar::{CpuArch, GpuVendor, Memory};
use dstack_schemas::money::HourlyRate;
use dstack_schemas::offer::{Availability, Offer, OfferGpu};

use crate::probe::{self, Arch, HostFacts};

/// The backend of SSH fleet offers.
pub const BACKEND: &str = "ssh";
/// The region of SSH fleet offers.
pub const REGION: &str = "remote";

/// Why a host cannot be split as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlocksErrorKind {
    /// `blocks` does not divide the GPU count.
    GpusNotDivisible {
        /// GPUs of the host.
        gpus: u32,
        /// Blocks asked for.
        blocks: u32,
    },
    /// `blocks` does not divide the CPU count.
    CpusNotDivisible {
        /// CPUs of the host.
        cpus: u32,
        /// Blocks asked for.
        blocks: u32,
    },
    /// The host's architecture has no runner.
    UnsupportedArch(String),
}

/// A host whose offers cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlocksError {
    /// The host's name.
    pub host: String,
    /// What is wrong.
    pub kind: BlocksErrorKind,
}

impl fmt::Display for BlocksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = &self.host;
        match &self.kind {
            BlocksErrorKind::GpusNotDivisible { gpus, blocks } => write!(
                f,
                "host {host}: blocks: {blocks} does not divide its {gpus} GPUs; use a divisor of {gpus} or `auto`"
            ),
            BlocksErrorKind::CpusNotDivisible { cpus, blocks } => write!(
                f,
                "host {host}: blocks: {blocks} does not divide its {cpus} CPUs; use a divisor of {cpus} or `auto`"
            ),
            BlocksErrorKind::UnsupportedArch(arch) => {
                write!(f, "host {host}: architecture {arch} is not supported")
            }
        }
    }
}

impl std::error::Error for BlocksError {}

/// How many blocks `blocks` means for `facts`: `auto` is one block a GPU
/// (capped by the CPUs), or one a CPU without GPUs.
pub fn block_count(blocks: Blocks, facts: &HostFacts) -> u32 {
    let gpus = facts.gpus.len() as u32;
    match blocks {
        Blocks::Count(n) => n,
        Blocks::Auto(_) if gpus > 0 => gpus.min(facts.cpus).max(1),
        Blocks::Auto(_) => facts.cpus.max(1),
    }
}

/// The offers of host `host` with `facts`, split into `blocks`.
pub fn offers(host: &str, facts: &HostFacts, blocks: Blocks) -> Result<Vec<Offer>, BlocksError> {
    let error = |kind| BlocksError {
        host: host.to_string(),
        kind,
    };
    let cpu_arch = match &facts.arch {
        Arch::X86_64 => CpuArch::X86,
        Arch::Aarch64 => CpuArch::Arm,
        Arch::Unsupported(arch) => {
            return Err(error(BlocksErrorKind::UnsupportedArch(arch.clone())));
        }
    };
    let n = block_count(blocks, facts).max(1);
    let gpus = facts.gpus.len() as u32;
    if !gpus.is_multiple_of(n) {
        return Err(error(BlocksErrorKind::GpusNotDivisible { gpus, blocks: n }));
    }
    if !facts.cpus.is_multiple_of(n) {
        return Err(error(BlocksErrorKind::CpusNotDivisible {
            cpus: facts.cpus,
            blocks: n,
        }));
    }
    let gpu = facts
        .gpus
        .first()
        .filter(|_| gpus > 0)
        .map(|first| OfferGpu {
            vendor: match first.vendor {
                probe::GpuVendor::Nvidia => GpuVendor::Nvidia,
            },
            name: gpu_model(&first.name),
            memory: Memory::from_mb(first.memory_mib),
            count: gpus / n,
        });
    Ok((1..=n)
        .map(|i| Offer {
            backend: BACKEND.into(),
            region: REGION.into(),
            availability_zone: None,
            instance_type: if n == 1 {
                host.to_string()
            } else {
                format!("{host} ({i}/{n})")
            },
            cpus: facts.cpus / n,
            cpu_arch,
            memory: Memory::from_mb(facts.memory_mib / u64::from(n)),
            disk: Some(Memory::from_mb(facts.disk_free_mib)),
            gpu: gpu.clone(),
            spot: false,
            price: HourlyRate::ZERO,
            availability: Availability::Available,
        })
        .collect())
}

/// The model name dstack matches on, from the vendor tool's name:
/// `NVIDIA H100 80GB HBM3` → `H100`, `NVIDIA A100-SXM4-80GB` → `A100`,
/// `NVIDIA GeForce RTX 4090` → `RTX4090` (vendor and brand words dropped,
/// memory size and form factor words cut off, the rest joined).
pub fn gpu_model(name: &str) -> String {
    const DROPPED: [&str; 4] = ["NVIDIA", "Tesla", "GeForce", "Quadro"];
    const FORM: [&str; 6] = ["PCIe", "SXM", "SXM2", "SXM4", "SXM5", "NVL"];
    name.split([' ', '-'])
        .filter(|word| !word.is_empty() && !DROPPED.contains(word))
        .take_while(|word| {
            !FORM.contains(word) && !word.ends_with("GB") && !word.starts_with("HBM")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Docker, Gpu, Privilege};
    use dstack_schemas::config::fleet::AutoBlocks;

    fn facts(cpus: u32, gpus: usize) -> HostFacts {
        HostFacts {
            arch: Arch::X86_64,
            cpus,
            memory_mib: 2_048_000,
            disk_free_mib: 500_000,
            gpus: vec![
                Gpu {
                    vendor: probe::GpuVendor::Nvidia,
                    name: "NVIDIA H100 80GB HBM3".into(),
                    memory_mib: 81559,
                };
                gpus
            ],
            docker: Docker::Usable,
            privilege: Privilege::Root,
            systemd: true,
        }
    }

    #[test]
    fn one_block_is_the_whole_host() {
        let offers = offers("gpu1", &facts(192, 8), Blocks::Count(1)).unwrap();
        assert_eq!(offers.len(), 1);
        let offer = &offers[0];
        assert_eq!(offer.key(), "ssh/remote/gpu1");
        assert_eq!((offer.cpus, offer.memory.mb()), (192, 2_048_000));
        let gpu = offer.gpu.as_ref().unwrap();
        assert_eq!(
            (gpu.name.as_str(), gpu.count, gpu.memory.mb()),
            ("H100", 8, 81559)
        );
        assert_eq!(offer.price, HourlyRate::ZERO);
    }

    #[test]
    fn blocks_split_gpus_cpus_and_memory_evenly() {
        let offers = offers("gpu1", &facts(192, 8), Blocks::Count(4)).unwrap();
        assert_eq!(offers.len(), 4);
        assert_eq!(offers[0].instance_type, "gpu1 (1/4)");
        assert_eq!(offers[3].instance_type, "gpu1 (4/4)");
        for offer in &offers {
            assert_eq!(offer.cpus, 48);
            assert_eq!(offer.memory.mb(), 512_000);
            assert_eq!(offer.gpu.as_ref().unwrap().count, 2);
        }
    }

    #[test]
    fn auto_is_one_block_a_gpu_or_a_cpu() {
        let auto = Blocks::Auto(AutoBlocks::Auto);
        assert_eq!(offers("g", &facts(192, 8), auto).unwrap().len(), 8);
        assert_eq!(offers("c", &facts(4, 0), auto).unwrap().len(), 4);
    }

    #[test]
    fn blocks_that_do_not_divide_name_the_host() {
        let error = offers("gpu1", &facts(192, 8), Blocks::Count(3)).unwrap_err();
        assert_eq!(
            error.kind,
            BlocksErrorKind::GpusNotDivisible { gpus: 8, blocks: 3 }
        );
        assert!(error.to_string().contains("host gpu1"), "{error}");
        let error = offers("cpu1", &facts(6, 0), Blocks::Count(4)).unwrap_err();
        assert_eq!(
            error.kind,
            BlocksErrorKind::CpusNotDivisible { cpus: 6, blocks: 4 }
        );
    }

    #[test]
    fn gpu_models_drop_vendor_and_form_words() {
        assert_eq!(gpu_model("NVIDIA A10G"), "A10G");
        assert_eq!(gpu_model("NVIDIA H100 80GB HBM3"), "H100");
        assert_eq!(gpu_model("NVIDIA A100-SXM4-80GB"), "A100");
        assert_eq!(gpu_model("NVIDIA GeForce RTX 4090"), "RTX4090");
    }
}
