//! `PortMapping`: `8000`, `"8080:80"` (local:container), `"*:8080"` (spec §3.5).

use std::fmt;
use std::str::FromStr;

use super::{GrammarError, trim_with_offset};

/// A container port and the local port it is reached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortMapping {
    /// Local port; `None` means picked automatically (`*`).
    pub local: Option<u16>,
    /// Port inside the container.
    pub container: u16,
}

impl PortMapping {
    /// The same port on both sides.
    pub fn same(port: u16) -> Self {
        Self {
            local: Some(port),
            container: port,
        }
    }
}

fn port_help() -> &'static str {
    "a port is `8000`, `LOCAL:CONTAINER` such as `8080:80`, or `*:8080` for any local port"
}

/// Parses one port number (1..=65535) at `offset` of the enclosing text.
pub(crate) fn parse_port(text: &str, offset: usize) -> Result<u16, GrammarError> {
    let (lead, t) = trim_with_offset(text);
    let at = offset + lead;
    let bad = |msg: String| GrammarError::at(at, t.len(), msg).help(port_help());
    if t.is_empty() {
        return Err(bad("missing port number".into()));
    }
    if let Some(digits) = t.strip_prefix('-')
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad(format!("port cannot be negative: `{t}`")));
    }
    if !t.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad(format!("`{t}` is not a port number")));
    }
    match t.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(bad(format!("port `{t}` is out of range 1..65535"))),
    }
}

impl FromStr for PortMapping {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            [port] => parse_port(port, 0).map(Self::same),
            [local, container] => {
                let container_at = local.len() + 1;
                let local = if local.trim() == "*" {
                    None
                } else {
                    Some(parse_port(local, 0)?)
                };
                Ok(Self {
                    local,
                    container: parse_port(container, container_at)?,
                })
            }
            _ => Err(GrammarError::whole(format!(
                "`{}` has too many `:` for a port mapping",
                text.trim()
            ))
            .help(port_help())),
        }
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.local {
            Some(local) if local == self.container => write!(f, "{local}"),
            Some(local) => write!(f, "{local}:{}", self.container),
            None => write!(f, "*:{}", self.container),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = |t: &str| t.parse::<PortMapping>().unwrap();
        assert_eq!(p("8000"), PortMapping::same(8000));
        assert_eq!(p("8080:80").container, 80);
        assert_eq!(p("*:8080").local, None);
        assert_eq!(p("8080:80").to_string(), "8080:80");
    }

    #[test]
    fn rejects() {
        for bad in [
            "0",
            "70000",
            ":80",
            "abc",
            "8080:",
            "abc:80",
            "-1",
            "8000:8000:8000",
            "8000/tcp",
        ] {
            assert!(bad.parse::<PortMapping>().is_err(), "{bad}");
        }
        let err = "8080:".parse::<PortMapping>().unwrap_err();
        assert!(err.message.contains("missing"), "{}", err.message);
    }
}
