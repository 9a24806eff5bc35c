//! Env entries: `NAME=value`, `NAME=` and `NAME` (inherit from the CLI's
//! environment) (spec §3.6).

use std::fmt;
use std::str::FromStr;

use super::{GrammarError, Template};

/// The value side of an env entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EnvValue {
    /// A literal value, possibly with `${{ secrets.X }}` references.
    Set(Template),
    /// Taken from the environment of `dstack apply` at apply time.
    Inherit,
}

/// One `NAME[=value]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvEntry {
    /// Variable name.
    pub name: String,
    /// Its value.
    pub value: EnvValue,
}

/// Checks `^[A-Za-z_][A-Za-z0-9_]*$`.
pub fn check_env_name(name: &str) -> Result<(), GrammarError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(GrammarError::at(
            0,
            name.len(),
            format!("`{name}` is not a valid environment variable name"),
        )
        .help("names are letters, digits and `_`, not starting with a digit"))
    }
}

impl FromStr for EnvEntry {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        match text.split_once('=') {
            Some((name, value)) => {
                check_env_name(name)?;
                let value = value
                    .parse::<Template>()
                    .map_err(|e| e.shift(name.len() + 1))?;
                Ok(Self {
                    name: name.to_string(),
                    value: EnvValue::Set(value),
                })
            }
            None => {
                check_env_name(text)?;
                Ok(Self {
                    name: text.to_string(),
                    value: EnvValue::Inherit,
                })
            }
        }
    }
}

impl fmt::Display for EnvEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            EnvValue::Set(value) => write!(f, "{}={value}", self.name),
            EnvValue::Inherit => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let e = |t: &str| t.parse::<EnvEntry>().unwrap();
        assert_eq!(e("A=b=c").value, EnvValue::Set("b=c".parse().unwrap()));
        assert_eq!(e("A=").value, EnvValue::Set("".parse().unwrap()));
        assert_eq!(e("HF_TOKEN").value, EnvValue::Inherit);
        assert!("1A=x".parse::<EnvEntry>().is_err());
        assert!("A B".parse::<EnvEntry>().is_err());
    }
}
