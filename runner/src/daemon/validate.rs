//! What a submission must satisfy before the runner accepts it: a token,
//! what its executor needs, uploaded archives, paths that stay inside the
//! job, absolute mount sources, and limits the engine can represent. Each
//! refusal names the submission's field and what to do; the HTTP layer
//! answers it with a 400.

use std::path::Path;

use super::invalid::Invalid;
use super::{Shared, executor};
use crate::api::{JobSubmission, Limits};

/// Bytes in a MB as the Docker executor counts them.
pub const MB: i64 = 1_000_000;

/// Checks a submission against this runner.
pub fn check(shared: &Shared, sub: &JobSubmission) -> Result<(), Invalid> {
    if sub.token.trim().is_empty() {
        return Err(Invalid::NoToken);
    }
    executor::of(sub.executor).check(sub)?;
    for archive in &sub.archives {
        check_sha(&archive.archive)?;
        if !shared.layout.archive(&archive.archive).is_file() {
            return Err(Invalid::NotUploaded {
                sha: archive.archive.clone(),
                label: archive.label.clone(),
            });
        }
    }
    let paths = sub
        .artifacts
        .iter()
        .chain(sub.archives.iter().map(|a| &a.path));
    if let Some(path) = paths
        .into_iter()
        .find(|p| p.split('/').any(|part| part == ".."))
    {
        return Err(Invalid::GoesUp(path.clone()));
    }
    check_mounts(sub)?;
    check_limits(&sub.limits)
}

/// An archive name: 64 lowercase hex digits.
pub fn check_sha(sha: &str) -> Result<(), Invalid> {
    let hex = sha
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if sha.len() == 64 && hex {
        Ok(())
    } else {
        Err(Invalid::BadSha(sha.to_string()))
    }
}

fn check_mounts(sub: &JobSubmission) -> Result<(), Invalid> {
    for (index, m) in sub.mounts.iter().enumerate() {
        if !Path::new(&m.source).is_absolute() {
            return Err(Invalid::RelativeSource {
                index,
                path: m.source.clone(),
            });
        }
        if !m.target.starts_with('/') {
            return Err(Invalid::RelativeTarget {
                index,
                target: m.target.clone(),
            });
        }
    }
    Ok(())
}

/// Bytes of `mb` MB as the engine takes them, when they fit.
pub fn mb_bytes(mb: u64) -> Option<i64> {
    i64::try_from(mb).ok()?.checked_mul(MB)
}

fn check_limits(limits: &Limits) -> Result<(), Invalid> {
    if let Some(cpus) = limits.cpus
        && !(cpus.is_finite() && cpus > 0.0 && cpus * 1e9 < i64::MAX as f64)
    {
        return Err(Invalid::Limit {
            field: "cpus",
            value: cpus.to_string(),
            why: "give a number of CPUs greater than 0 (fractions allowed)",
        });
    }
    for (field, mb) in [("memory_mb", limits.memory_mb), ("shm_mb", limits.shm_mb)] {
        if let Some(mb) = mb
            && mb_bytes(mb).is_none()
        {
            return Err(Invalid::Limit {
                field,
                value: mb.to_string(),
                why: "more bytes than the engine can count; give a size in MB below 9223372036854",
            });
        }
    }
    Ok(())
}
