//! The mini-grammars inside configuration values (spec §3): ranges, memory
//! sizes, GPU and CPU specs, durations, ports, env entries, volume mounts,
//! cron schedules and `${{ }}` templates.
//!
//! Each type parses from text with [`std::str::FromStr`] (errors point at a
//! byte range of that text) and prints back with `Display` in a form that
//! parses to the same value. Mapping forms (`{min: 1, max: 4}`) are handled in
//! `config::convert`. No type here knows about YAML nodes or files.

mod cpu;
mod cron;
mod disk;
mod duration;
mod env;
mod gpu;
mod gpu_names;
mod memory;
mod mount;
mod name;
mod port;
mod range;
mod template;

pub use cpu::{CpuArch, CpuSpec};
pub use cron::Cron;
pub use disk::DiskSpec;
pub use duration::{Duration, IdleDuration, MAX_DURATION_SECS, OffDuration};
pub use env::{EnvEntry, EnvValue, check_env_name};
pub(crate) use gpu::normalize_gpu_name;
pub use gpu::{ComputeCapability, GpuSpec, GpuVendor};
pub use gpu_names::{VendorConflict, vendor_conflict, vendor_of};
pub use memory::Memory;
pub use mount::{FileMapping, VolumeMount, check_mount_path};
pub use name::{GroupName, ResourceName};
pub use port::PortMapping;
pub use range::Range;
pub use template::{Template, TemplatePart, TemplateVar};

use std::fmt;

/// Why a piece of text did not parse, and which bytes of it are to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarError {
    /// Lowercase summary, e.g. "`eight` is not a GPU count".
    pub message: String,
    /// Byte offset of the offending part within the parsed text.
    pub offset: usize,
    /// Byte length of the offending part (0 = the whole text).
    pub len: usize,
    /// Advice, e.g. an example of the right form.
    pub help: Option<String>,
}

impl GrammarError {
    /// An error about the whole text.
    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            offset: 0,
            len: 0,
            help: None,
        }
    }

    /// An error about `len` bytes at `offset`.
    pub fn at(offset: usize, len: usize, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            offset,
            len,
            help: None,
        }
    }

    /// Adds advice.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Moves the blamed range `by` bytes to the right (for sub-parsers).
    pub fn shift(mut self, by: usize) -> Self {
        self.offset += by;
        self
    }
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GrammarError {}

/// Splits `text` on `sep`, yielding each part with its byte offset.
pub(crate) fn split_with_offsets(text: &str, sep: char) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    text.split(sep).map(move |part| {
        let start = offset;
        offset += part.len() + sep.len_utf8();
        (start, part)
    })
}

/// Trims ASCII whitespace, returning the trimmed text and how many bytes were
/// cut from the front.
pub(crate) fn trim_with_offset(text: &str) -> (usize, &str) {
    let trimmed_start = text.trim_start();
    (text.len() - trimmed_start.len(), trimmed_start.trim_end())
}

/// Parses a non-negative integer that fits `u32`, with a friendly error.
pub(crate) fn parse_count(text: &str, what: &str) -> Result<u32, GrammarError> {
    let (lead, t) = trim_with_offset(text);
    if t.starts_with('-') && t[1..].chars().all(|c| c.is_ascii_digit()) && t.len() > 1 {
        return Err(GrammarError::at(
            lead,
            t.len(),
            format!("{what} cannot be negative: `{t}`"),
        ));
    }
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
        return Err(GrammarError::at(
            lead,
            t.len(),
            format!("`{t}` is not a whole number ({what})"),
        ));
    }
    t.parse::<u32>()
        .map_err(|_| GrammarError::at(lead, t.len(), format!("{what} `{t}` is too large")))
}
