//! Resource names (`^[a-z][a-z0-9-]{1,40}$`) and group names.

use std::fmt;
use std::str::FromStr;

use super::GrammarError;

/// The name of a run, fleet, volume or gateway: 2-41 characters, lowercase
/// letters, digits and `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceName(String);

impl ResourceName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The naming rule: 2-41 characters of lowercase letters, digits and `-`,
/// starting with a letter.
fn is_valid_name(text: &str) -> bool {
    (2..=41).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A valid name close to `text`, for the error's example: lowercased, other
/// characters as `-`, a letter first, cut to 41 characters, lengthened to 2.
fn suggest_name(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "r-");
    }
    out.truncate(41);
    let mut out = out.trim_end_matches('-').to_string();
    if out.len() < 2 {
        out.push_str("-1");
    }
    if is_valid_name(&out) {
        out
    } else {
        "my-run".to_string()
    }
}

impl FromStr for ResourceName {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        if is_valid_name(text) {
            Ok(Self(text.to_string()))
        } else {
            Err(GrammarError::whole(format!("`{text}` is not a valid name"))
                .help(format!(
                    "names are 2-41 characters of lowercase letters, digits and `-`, starting with a letter, e.g. `{}`",
                    suggest_name(text)
                )))
        }
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a node group or replica group: 1-40 characters of lowercase
/// letters, digits and `-`, not starting with `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupName(String);

impl GroupName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for GroupName {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let valid = !text.is_empty()
            && text.len() <= 40
            && !text.starts_with('-')
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(Self(text.to_string()))
        } else {
            Err(
                GrammarError::whole(format!("`{text}` is not a valid group name"))
                    .help("group names are 1-40 characters of lowercase letters, digits and `-`"),
            )
        }
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!("train-1".parse::<ResourceName>().is_ok());
        assert!("a".parse::<ResourceName>().is_err());
        assert!("1abc".parse::<ResourceName>().is_err());
        let err = "My Run!".parse::<ResourceName>().unwrap_err();
        assert!(err.help.unwrap().contains("`my-run`"));
    }

    #[test]
    fn suggestions_are_valid_names() {
        let cases = [
            ("r", "r-1"),
            ("R", "r-1"),
            ("", "r-1"),
            ("-", "r-1"),
            ("1abc", "r-1abc"),
            ("My_Train", "my-train"),
            ("__x__", "x-1"),
            ("ünïcode", "n-code"),
        ];
        for (bad, suggested) in cases {
            assert_eq!(suggest_name(bad), suggested, "{bad:?}");
        }
        let long = "a".repeat(60);
        assert_eq!(suggest_name(&long).len(), 41);
    }
}
