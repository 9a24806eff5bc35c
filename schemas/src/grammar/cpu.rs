//! `CpuSpec`: `8`, `2..`, `arm:8`, `8:arm`, `x86:4..` (spec §3.2).

use std::fmt;
use std::str::FromStr;

use super::{GrammarError, Range, parse_count, split_with_offsets, trim_with_offset};

/// CPU architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CpuArch {
    /// x86-64.
    X86,
    /// 64-bit ARM.
    Arm,
}

impl CpuArch {
    /// Recognises `x86` or `arm` (only these spellings, as dstack).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "x86" => Some(Self::X86),
            "arm" => Some(Self::Arm),
            _ => None,
        }
    }
}

impl fmt::Display for CpuArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::X86 => "x86",
            Self::Arm => "arm",
        })
    }
}

/// How many CPUs, of which architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CpuSpec {
    /// Architecture, if required.
    pub arch: Option<CpuArch>,
    /// Number of CPUs.
    pub count: Range<u32>,
}

impl Default for CpuSpec {
    /// dstack's default for runs: `2..`.
    fn default() -> Self {
        Self {
            arch: None,
            count: Range::at_least(2),
        }
    }
}

impl CpuSpec {
    /// A CPU count asks for at least one CPU: `0`, `0..` and `..0` are errors
    /// (a range without a lower bound, `..4`, is fine).
    pub fn check_count(count: &Range<u32>) -> Result<(), GrammarError> {
        if count.min != Some(0) && count.max != Some(0) {
            return Ok(());
        }
        let fixed = Range {
            min: Some(1),
            max: count.max.map(|m| m.max(1)),
        };
        Err(
            GrammarError::whole(format!("a CPU count must be at least 1, found `{count}`"))
                .help(format!("a job needs a CPU: write e.g. `{fixed}`")),
        )
    }
}

fn arch_help() -> &'static str {
    "a CPU spec is a count or range, optionally with an architecture: `8`, `4..`, `arm:8` (architectures: x86, arm)"
}

impl FromStr for CpuSpec {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        if text.trim().is_empty() {
            return Err(GrammarError::whole("empty CPU spec").help(arch_help()));
        }
        let mut spec = CpuSpec::default();
        let (mut seen_arch, mut seen_count) = (false, false);
        for (offset, raw) in split_with_offsets(text, ':') {
            let (lead, token) = trim_with_offset(raw);
            let at = offset + lead;
            let is_count = token.contains("..")
                || (!token.is_empty()
                    && token
                        .trim_start_matches('-')
                        .chars()
                        .all(|c| c.is_ascii_digit()));
            if is_count {
                if seen_count {
                    return Err(GrammarError::at(at, token.len(), "CPU spec has two counts")
                        .help(arch_help()));
                }
                seen_count = true;
                spec.count = Range::parse_with(token, |t| parse_count(t, "CPU count"))
                    .map_err(|e| e.shift(at))?;
                Self::check_count(&spec.count).map_err(|e| GrammarError {
                    offset: at,
                    len: token.len(),
                    ..e
                })?;
            } else {
                if seen_arch {
                    return Err(GrammarError::at(
                        at,
                        token.len(),
                        "CPU spec has two architectures",
                    )
                    .help(arch_help()));
                }
                seen_arch = true;
                spec.arch = Some(CpuArch::parse(token).ok_or_else(|| {
                    GrammarError::at(
                        at,
                        token.len(),
                        format!("`{token}` is not a CPU architecture or count"),
                    )
                    .help(arch_help())
                })?);
            }
        }
        Ok(spec)
    }
}

impl fmt::Display for CpuSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.arch {
            Some(arch) => write!(f, "{arch}:{}", self.count),
            None => write!(f, "{}", self.count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let spec = |t: &str| t.parse::<CpuSpec>().unwrap();
        assert_eq!(spec("arm:8"), spec("8:arm"));
        assert_eq!(spec("arm").count, Range::at_least(2));
        assert_eq!(spec("x86:4..").to_string(), "x86:4..");
        assert_eq!(spec("16").to_string(), "16");
    }

    #[test]
    fn rejects() {
        for bad in ["arm:x86", "arm:2:4", "", "aarch64", "-2", "amd64"] {
            assert!(bad.parse::<CpuSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn zero_cpus_are_refused() {
        for (bad, fixed) in [
            ("0", "`1`"),
            ("0..", "`1..`"),
            ("x86:0..4", "`1..4`"),
            ("..0", "`1`"),
        ] {
            let err = bad.parse::<CpuSpec>().unwrap_err();
            assert!(
                err.message.contains("must be at least 1"),
                "{bad}: {}",
                err.message
            );
            assert!(
                err.help.as_deref().unwrap().contains(fixed),
                "{bad}: {:?}",
                err.help
            );
        }
        assert_eq!(
            spec_count("..4"),
            Range {
                min: None,
                max: Some(4)
            }
        );
        assert_eq!(spec_count("1..").min, Some(1));
    }

    fn spec_count(text: &str) -> Range<u32> {
        text.parse::<CpuSpec>().unwrap().count
    }
}
