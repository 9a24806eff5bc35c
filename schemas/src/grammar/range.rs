//! `Range<T>`: `min..max`, `min..`, `..max` or a single value (spec §3.1).

use std::fmt;

use super::{GrammarError, trim_with_offset};

/// An inclusive range; a missing bound is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Range<T> {
    /// Lower bound.
    pub min: Option<T>,
    /// Upper bound.
    pub max: Option<T>,
}

impl<T: Copy + PartialOrd + fmt::Display> Range<T> {
    /// Exactly `v`.
    pub fn exact(v: T) -> Self {
        Self {
            min: Some(v),
            max: Some(v),
        }
    }

    /// `v` or more.
    pub fn at_least(v: T) -> Self {
        Self {
            min: Some(v),
            max: None,
        }
    }

    /// True when `v` lies inside.
    pub fn contains(&self, v: T) -> bool {
        self.min.is_none_or(|min| v >= min) && self.max.is_none_or(|max| v <= max)
    }

    /// The overlap of two ranges, or `None` when they do not meet.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        let min = max_opt(self.min, other.min);
        let max = min_opt(self.max, other.max);
        match (min, max) {
            (Some(a), Some(b)) if a > b => None,
            _ => Some(Self { min, max }),
        }
    }

    /// Parses `text` with `item` for each bound.
    pub fn parse_with(
        text: &str,
        item: impl Fn(&str) -> Result<T, GrammarError>,
    ) -> Result<Self, GrammarError> {
        let (lead, t) = trim_with_offset(text);
        let Some(dots) = t.find("..") else {
            return item(t).map(Self::exact).map_err(|e| e.shift(lead));
        };
        let (left, right) = (&t[..dots], &t[dots + 2..]);
        if right.contains("..") {
            return Err(
                GrammarError::at(lead, t.len(), format!("`{t}` has more than one `..`"))
                    .help("a range is `min..max`, `min..` or `..max`"),
            );
        }
        let bound = |part: &str, offset: usize| -> Result<Option<T>, GrammarError> {
            if part.trim().is_empty() {
                Ok(None)
            } else {
                item(part).map(Some).map_err(|e| e.shift(lead + offset))
            }
        };
        let range = Self {
            min: bound(left, 0)?,
            max: bound(right, dots + 2)?,
        };
        if range.min.is_none() && range.max.is_none() {
            return Err(GrammarError::at(lead, t.len(), "empty range `..`")
                .help("give at least one bound, e.g. `1..` or `..4`"));
        }
        range.check_order().map_err(|e| e.shift(lead))?;
        Ok(range)
    }

    /// Errors when `min > max`.
    pub fn check_order(&self) -> Result<(), GrammarError> {
        match (self.min, self.max) {
            (Some(a), Some(b)) if a > b => Err(GrammarError::whole(format!(
                "range is reversed: minimum {a} is greater than maximum {b}"
            ))
            .help(format!("did you mean `{b}..{a}`?"))),
            _ => Ok(()),
        }
    }
}

fn max_opt<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a >= b { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn min_opt<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a <= b { a } else { b }),
        (a, b) => a.or(b),
    }
}

impl<T: fmt::Display + PartialEq> fmt::Display for Range<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.min, &self.max) {
            (Some(a), Some(b)) if a == b => write!(f, "{a}"),
            (Some(a), Some(b)) => write!(f, "{a}..{b}"),
            (Some(a), None) => write!(f, "{a}.."),
            (None, Some(b)) => write!(f, "..{b}"),
            (None, None) => f.write_str(".."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::parse_count;

    fn count(text: &str) -> Result<Range<u32>, GrammarError> {
        Range::parse_with(text, |t| parse_count(t, "count"))
    }

    #[test]
    fn forms() {
        assert_eq!(count("2").unwrap(), Range::exact(2));
        assert_eq!(count("1..").unwrap(), Range::at_least(1));
        assert_eq!(count(" ..4 ").unwrap().max, Some(4));
        assert_eq!(count("2..8").unwrap().to_string(), "2..8");
    }

    #[test]
    fn rejects_nonsense_with_a_place() {
        assert!(count("..").unwrap_err().message.contains("empty"));
        assert!(count("4..2").unwrap_err().message.contains("reversed"));
        assert!(
            count("1..2..3")
                .unwrap_err()
                .message
                .contains("more than one")
        );
        let err = count("1..x").unwrap_err();
        assert_eq!((err.offset, err.len), (3, 1));
    }

    #[test]
    fn intersection() {
        let a = count("2..8").unwrap();
        assert_eq!(
            a.intersect(&count("4..").unwrap()),
            Some(count("4..8").unwrap())
        );
        assert_eq!(a.intersect(&count("9..").unwrap()), None);
    }
}
