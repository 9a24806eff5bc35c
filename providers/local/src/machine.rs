//! What this machine has: CPUs, memory, GPUs (via `nvidia-smi`), as an
//! offer at $0. Overridable, so tests and plans are reproducible.

use dstack_schemas::grammar::{CpuArch, GpuVendor, Memory};
use dstack_schemas::money::HourlyRate;
use dstack_schemas::offer::{Availability, Offer, OfferGpu};

/// Values that replace detection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MachineOverride {
    /// CPUs.
    pub cpus: Option<u32>,
    /// Memory.
    pub memory: Option<Memory>,
    /// GPUs as `NAME:MEMORY:COUNT` (e.g. `A10G:24GB:1`), or `none`.
    pub gpu: Option<String>,
}

fn memory_total() -> Memory {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    Memory::from_mb(kib / 1024)
}

/// Whether an executable file `name` is in a directory of `PATH` (looked
/// up before spawning: every plan of the local fleet probes for GPUs, and
/// a spawn that fails on every `PATH` entry cost a few ms of each apply).
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

fn detect_gpu() -> Option<OfferGpu> {
    if !on_path("nvidia-smi") {
        return None;
    }
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let (name, mem) = lines.first()?.split_once(',')?;
    let name = name.trim().trim_start_matches("NVIDIA ").replace(' ', "");
    let mb: u64 = mem.trim().parse().ok()?;
    Some(OfferGpu {
        vendor: GpuVendor::Nvidia,
        name,
        memory: Memory::from_mb(mb),
        count: lines.len() as u32,
    })
}

fn parse_gpu(text: &str) -> Option<OfferGpu> {
    if text == "none" {
        return None;
    }
    let parts: Vec<&str> = text.split(':').collect();
    let (name, memory, count) = match parts.as_slice() {
        [name, memory, count] => (*name, memory.parse().ok()?, count.parse().ok()?),
        [name, memory] => (*name, memory.parse().ok()?, 1),
        _ => return None,
    };
    Some(OfferGpu {
        vendor: GpuVendor::Nvidia,
        name: name.to_string(),
        memory,
        count,
    })
}

/// This machine as an offer of the `local` backend.
pub fn detect_machine(overrides: &MachineOverride) -> Offer {
    let cpus = overrides
        .cpus
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let gpu = match &overrides.gpu {
        Some(text) => parse_gpu(text),
        None => detect_gpu(),
    };
    Offer {
        backend: "local".into(),
        region: "local".into(),
        availability_zone: None,
        instance_type: "this-machine".into(),
        cpus,
        cpu_arch: if cfg!(target_arch = "aarch64") {
            CpuArch::Arm
        } else {
            CpuArch::X86
        },
        memory: overrides.memory.unwrap_or_else(memory_total),
        disk: None,
        gpu,
        spot: false,
        price: HourlyRate::ZERO,
        availability: Availability::Idle,
    }
}

#[cfg(test)]
mod path_tests {
    use super::on_path;

    #[test]
    fn finds_executables_on_path_only() {
        assert!(on_path("sh"));
        assert!(!on_path("dstack-no-such-program-on-path"));
        // A directory of that name is not a program.
        assert!(!on_path(""));
    }
}
