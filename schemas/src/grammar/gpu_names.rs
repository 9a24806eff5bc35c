//! The GPU names dstack-rs knows, with their vendors: what infers a spec's
//! vendor from its names (spec §3.2, "GPU vendor inference") and what makes
//! a vendor that contradicts a name (`amd:H100`) an error. Names are matched
//! case-insensitively; an unknown name has no vendor and contradicts none.

use super::GpuVendor;

/// NVIDIA models, lowercase.
const NVIDIA: &[&str] = &[
    "a10", "a10g", "a100", "a40", "a4000", "a5000", "a6000", "b200", "b300", "gb200", "gh200",
    "gb10", "h100", "h200", "k80", "l4", "l40", "l40s", "p100", "rtx3090", "rtx4090", "rtx5090",
    "rtx6000", "t4", "t4g", "v100", "p4",
];

/// Tenstorrent boards, matched as parts of a name (`n300s`, `galaxy-4u`).
const TENSTORRENT: &[&str] = &["n150", "n300", "p100a", "p150a", "p300a", "galaxy"];

/// The vendor of a known GPU model name (`H100` → NVIDIA, `MI300X` → AMD,
/// `gaudi2` → Intel, `v5litepod-8` → Google, `n150` → Tenstorrent).
pub fn vendor_of(name: &str) -> Option<GpuVendor> {
    let n = name.trim().to_ascii_lowercase();
    let digit_after = |prefix: &str| {
        n.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    if NVIDIA.contains(&n.as_str()) {
        Some(GpuVendor::Nvidia)
    } else if digit_after("mi") {
        Some(GpuVendor::Amd)
    } else if n.starts_with("gaudi") {
        Some(GpuVendor::Intel)
    } else if is_tpu_name(&n) {
        Some(GpuVendor::Google)
    } else if TENSTORRENT.iter().any(|t| n.contains(t)) {
        Some(GpuVendor::Tenstorrent)
    } else {
        None
    }
}

/// TPU slices: `v2-8`, `v5e-16`, `v5p-8`, `v6e-256`, `v5litepod-4`: `v`,
/// one digit, a variant, `-` and a chip count (`v100-sxm2` is no TPU).
fn is_tpu_name(n: &str) -> bool {
    let Some(rest) = n.strip_prefix('v') else {
        return false;
    };
    let mut chars = rest.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_digit()) {
        return false;
    }
    let rest = chars.as_str();
    let (variant, chips) = rest.split_once('-').unwrap_or((rest, ""));
    ["", "e", "p", "litepod"].contains(&variant)
        && !chips.is_empty()
        && chips.bytes().all(|b| b.is_ascii_digit())
}

/// How a vendor's accelerators are called in messages.
fn maker(vendor: GpuVendor) -> &'static str {
    match vendor {
        GpuVendor::Nvidia => "an NVIDIA GPU",
        GpuVendor::Amd => "an AMD GPU",
        GpuVendor::Google => "a Google TPU",
        GpuVendor::Intel => "an Intel Gaudi accelerator",
        GpuVendor::Tenstorrent => "a Tenstorrent accelerator",
    }
}

/// A known model of each vendor, for advice.
fn example(vendor: GpuVendor) -> &'static str {
    match vendor {
        GpuVendor::Nvidia => "H100",
        GpuVendor::Amd => "MI300X",
        GpuVendor::Google => "v5litepod-8",
        GpuVendor::Intel => "gaudi2",
        GpuVendor::Tenstorrent => "n150",
    }
}

/// A GPU name whose known vendor is not the one the spec gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorConflict {
    /// Index of the name in the spec's list.
    pub index: usize,
    /// What the spec says.
    pub message: String,
    /// What to write instead.
    pub help: String,
}

/// The first of `names` that `vendor` contradicts.
pub fn vendor_conflict(vendor: GpuVendor, names: &[String]) -> Option<VendorConflict> {
    names.iter().enumerate().find_map(|(index, name)| {
        let known = vendor_of(name).filter(|known| *known != vendor)?;
        Some(VendorConflict {
            index,
            message: format!("`{name}` is {}, not {vendor}", maker(known)),
            help: format!(
                "give `{name}` its vendor `{known}` or none, or name {} such as `{}`",
                maker(vendor),
                example(vendor)
            ),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_has_known_names() {
        for (name, vendor) in [
            ("H100", GpuVendor::Nvidia),
            ("a10g", GpuVendor::Nvidia),
            ("MI300X", GpuVendor::Amd),
            ("gaudi2", GpuVendor::Intel),
            ("v5litepod-8", GpuVendor::Google),
            ("v5e-8", GpuVendor::Google),
            ("n150", GpuVendor::Tenstorrent),
            ("p100", GpuVendor::Nvidia),
            ("v6e-256", GpuVendor::Google),
            ("v2-8", GpuVendor::Google),
        ] {
            assert_eq!(vendor_of(name), Some(vendor), "{name}");
        }
        for vendor in GpuVendor::ALL {
            assert_eq!(vendor_of(example(vendor)), Some(vendor));
        }
        assert_eq!(vendor_of("RTX9999"), None);
        assert_eq!(vendor_of("mi"), None);
        for unknown in ["v100-sxm2", "v5e", "v5x-8", "v12-8", "A100-80GB"] {
            assert_eq!(vendor_of(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn conflicts_name_both_vendors() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let c = vendor_conflict(GpuVendor::Amd, &names(&["MI300X", "H100"])).unwrap();
        assert_eq!(c.index, 1);
        assert_eq!(c.message, "`H100` is an NVIDIA GPU, not amd");
        assert!(c.help.contains("vendor `nvidia`") && c.help.contains("`MI300X`"));
        assert!(vendor_conflict(GpuVendor::Nvidia, &names(&["H100", "RTX9999"])).is_none());
    }
}
