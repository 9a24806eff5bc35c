//! Resource addresses: the stable identity of everything dstack manages,
//! e.g. `fleet/gpu-pool`, `fleet/gpu-pool/instance/0`, `volume/data`,
//! `gateway/main`, `run/train`, `run/train/job/0`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What kind of thing an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKind {
    /// A fleet (pool of instances).
    Fleet,
    /// One instance of a fleet.
    Instance,
    /// A network volume.
    Volume,
    /// A gateway.
    Gateway,
    /// A run (task, service or dev environment).
    Run,
    /// One job of a run.
    Job,
}

impl ResourceKind {
    /// The lowercase word used in addresses and output.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Fleet => "fleet",
            Self::Instance => "instance",
            Self::Volume => "volume",
            Self::Gateway => "gateway",
            Self::Run => "run",
            Self::Job => "job",
        }
    }

    /// Parses the lowercase word.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "fleet" => Self::Fleet,
            "instance" => Self::Instance,
            "volume" => Self::Volume,
            "gateway" => Self::Gateway,
            "run" => Self::Run,
            "job" => Self::Job,
            _ => return None,
        })
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The address of a managed resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceAddr {
    /// `fleet/NAME`.
    Fleet(String),
    /// `fleet/NAME/instance/N`.
    Instance(String, u32),
    /// `volume/NAME`.
    Volume(String),
    /// `gateway/NAME`.
    Gateway(String),
    /// `run/NAME`.
    Run(String),
    /// `run/NAME/job/N`.
    Job(String, u32),
}

impl ResourceAddr {
    /// The kind named.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Self::Fleet(_) => ResourceKind::Fleet,
            Self::Instance(..) => ResourceKind::Instance,
            Self::Volume(_) => ResourceKind::Volume,
            Self::Gateway(_) => ResourceKind::Gateway,
            Self::Run(_) => ResourceKind::Run,
            Self::Job(..) => ResourceKind::Job,
        }
    }

    /// The top-level name (fleet, volume, gateway or run name).
    pub fn name(&self) -> &str {
        match self {
            Self::Fleet(n)
            | Self::Instance(n, _)
            | Self::Volume(n)
            | Self::Gateway(n)
            | Self::Run(n)
            | Self::Job(n, _) => n,
        }
    }

    /// The owning resource: an instance's fleet, a job's run.
    pub fn parent(&self) -> Option<ResourceAddr> {
        match self {
            Self::Instance(n, _) => Some(Self::Fleet(n.clone())),
            Self::Job(n, _) => Some(Self::Run(n.clone())),
            _ => None,
        }
    }

    /// The index of an instance or job.
    pub fn index(&self) -> Option<u32> {
        match self {
            Self::Instance(_, i) | Self::Job(_, i) => Some(*i),
            _ => None,
        }
    }

    /// The key range holding this resource's children in an address-ordered
    /// map (instances of a fleet, jobs of a run).
    pub fn children(&self) -> Option<std::ops::RangeInclusive<ResourceAddr>> {
        match self {
            Self::Fleet(n) => {
                Some(Self::Instance(n.clone(), 0)..=Self::Instance(n.clone(), u32::MAX))
            }
            Self::Run(n) => Some(Self::Job(n.clone(), 0)..=Self::Job(n.clone(), u32::MAX)),
            _ => None,
        }
    }

    /// True when `self` is `other` or one of its children.
    pub fn is_within(&self, other: &ResourceAddr) -> bool {
        self == other || self.parent().as_ref() == Some(other)
    }
}

impl fmt::Display for ResourceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fleet(n) => write!(f, "fleet/{n}"),
            Self::Instance(n, i) => write!(f, "fleet/{n}/instance/{i}"),
            Self::Volume(n) => write!(f, "volume/{n}"),
            Self::Gateway(n) => write!(f, "gateway/{n}"),
            Self::Run(n) => write!(f, "run/{n}"),
            Self::Job(n, i) => write!(f, "run/{n}/job/{i}"),
        }
    }
}

/// Why a text is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a resource address (e.g. fleet/NAME, fleet/NAME/instance/0, volume/NAME, gateway/NAME, run/NAME, run/NAME/job/0)"
)]
pub struct AddrError(pub String);

impl FromStr for ResourceAddr {
    type Err = AddrError;

    fn from_str(text: &str) -> Result<Self, AddrError> {
        let bad = || AddrError(text.to_string());
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let index = |s: &str| s.parse::<u32>().map_err(|_| bad());
        Ok(match parts.as_slice() {
            ["fleet", n] => Self::Fleet(n.to_string()),
            ["fleet", n, "instance", i] => Self::Instance(n.to_string(), index(i)?),
            ["volume", n] => Self::Volume(n.to_string()),
            ["gateway", n] => Self::Gateway(n.to_string()),
            ["run", n] => Self::Run(n.to_string()),
            ["run", n, "job", i] => Self::Job(n.to_string(), index(i)?),
            _ => return Err(bad()),
        })
    }
}

impl Serialize for ResourceAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for ResourceKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ResourceKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown resource kind `{text}`")))
    }
}

impl schemars::JsonSchema for ResourceAddr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ResourceAddr".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(fleet/[^/]+(/instance/[0-9]+)?|volume/[^/]+|gateway/[^/]+|run/[^/]+(/job/[0-9]+)?)$"
        })
    }
}

impl schemars::JsonSchema for ResourceKind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ResourceKind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "enum": ["fleet", "instance", "volume", "gateway", "run", "job"] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for text in [
            "fleet/a",
            "fleet/a/instance/3",
            "volume/v",
            "gateway/g",
            "run/r",
            "run/r/job/0",
        ] {
            let addr: ResourceAddr = text.parse().unwrap();
            assert_eq!(addr.to_string(), text);
        }
        assert!("fleet".parse::<ResourceAddr>().is_err());
        assert!("fleet/a/instance/x".parse::<ResourceAddr>().is_err());
        assert!("run//job/1".parse::<ResourceAddr>().is_err());
    }

    #[test]
    fn parents() {
        let job: ResourceAddr = "run/r/job/1".parse().unwrap();
        assert_eq!(job.parent(), Some(ResourceAddr::Run("r".into())));
        assert!(job.is_within(&ResourceAddr::Run("r".into())));
    }
}
