//! Why the runner refuses a submission: one error per rule of `validate`,
//! each naming the field and what to do. A leaf: the executors and the
//! submit checks both use it, and it uses neither.

/// Why a submission is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    /// No idempotency token.
    #[error("the submission has no token")]
    NoToken,
    /// The executor cannot run it (its own words).
    #[error("{0}")]
    Executor(String),
    /// A Docker job without an image.
    #[error("the Docker executor needs an image")]
    NoImage,
    /// An archive name that is not a SHA-256.
    #[error("`{0}` is not a lowercase hex SHA-256")]
    BadSha(String),
    /// An archive that was never uploaded.
    #[error("archive {sha} ({label}) was not uploaded; PUT it to /api/archives/{sha} first")]
    NotUploaded { sha: String, label: String },
    /// A path climbing out of the working directory.
    #[error("path `{0}` goes up with `..`; use a path inside the working directory")]
    GoesUp(String),
    /// A mount whose host side is relative (it would depend on the
    /// runner's working directory, and Docker refuses it).
    #[error(
        "mounts[{index}].source `{path}` is a relative path; give the absolute path of the host directory"
    )]
    RelativeSource { index: usize, path: String },
    /// A mount whose job side is relative.
    #[error("mounts[{index}].target `{target}` is not an absolute path in the job")]
    RelativeTarget { index: usize, target: String },
    /// A limit the executor cannot represent.
    #[error("limits.{field} is {value}: {why}")]
    Limit {
        field: &'static str,
        value: String,
        why: &'static str,
    },
}
