//! Durations: `300`, `5m`, `"5 m"`, `2d`, `1w`; and the `off` variants of
//! spec §3.4 (offable, idle).
//!
//! Every duration is at most [`Duration::MAX`] (10 years): a longer one is an
//! error when it is parsed, so nothing computed from a configuration (a
//! deadline, an instant plus a duration) can overflow. All arithmetic here is
//! checked.

use std::fmt;
use std::str::FromStr;

use super::{GrammarError, trim_with_offset};

/// A whole number of seconds, at most [`Duration::MAX`] when parsed.
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

/// The longest duration a configuration (or flag) may give: 10 years of 365
/// days, `3650d`, 315,360,000 seconds.
pub const MAX_DURATION_SECS: u64 = 10 * 365 * 24 * 3600;

impl Duration {
    /// The longest duration that parses ([`MAX_DURATION_SECS`]).
    pub const MAX: Duration = Duration::from_secs(MAX_DURATION_SECS);

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self { secs }
    }

    /// The length in seconds.
    pub fn secs(&self) -> u64 {
        self.secs
    }

    /// `secs` seconds, or the over-the-limit error naming `shown`.
    fn bounded(secs: u64, shown: &str) -> Result<Self, GrammarError> {
        if secs > MAX_DURATION_SECS {
            return Err(too_long(shown));
        }
        Ok(Self::from_secs(secs))
    }

    /// From a YAML integer of seconds; negatives are refused.
    pub fn from_int(value: i64, shown: &str) -> Result<Self, GrammarError> {
        match u64::try_from(value) {
            Ok(secs) => Self::bounded(secs, shown),
            Err(_) => Err(GrammarError::whole(format!(
                "duration cannot be negative: `{shown}`"
            ))),
        }
    }

    /// From a YAML number of seconds; fractions, negatives and numbers
    /// above the limit are refused.
    pub fn from_number(value: f64, shown: &str) -> Result<Self, GrammarError> {
        if value.is_nan() {
            return Err(GrammarError::whole(format!("`{shown}` is not a number")));
        }
        if value < 0.0 {
            return Err(GrammarError::whole(format!(
                "duration cannot be negative: `{shown}`"
            )));
        }
        // `as f64` of the limit is exact (it is far below 2^53).
        if value > MAX_DURATION_SECS as f64 {
            return Err(too_long(shown));
        }
        if value.fract() != 0.0 {
            return Err(GrammarError::whole(format!(
                "`{shown}` is not a whole number of seconds"
            )));
        }
        // Whole and within 0..=MAX_DURATION_SECS, so the conversion is exact.
        Self::bounded(value as u64, shown)
    }
}

/// The error of a duration longer than [`Duration::MAX`].
fn too_long(shown: &str) -> GrammarError {
    GrammarError::whole(format!(
        "duration `{shown}` is longer than the limit of 10 years (`3650d`)"
    ))
    .help(format!(
        "durations are at most 10 years: `3650d`, {MAX_DURATION_SECS} seconds"
    ))
}

fn duration_help() -> &'static str {
    "a duration is a number of seconds or a number with one unit: `90s`, `30m`, `2h`, `3d`, `1w`"
}

/// The scale of a unit suffix (`""` is seconds).
fn unit_scale(unit: &str) -> Option<u64> {
    if unit.is_empty() {
        return Some(1);
    }
    let mut chars = unit.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    UNITS.iter().find(|(name, _)| *name == c).map(|(_, s)| *s)
}

/// `1e19s`, `2.5E3`: a number in exponent notation, which durations do not
/// take; its value, when it is one, decides the message.
fn exponent_form(t: &str) -> Option<f64> {
    let number = t.trim_end_matches(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E');
    let has_exponent = number.contains(['e', 'E']);
    let scale = unit_scale(t[number.len()..].trim_start())?;
    let value: f64 = number.trim_end().parse().ok()?;
    // `as f64` of a unit scale (at most a week of seconds) is exact.
    has_exponent.then_some(value * scale as f64)
}

impl FromStr for Duration {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let (lead, t) = trim_with_offset(text);
        let bad = |msg: String| GrammarError::at(lead, t.len(), msg).help(duration_help());
        let locate = |e: GrammarError| GrammarError {
            offset: lead,
            len: t.len(),
            ..e
        };
        if t.starts_with('-') {
            return Err(bad(format!("duration cannot be negative: `{t}`")));
        }
        let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        if let Some(value) = exponent_form(t) {
            return Err(match value > MAX_DURATION_SECS as f64 {
                true => locate(too_long(t)),
                false => bad(format!(
                    "`{t}` is not a duration: write the number in digits"
                )),
            });
        }
        if digits_end == 0 {
            return Err(bad(format!("`{t}` is not a duration")));
        }
        let unit = t[digits_end..].trim_start();
        let scale = match unit_scale(unit) {
            Some(scale) => scale,
            None if unit.chars().count() == 1 => {
                return Err(bad(format!("unknown duration unit `{unit}` in `{t}`")));
            }
            None => return Err(bad(format!("`{t}` is not a duration"))),
        };
        // All digits: a number that does not fit u64 is far over the limit.
        let secs = t[..digits_end]
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .ok_or_else(|| locate(too_long(t)))?;
        Self::bounded(secs, t).map_err(locate)
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
    /// From a YAML integer of seconds (negative = never).
    pub fn from_int(value: i64, shown: &str) -> Result<Self, GrammarError> {
        if value < 0 {
            Ok(Self::Never)
        } else {
            Duration::from_int(value, shown).map(Self::After)
        }
    }

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
            return Self::from_int(n, t);
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

    fn too_long(result: Result<impl fmt::Debug, GrammarError>) -> GrammarError {
        let err = result.expect_err("over the limit");
        assert!(
            err.message
                .contains("longer than the limit of 10 years (`3650d`)"),
            "{}",
            err.message
        );
        err
    }

    #[test]
    fn ten_years_is_the_limit() {
        assert_eq!(secs("3650d"), MAX_DURATION_SECS);
        assert_eq!(Duration::MAX.to_string(), "3650d");
        assert_eq!(secs(&MAX_DURATION_SECS.to_string()), MAX_DURATION_SECS);
        for text in [
            "3651d",
            "522w",
            "18446744073709551615s",
            "18446744073709551615",
            "99999999999999999999d",
            "1e19s",
            "1e19",
            "1E400 s",
            "315360001",
        ] {
            let err = too_long(text.parse::<Duration>());
            assert_eq!((err.offset, err.len), (0, text.len()), "{text}: whole text");
            too_long(text.parse::<OffDuration>());
            too_long(text.parse::<IdleDuration>());
        }
        // 2^64 / 60 overflows only when multiplied: still the limit, never a wrap.
        too_long("307445734561825861m".parse::<Duration>());
    }

    #[test]
    fn numbers_are_bounded_without_wrapping() {
        too_long(Duration::from_number(1e19, "1e19"));
        too_long(Duration::from_number(f64::INFINITY, ".inf"));
        too_long(Duration::from_int(i64::MAX, "9223372036854775807"));
        too_long(IdleDuration::from_number(1e19, "1e19"));
        too_long(IdleDuration::from_int(i64::MAX, "9223372036854775807"));
        assert!(Duration::from_number(f64::NAN, ".nan").is_err());
        assert!(Duration::from_int(-1, "-1").is_err());
        assert_eq!(
            Duration::from_number(315_360_000.0, "315360000"),
            Ok(Duration::MAX)
        );
        assert_eq!(IdleDuration::from_int(-5, "-5"), Ok(IdleDuration::Never));
    }

    #[test]
    fn exponents_are_not_durations() {
        let err = "1e3s".parse::<Duration>().unwrap_err();
        assert!(
            err.message.contains("write the number in digits"),
            "{}",
            err.message
        );
        assert!("2e".parse::<Duration>().is_err());
        assert!("week".parse::<Duration>().is_err());
    }

    #[test]
    fn idle_negative_means_never() {
        assert_eq!("-1".parse::<IdleDuration>().unwrap(), IdleDuration::Never);
        assert_eq!("off".parse::<IdleDuration>().unwrap(), IdleDuration::Never);
        assert_eq!("0".parse::<IdleDuration>().unwrap().to_string(), "0s");
    }
}
