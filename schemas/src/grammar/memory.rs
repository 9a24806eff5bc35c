//! `Memory`: sizes such as `8GB`, `512MB`, `1.5TB` or a bare number of GB (spec §3.2).

use std::fmt;
use std::str::FromStr;

use super::{GrammarError, trim_with_offset};

/// A size in whole megabytes (1 GB = 1024 MB, as dstack counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Memory {
    mb: u64,
}

/// The largest size we accept: 1 EB, far beyond any machine.
const MAX_MB: f64 = 1024.0 * 1024.0 * 1024.0 * 1024.0;

impl Memory {
    /// A size in megabytes.
    pub const fn from_mb(mb: u64) -> Self {
        Self { mb }
    }

    /// A size in gigabytes.
    pub const fn from_gb(gb: u64) -> Self {
        Self { mb: gb * 1024 }
    }

    /// The size in megabytes.
    pub fn mb(&self) -> u64 {
        self.mb
    }

    /// The size in gigabytes, possibly fractional.
    pub fn gb(&self) -> f64 {
        self.mb as f64 / 1024.0
    }

    /// A size from a number of gigabytes (YAML numbers mean GB).
    pub fn from_gb_f64(gb: f64) -> Result<Self, GrammarError> {
        from_scaled(gb, 1024.0, &gb.to_string())
    }
}

fn from_scaled(value: f64, mb_per_unit: f64, shown: &str) -> Result<Memory, GrammarError> {
    if !value.is_finite() {
        return Err(GrammarError::whole(format!("`{shown}` is not a size")));
    }
    if value < 0.0 {
        return Err(
            GrammarError::whole(format!("size cannot be negative: `{shown}`"))
                .help("sizes are e.g. `8GB`, `512MB` or `1TB`"),
        );
    }
    let mb = (value * mb_per_unit).round();
    if mb > MAX_MB {
        return Err(GrammarError::whole(format!("size `{shown}` is too large")));
    }
    Ok(Memory { mb: mb as u64 })
}

impl FromStr for Memory {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let (lead, t) = trim_with_offset(text);
        let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
        let lower = compact.to_ascii_lowercase();
        let unit_at = lower
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(lower.len());
        let (number, unit) = lower.split_at(unit_at);
        if number.is_empty() {
            return Err(
                GrammarError::at(lead, t.len(), format!("`{t}` is not a size"))
                    .help("sizes are e.g. `8GB`, `512MB` or `1TB`"),
            );
        }
        let mb_per_unit = match unit {
            "" | "gb" => 1024.0,
            "mb" => 1.0,
            "tb" => 1024.0 * 1024.0,
            other => {
                return Err(GrammarError::at(
                    lead,
                    t.len(),
                    format!("unknown size unit `{other}` in `{t}`"),
                )
                .help("use MB, GB or TB, e.g. `80GB` (GiB, G and T are not accepted)"));
            }
        };
        let value: f64 = number.parse().map_err(|_| {
            GrammarError::at(lead, t.len(), format!("`{t}` is not a size"))
                .help("sizes are e.g. `8GB`, `512MB` or `1TB`")
        })?;
        from_scaled(value, mb_per_unit, t).map_err(|e| GrammarError {
            offset: lead,
            len: t.len(),
            ..e
        })
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mb.is_multiple_of(1024) {
            write!(f, "{}GB", self.mb / 1024)
        } else {
            write!(f, "{}MB", self.mb)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        let mb = |t: &str| t.parse::<Memory>().unwrap().mb();
        assert_eq!(mb("8GB"), 8192);
        assert_eq!(mb("8 gb"), 8192);
        assert_eq!(mb("512MB"), 512);
        assert_eq!(mb("1.5TB"), 1536 * 1024);
        assert_eq!(mb("100"), 100 * 1024);
    }

    #[test]
    fn rejects_other_units_and_negatives() {
        assert!(
            "16GiB"
                .parse::<Memory>()
                .unwrap_err()
                .message
                .contains("unit")
        );
        assert!(
            "80xb"
                .parse::<Memory>()
                .unwrap_err()
                .message
                .contains("unit")
        );
        assert!(
            "-80GB"
                .parse::<Memory>()
                .unwrap_err()
                .message
                .contains("negative")
        );
        assert!("big".parse::<Memory>().is_err());
    }

    #[test]
    fn prints_gb_when_whole() {
        assert_eq!(Memory::from_mb(1536 * 1024).to_string(), "1536GB");
        assert_eq!(Memory::from_mb(512).to_string(), "512MB");
    }
}
