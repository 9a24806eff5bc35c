//! Durations: `300`, `5m`, `"5 m"`, `2d`, `1w`; and the `off` variants of
//! spec §3.4 (offable, idle).

use std::fmt;
use std::str::FromStr;

use super::{GrammarError, trim_with_offset};

/// A whole number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    secs: u64,
}

const UNITS: [(char, u64); 5] = [
    ('w', 7 * 24 * 3600),
    ('d', 24 * 3600),
    ('h', 3600),
    ('m', 60),
    ('s', 1),
];

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self { secs }
    }

    /// The length in seconds.
    pub fn secs(&self) -> u64 {
        self.secs
    }

    /// From a YAML number of seconds; fractions and negatives are refused.
    pub fn from_number(value: f64, shown: &str) -> Result<Self, GrammarError> {
        if value < 0.0 {
            return Err(GrammarError::whole(format!(
                "duration cannot be negative: `{shown}`"
            )));
        }
        if value.fract() != 0.0 || !value.is_finite() || value > 1e15 {
            return Err(GrammarError::whole(format!(
                "`{shown}` is not a whole number of seconds"
            )));
        }
        Ok(Self::from_secs(value as u64))
    }
}

fn duration_help() -> &'static str {
    "a duration is a number of seconds or a number with one unit: `90s`, `30m`, `2h`, `3d`, `1w`"
}

impl FromStr for Duration {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let (lead, t) = trim_with_offset(text);
        let bad = |msg: String| GrammarError::at(lead, t.len(), msg).help(duration_help());
        if t.starts_with('-') {
            return Err(bad(format!("duration cannot be negative: `{t}`")));
        }
        let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        if digits_end == 0 {
            return Err(bad(format!("`{t}` is not a duration")));
        }
        let number: u64 = t[..digits_end]
            .parse()
            .map_err(|_| bad(format!("duration `{t}` is too large")))?;
        let unit = t[digits_end..].trim_start();
        let scale = match unit {
            "" => 1,
            u if u.chars().count() == 1 => {
                let c = u.chars().next().unwrap_or('?');
                UNITS
                    .iter()
                    .find(|(name, _)| *name == c)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| bad(format!("unknown duration unit `{u}` in `{t}`")))?
            }
            _ => return Err(bad(format!("`{t}` is not a duration"))),
        };
        number
            .checked_mul(scale)
            .map(Self::from_secs)
            .ok_or_else(|| bad(format!("duration `{t}` is too large")))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secs == 0 {
            return f.write_str("0s");
        }
        let (unit, scale) = UNITS
            .iter()
            .find(|(_, scale)| self.secs.is_multiple_of(*scale))
            .copied()
            .unwrap_or(('s', 1));
        write!(f, "{}{unit}", self.secs / scale)
    }
}

/// A duration that can be switched off (`max_duration`, `stop_duration`,
/// `inactivity_duration`): `off` or `false` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffDuration {
    /// Never.
    Off,
    /// After this long.
    After(Duration),
}

impl FromStr for OffDuration {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        match text.trim() {
            "off" => Ok(Self::Off),
            _ => text.parse().map(Self::After),
        }
    }
}

impl fmt::Display for OffDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::After(d) => d.fmt(f),
        }
    }
}

/// An idle timeout (`idle_duration`, volume `auto_cleanup_duration`): `off`,
/// `false` or any negative number means never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdleDuration {
    /// Never time out.
    Never,
    /// Time out after this long idle.
    After(Duration),
}

impl IdleDuration {
    /// From a YAML number of seconds (negative = never).
    pub fn from_number(value: f64, shown: &str) -> Result<Self, GrammarError> {
        if value < 0.0 {
            Ok(Self::Never)
        } else {
            Duration::from_number(value, shown).map(Self::After)
        }
    }
}

impl FromStr for IdleDuration {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let t = text.trim();
        if t == "off" {
            return Ok(Self::Never);
        }
        if let Ok(n) = t.parse::<i64>() {
            return Self::from_number(n as f64, t);
        }
        t.parse().map(Self::After)
    }
}

impl fmt::Display for IdleDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Never => f.write_str("off"),
            Self::After(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t: &str) -> u64 {
        t.parse::<Duration>().unwrap().secs()
    }

    #[test]
    fn forms() {
        assert_eq!(secs("300"), 300);
        assert_eq!(secs("5m"), 300);
        assert_eq!(secs("5 m"), 300);
        assert_eq!(secs("2d"), 172_800);
        assert_eq!(secs("1w"), 604_800);
    }

    #[test]
    fn rejects() {
        for bad in ["1h30m", "1.5h", "10ms", "-1h", "2 hours", "", "h"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prints_largest_exact_unit() {
        let show = |s: u64| Duration::from_secs(s).to_string();
        assert_eq!(show(300), "5m");
        assert_eq!(show(5400), "90m");
        assert_eq!(show(259_200), "3d");
        assert_eq!(show(0), "0s");
    }

    #[test]
    fn idle_negative_means_never() {
        assert_eq!("-1".parse::<IdleDuration>().unwrap(), IdleDuration::Never);
        assert_eq!("off".parse::<IdleDuration>().unwrap(), IdleDuration::Never);
        assert_eq!("0".parse::<IdleDuration>().unwrap().to_string(), "0s");
    }
}
