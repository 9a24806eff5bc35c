//! Money: US dollars as integer micro-dollars. No `f64` money anywhere.

use std::fmt;
use std::ops::{Add, AddAssign, Mul, Sub};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An amount of US dollars, in millionths of a dollar. In JSON it is a
/// number of dollars (`1.5`), rounded to the micro-dollar when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Usd(i64);

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let dollars = f64::deserialize(d)?;
        Usd::from_dollars_f64(dollars)
            .ok_or_else(|| serde::de::Error::custom("dollar amount out of range"))
    }
}

impl Usd {
    /// Zero dollars.
    pub const ZERO: Usd = Usd(0);

    /// From micro-dollars.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// The amount in micro-dollars.
    pub fn micros(&self) -> i64 {
        self.0
    }

    /// The largest amount either way: $9,000,000,000 (9e15 micro-dollars,
    /// below 2^53, so every amount up to it converts from `f64` exactly).
    pub const MAX: Usd = Usd(9_000_000_000_000_000);

    /// From a decimal dollar amount, rounded to the nearest micro-dollar.
    /// `None` for non-finite values and those beyond [`Usd::MAX`] either way.
    pub fn from_dollars_f64(dollars: f64) -> Option<Self> {
        const LIMIT: f64 = 9e15;
        let micros = (dollars * 1e6).round();
        // Finite and within ±9e15: the conversion is exact.
        (micros.is_finite() && micros.abs() <= LIMIT).then_some(Self(micros as i64))
    }

    /// The amount in dollars, for display arithmetic only.
    pub fn as_dollars_f64(&self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Formats with up to four decimals, trailing zeros stripped: `$1.2345`, `$3`.
    pub fn short(&self) -> String {
        let tenth_milli = (self.0 as i128 + if self.0 >= 0 { 50 } else { -50 }) / 100;
        let sign = if tenth_milli < 0 { "-" } else { "" };
        let abs = tenth_milli.abs();
        let whole = abs / 10_000;
        let frac = abs % 10_000;
        if frac == 0 {
            format!("{sign}${whole}")
        } else {
            let frac = format!("{frac:04}");
            format!("{sign}${whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

impl fmt::Display for Usd {
    /// Two decimals for whole-cent amounts, up to four otherwise: `$2.40`, `$0.0123`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = self.short();
        match short.split_once('.') {
            None => write!(f, "{short}.00"),
            Some((_, frac)) if frac.len() == 1 => write!(f, "{short}0"),
            Some(_) => f.write_str(&short),
        }
    }
}

/// Why a text is not a dollar amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsdParseErrorKind {
    /// Not a number (after an optional `$`).
    NotANumber,
    /// A number, but beyond what [`Usd`] holds (about ±9e9 dollars).
    OutOfRange,
}

/// A text that [`Usd::from_str`] rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsdParseError {
    /// What is wrong.
    pub kind: UsdParseErrorKind,
    /// The text as given.
    pub text: String,
}

impl fmt::Display for UsdParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            UsdParseErrorKind::NotANumber => write!(f, "`{}` is not a dollar amount", self.text),
            UsdParseErrorKind::OutOfRange => write!(f, "`{}` is out of range", self.text),
        }
    }
}

impl std::error::Error for UsdParseError {}

impl FromStr for Usd {
    type Err = UsdParseError;

    fn from_str(text: &str) -> Result<Self, UsdParseError> {
        let error = |kind| UsdParseError {
            kind,
            text: text.to_string(),
        };
        let t = text.trim().trim_start_matches('$');
        let value: f64 = t
            .parse()
            .map_err(|_| error(UsdParseErrorKind::NotANumber))?;
        Self::from_dollars_f64(value).ok_or_else(|| error(UsdParseErrorKind::OutOfRange))
    }
}

impl Add for Usd {
    type Output = Usd;
    fn add(self, rhs: Usd) -> Usd {
        Usd(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, rhs: Usd) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}

impl Sub for Usd {
    type Output = Usd;
    fn sub(self, rhs: Usd) -> Usd {
        Usd(self.0.saturating_sub(rhs.0))
    }
}

impl Mul<u64> for Usd {
    type Output = Usd;
    fn mul(self, rhs: u64) -> Usd {
        Usd(self.0.saturating_mul(rhs as i64))
    }
}

impl std::iter::Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, |a, b| a + b)
    }
}

/// A price per hour.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct HourlyRate(pub Usd);

impl HourlyRate {
    /// Zero per hour.
    pub const ZERO: HourlyRate = HourlyRate(Usd::ZERO);

    /// What this rate costs over `secs` seconds.
    pub fn over_secs(&self, secs: u64) -> Usd {
        Usd::from_micros(((self.0.micros() as i128 * secs as i128) / 3600) as i64)
    }
}

impl fmt::Display for HourlyRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/h", self.0.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        let d = |x: f64| Usd::from_dollars_f64(x).unwrap();
        assert_eq!(d(1.2345).short(), "$1.2345");
        assert_eq!(d(3.0).short(), "$3");
        assert_eq!(d(3.0).to_string(), "$3.00");
        assert_eq!(d(2.4).to_string(), "$2.40");
        assert_eq!(d(0.0123).to_string(), "$0.0123");
        assert_eq!(HourlyRate(d(1.006)).over_secs(7200), d(2.012));
    }

    #[test]
    fn the_largest_amount() {
        assert_eq!(Usd::from_dollars_f64(9e9), Some(Usd::MAX));
        assert_eq!(Usd::MAX.to_string(), "$9000000000.00");
        assert_eq!(Usd::from_dollars_f64(9.000001e9), None);
        assert_eq!(Usd::from_dollars_f64(1e308), None);
        assert_eq!(Usd::from_dollars_f64(f64::NAN), None);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        assert_eq!("$1.5".parse::<Usd>().ok(), Usd::from_dollars_f64(1.5));
        let err = "abc".parse::<Usd>().unwrap_err();
        assert_eq!(err.kind, UsdParseErrorKind::NotANumber);
        assert_eq!(err.to_string(), "`abc` is not a dollar amount");
        let err = "1e308".parse::<Usd>().unwrap_err();
        assert_eq!(err.kind, UsdParseErrorKind::OutOfRange);
        assert_eq!(err.to_string(), "`1e308` is out of range");
    }
}
