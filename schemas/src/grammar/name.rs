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

fn suggest_name(text: &str) -> String {
    let mut out: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-').to_string();
    if out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out
    } else {
        format!("r-{out}")
    }
}

impl FromStr for ResourceName {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let valid = text.len() >= 2
            && text.len() <= 41
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
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
}
