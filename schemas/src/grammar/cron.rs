//! Five-field crontab schedules (`0 3 * * 1-5`), UTC (spec §3.11).

use std::fmt;
use std::str::FromStr;

use super::{GrammarError, split_with_offsets};

/// One item of a cron field list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Item {
    /// `*` or `*/step`.
    Every { step: u32 },
    /// `a`, `a-b` or `a-b/step`.
    Span { from: u32, to: u32, step: u32 },
}

/// A parsed cron schedule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cron {
    fields: [Vec<Item>; 5],
}

const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
];

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn cron_help() -> &'static str {
    "a schedule is five fields `minute hour day-of-month month day-of-week` in UTC, e.g. `0 3 * * 1-5`"
}

fn parse_value(text: &str, field: usize) -> Option<u32> {
    let lower = text.to_ascii_lowercase();
    let names: &[&str] = match field {
        3 => &MONTHS,
        4 => &DAYS,
        _ => &[],
    };
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Some(i as u32 + u32::from(field == 3));
    }
    text.parse().ok()
}

/// Why one item of a cron field is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ItemError {
    /// `/step` is not a positive number.
    BadStep(String),
    /// A value outside its field's range (or not a number or name).
    BadValue {
        text: String,
        field: &'static str,
        min: u32,
        max: u32,
    },
    /// `a-b` with `a` after `b`.
    Reversed(String),
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadStep(step) => write!(f, "bad step `{step}`"),
            Self::BadValue {
                text,
                field,
                min,
                max,
            } => write!(f, "`{text}` is not a valid {field} ({min}-{max})"),
            Self::Reversed(body) => write!(f, "range `{body}` is reversed"),
        }
    }
}

fn parse_item(text: &str, field: usize) -> Result<Item, ItemError> {
    let (name, min, max) = FIELDS[field];
    let (body, step) = match text.split_once('/') {
        Some((b, s)) => (
            b,
            s.parse::<u32>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| ItemError::BadStep(s.to_string()))?,
        ),
        None => (text, 1),
    };
    if body == "*" {
        return Ok(Item::Every { step });
    }
    let (from, to) = match body.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (body, None),
    };
    let value = |t: &str| -> Result<u32, ItemError> {
        parse_value(t, field)
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| ItemError::BadValue {
                text: t.to_string(),
                field: name,
                min,
                max,
            })
    };
    let from = value(from)?;
    let to = match to {
        Some(t) => value(t)?,
        None if step > 1 => max,
        None => from,
    };
    if from > to {
        return Err(ItemError::Reversed(body.to_string()));
    }
    Ok(Item::Span { from, to, step })
}

impl FromStr for Cron {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let words: Vec<(usize, &str)> = split_with_offsets(text, ' ')
            .filter(|(_, w)| !w.is_empty())
            .collect();
        if words.len() != 5 {
            return Err(GrammarError::whole(format!(
                "`{}` has {} fields; a cron schedule has 5",
                text.trim(),
                words.len()
            ))
            .help(cron_help()));
        }
        let mut fields: [Vec<Item>; 5] = Default::default();
        for (field, (offset, word)) in words.into_iter().enumerate() {
            for item in word.split(',') {
                let parsed = parse_item(item, field).map_err(|err| {
                    GrammarError::at(offset, word.len(), err.to_string()).help(cron_help())
                })?;
                fields[field].push(parsed);
            }
        }
        Ok(Self { fields })
    }
}

impl Cron {
    /// True when the schedule fires at this minute (UTC).
    pub fn matches(&self, minute: u32, hour: u32, day: u32, month: u32, weekday: u32) -> bool {
        let hit = |field: usize, v: u32| {
            self.fields[field].iter().any(|item| match *item {
                Item::Every { step } => (v - FIELDS[field].1).is_multiple_of(step),
                Item::Span { from, to, step } => {
                    v >= from && v <= to && (v - from).is_multiple_of(step)
                }
            })
        };
        let dow = hit(4, weekday) || (weekday == 0 && hit(4, 7));
        hit(0, minute) && hit(1, hour) && hit(2, day) && hit(3, month) && dow
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .fields
            .iter()
            .map(|items| {
                items
                    .iter()
                    .map(|item| match *item {
                        Item::Every { step: 1 } => "*".to_string(),
                        Item::Every { step } => format!("*/{step}"),
                        Item::Span { from, to, step: 1 } if from == to => from.to_string(),
                        Item::Span { from, to, step: 1 } => format!("{from}-{to}"),
                        Item::Span { from, to, step } => format!("{from}-{to}/{step}"),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        f.write_str(&words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let c: Cron = "0 3 * * mon-fri".parse().unwrap();
        assert_eq!(c.to_string(), "0 3 * * 1-5");
        assert!(c.matches(0, 3, 10, 6, 2));
        assert!(!c.matches(0, 3, 10, 6, 6));
        assert_eq!(
            "*/15 * * * *".parse::<Cron>().unwrap().to_string(),
            "*/15 * * * *"
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "@daily",
            "0 3",
            "60 * * * *",
            "* * * 13 *",
            "5-1 * * * *",
            "*/0 * * * *",
        ] {
            assert!(bad.parse::<Cron>().is_err(), "{bad}");
        }
    }

    #[test]
    fn item_errors_keep_their_messages() {
        let message = |text: &str| text.parse::<Cron>().unwrap_err().message;
        assert_eq!(message("*/0 * * * *"), "bad step `0`");
        assert_eq!(message("0 25 * * *"), "`25` is not a valid hour (0-23)");
        assert_eq!(message("0 0 * 5-2 *"), "range `5-2` is reversed");
    }
}
