//! `DiskSpec`: `100GB`, `100GB..`, `..1TB`, `200` (GB), or `{size: ...}`.

use std::fmt;
use std::str::FromStr;

use super::{GrammarError, Memory, Range};

/// Disk size wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DiskSpec {
    /// The size range.
    pub size: Range<Memory>,
}

impl Default for DiskSpec {
    /// dstack's default: `100GB..`.
    fn default() -> Self {
        Self {
            size: Range::at_least(Memory::from_gb(100)),
        }
    }
}

impl FromStr for DiskSpec {
    type Err = GrammarError;

    fn from_str(text: &str) -> Result<Self, GrammarError> {
        Range::parse_with(text, |t| t.parse::<Memory>()).map(|size| Self { size })
    }
}

impl fmt::Display for DiskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.size.fmt(f)
    }
}
