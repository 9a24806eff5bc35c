//! `GpuSpec`: `A100:40GB:2`, `24GB..`, `H100,A100:8`, `nvidia:2`, `2` (spec §3.2).
//!
//! Each `:`-separated token is classified in order: a vendor name; a token
//! starting with a letter is a comma-separated list of GPU names; a token with
//! any letter is a per-GPU memory range; anything else is a count range.

use std::fmt;
use std::str::FromStr;

use super::gpu_names::vendor_conflict;
use super::{GrammarError, Memory, Range, parse_count, split_with_offsets, trim_with_offset};

/// The maker of an accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GpuVendor {
    /// NVIDIA (CUDA).
    Nvidia,
    /// AMD (ROCm).
    Amd,
    /// Google TPUs.
    Google,
    /// Intel Gaudi.
    Intel,
    /// Tenstorrent.
    Tenstorrent,
}

impl GpuVendor {
    /// Every vendor, for messages and schemas.
    pub const ALL: [GpuVendor; 5] = [
        Self::Nvidia,
        Self::Amd,
        Self::Google,
        Self::Intel,
        Self::Tenstorrent,
    ];

    /// Recognises a vendor name or alias (`tpu`, `tt`), case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "nvidia" => Self::Nvidia,
            "amd" => Self::Amd,
            "google" | "tpu" => Self::Google,
            "intel" => Self::Intel,
            "tenstorrent" | "tt" => Self::Tenstorrent,
            _ => return None,
        })
    }

    /// The canonical lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Nvidia => "nvidia",
            Self::Amd => "amd",
            Self::Google => "google",
            Self::Intel => "intel",
            Self::Tenstorrent => "tenstorrent",
        }
    }
}

impl fmt::Display for GpuVendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Minimum NVIDIA compute capability, e.g. `8.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComputeCapability {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl FromStr for ComputeCapability {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let t = text.trim();
        let bad = || {
            GrammarError::whole(format!("`{t}` is not a compute capability"))
                .help("write it as `major.minor`, e.g. `8.0`")
        };
        let (major, minor) = t.split_once('.').unwrap_or((t, "0"));
        Ok(Self {
            major: major.parse().map_err(|_| bad())?,
            minor: minor.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What GPUs a job needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GpuSpec {
    /// Required vendor, if any.
    pub vendor: Option<GpuVendor>,
    /// Acceptable GPU names (any of them), matched case-insensitively.
    pub names: Vec<String>,
    /// Memory per GPU.
    pub memory: Option<Range<Memory>>,
    /// Number of GPUs.
    pub count: Range<u32>,
    /// Memory summed over all GPUs.
    pub total_memory: Option<Range<Memory>>,
    /// Minimum compute capability (NVIDIA only).
    pub compute_capability: Option<ComputeCapability>,
}

impl Default for GpuSpec {
    /// No GPU required, any accepted: `count: 0..`.
    fn default() -> Self {
        Self {
            vendor: None,
            names: Vec::new(),
            memory: None,
            count: Range::at_least(0),
            total_memory: None,
            compute_capability: None,
        }
    }
}

impl GpuSpec {
    /// A spec with only a count, as `gpu: 2` gives.
    pub fn with_count(count: Range<u32>) -> Self {
        Self {
            count,
            ..Self::default()
        }
    }

    /// True when the spec can be written in the `vendor:names:memory:count`
    /// string form (no total memory or compute capability).
    pub fn has_string_form(&self) -> bool {
        self.total_memory.is_none() && self.compute_capability.is_none()
    }

    /// True when no GPU is wanted (`count: 0`).
    pub fn wants_none(&self) -> bool {
        self.count.max == Some(0)
    }
}

fn gpu_help() -> String {
    "a GPU spec is `[vendor:][name[,name...]][:memory][:count]`, e.g. `A100:80GB:2`, `24GB..`, `H100,A100:8` or `nvidia:2`".into()
}

/// A GPU name (or names) from a `name:` key or a string token.
pub(crate) fn normalize_gpu_name(name: &str) -> String {
    let trimmed = name.trim();
    match trimmed.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("tpu-") => trimmed[4..].to_string(),
        _ => trimmed.to_string(),
    }
}

impl FromStr for GpuSpec {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let mut spec = GpuSpec {
            count: Range::at_least(1),
            ..GpuSpec::default()
        };
        let mut seen_count = false;
        let mut names_token: Option<(usize, &str)> = None;
        let mut first_of: [Option<String>; 4] = Default::default();
        for (offset, raw) in split_with_offsets(text, ':') {
            let (lead, token) = trim_with_offset(raw);
            let at = offset + lead;
            if token.is_empty() {
                return Err(GrammarError::at(
                    offset,
                    raw.len(),
                    format!("empty part in GPU spec `{}`", text.trim()),
                )
                .help(gpu_help()));
            }
            let slot = classify(token);
            if let Some(previous) = &first_of[slot as usize] {
                return Err(conflict(slot, previous, token, at));
            }
            first_of[slot as usize] = Some(token.to_string());
            match slot {
                Slot::Vendor => spec.vendor = GpuVendor::parse(token),
                Slot::Names => {
                    spec.names = parse_names(token, at)?;
                    names_token = Some((at, token));
                }
                Slot::Memory => {
                    spec.memory = Some(
                        Range::parse_with(token, |t| t.parse::<Memory>())
                            .map_err(|e| e.shift(at))?,
                    )
                }
                Slot::Count => {
                    seen_count = true;
                    spec.count = Range::parse_with(token, |t| parse_count(t, "GPU count"))
                        .map_err(|e| e.shift(at).help(gpu_help()))?;
                }
            }
        }
        if !seen_count && spec.count.min.is_none() {
            spec.count = Range::at_least(1);
        }
        if let (Some(vendor), Some((at, token))) = (spec.vendor, names_token)
            && let Some(conflict) = vendor_conflict(vendor, &spec.names)
        {
            let (offset, raw) = split_with_offsets(token, ',')
                .nth(conflict.index)
                .unwrap_or((0, token));
            let (lead, name) = trim_with_offset(raw);
            return Err(
                GrammarError::at(at + offset + lead, name.len(), conflict.message)
                    .help(conflict.help),
            );
        }
        Ok(spec)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Vendor = 0,
    Names = 1,
    Memory = 2,
    Count = 3,
}

fn classify(token: &str) -> Slot {
    if GpuVendor::parse(token).is_some() {
        Slot::Vendor
    } else if token.starts_with(|c: char| c.is_alphabetic()) {
        Slot::Names
    } else if token.chars().any(|c| c.is_alphabetic()) {
        Slot::Memory
    } else {
        Slot::Count
    }
}

fn conflict(slot: Slot, previous: &str, token: &str, at: usize) -> GrammarError {
    let what = match slot {
        Slot::Vendor => "two vendors",
        Slot::Names => "two name parts",
        Slot::Memory => "two memory parts",
        Slot::Count => "two counts",
    };
    let hint = match slot {
        Slot::Names if token.chars().all(|c| c.is_ascii_alphabetic()) => format!(
            "`{token}` is read as a GPU name because it starts with a letter; counts are digits, e.g. `{previous}:2`"
        ),
        Slot::Names => format!("list several names with commas: `{previous},{token}`"),
        _ => gpu_help(),
    };
    GrammarError::at(
        at,
        token.len(),
        format!("GPU spec has {what}: `{previous}` and `{token}`"),
    )
    .help(hint)
}

fn parse_names(token: &str, at: usize) -> Result<Vec<String>, GrammarError> {
    split_with_offsets(token, ',')
        .map(|(offset, name)| {
            let name = name.trim();
            if name.is_empty() {
                Err(GrammarError::at(at + offset, 0, "empty GPU name in list").help(gpu_help()))
            } else {
                Ok(normalize_gpu_name(name))
            }
        })
        .collect()
}

impl fmt::Display for GpuSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.has_string_form() {
            return self.fmt_mapping(f);
        }
        let mut parts: Vec<String> = Vec::new();
        if let Some(vendor) = self.vendor {
            parts.push(vendor.to_string());
        }
        if !self.names.is_empty() {
            parts.push(self.names.join(","));
        }
        if let Some(memory) = &self.memory {
            parts.push(memory.to_string());
        }
        parts.push(self.count.to_string());
        f.write_str(&parts.join(":"))
    }
}

impl GpuSpec {
    /// The YAML flow-mapping form, used when the string form cannot say it all.
    fn fmt_mapping(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut fields = Vec::new();
        if let Some(vendor) = self.vendor {
            fields.push(format!("vendor: {vendor}"));
        }
        if !self.names.is_empty() {
            fields.push(format!("name: [{}]", self.names.join(", ")));
        }
        if let Some(memory) = &self.memory {
            fields.push(format!("memory: '{memory}'"));
        }
        fields.push(format!("count: '{}'", self.count));
        if let Some(total) = &self.total_memory {
            fields.push(format!("total_memory: '{total}'"));
        }
        if let Some(cc) = &self.compute_capability {
            fields.push(format!("compute_capability: '{cc}'"));
        }
        write!(f, "{{{}}}", fields.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(t: &str) -> GpuSpec {
        t.parse().unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    #[test]
    fn documented_examples() {
        let a = spec("A100:40GB:2");
        assert_eq!(a.names, ["A100"]);
        assert_eq!(a.memory, Some(Range::exact(Memory::from_gb(40))));
        assert_eq!(a.count, Range::exact(2));
        assert_eq!(spec("24GB..").count, Range::at_least(1));
        assert_eq!(spec("H100,A100:8").names, ["H100", "A100"]);
        assert_eq!(spec("nvidia:2").vendor, Some(GpuVendor::Nvidia));
        assert_eq!(spec("2").count, Range::exact(2));
        assert_eq!(spec("0").count, Range::exact(0));
        assert_eq!(spec("A100 : 2").count, Range::exact(2));
        assert_eq!(spec("tpu:v5e-8").vendor, Some(GpuVendor::Google));
        assert_eq!(spec("tpu-v5e-8").names, ["v5e-8"]);
        assert_eq!(spec("..4").count.min, None);
        assert_eq!(spec("3090").count, Range::exact(3090));
        assert_eq!(spec("amd:MI300X:8").vendor, Some(GpuVendor::Amd));
        assert_eq!(spec("nvidia:RTX9999").names, ["RTX9999"]);
        assert_eq!(spec("intel:Gaudi3").names, ["Gaudi3"]);
    }

    #[test]
    fn rejects_with_the_token_marked() {
        let cases = [
            ("A100:2:4", "two counts"),
            ("A100:H100", "two name parts"),
            ("nvidia:amd", "two vendors"),
            ("40GB:80GB", "two memory parts"),
            ("A10G:", "empty part"),
            (":2", "empty part"),
            ("A100,:2", "empty GPU name"),
            ("A100:1.5", "not a whole number"),
            ("16GiB", "unit"),
            ("1..2..3", "more than one"),
            ("4..2", "reversed"),
            ("..", "empty range"),
            ("A100:-1", "negative"),
            ("amd:H100:1", "`H100` is an NVIDIA GPU, not amd"),
            ("nvidia:MI300X", "`MI300X` is an AMD GPU, not nvidia"),
            ("tpu:A100", "`A100` is an NVIDIA GPU, not google"),
            ("H100, gaudi2:intel", "`H100` is an NVIDIA GPU, not intel"),
            ("tt:v5e-8", "`v5e-8` is a Google TPU, not tenstorrent"),
        ];
        for (text, expected) in cases {
            let err = text.parse::<GpuSpec>().unwrap_err();
            assert!(err.message.contains(expected), "{text}: {}", err.message);
        }
        let err = "A100:two".parse::<GpuSpec>().unwrap_err();
        assert_eq!(&"A100:two"[err.offset..err.offset + err.len], "two");
        let text = "amd:MI300X, H100:8";
        let err = text.parse::<GpuSpec>().unwrap_err();
        assert_eq!(&text[err.offset..err.offset + err.len], "H100");
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(spec("h100:80gb:8").to_string(), "h100:80GB:8");
        assert_eq!(spec("A100").to_string(), "A100:1..");
        assert_eq!(spec("nvidia:2").to_string(), "nvidia:2");
    }
}
