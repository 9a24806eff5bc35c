//! The harness's one error type: what failed, on which host, and what to do.
//!
//! Every variant names the command or the host involved; a machine that
//! cannot run test hosts at all gets [`HarnessError::Unsupported`] with the
//! missing piece and the hint to run `.ci/ssh-up`.

use std::path::PathBuf;

/// Why a test host could not be set up, changed or inspected.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The machine lacks something the harness needs (a binary, a user,
    /// root, the permission to create namespaces).
    #[error(
        "test hosts cannot run on this machine: {missing}; run `bash .ci/ssh-up` (as root) to install and prepare it"
    )]
    Unsupported {
        /// What is missing, in words.
        missing: String,
    },
    /// A command the harness ran failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, for the reader.
        command: String,
        /// Exit status or signal, as text.
        status: String,
        /// What it wrote to stderr (trimmed).
        stderr: String,
    },
    /// A command could not be started at all.
    #[error("cannot run `{command}`")]
    Spawn {
        /// The program.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file of the harness could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Every slot (namespace name and subnet) is taken by live test processes.
    #[error(
        "all {slots} test-host slots are in use by running test processes (locks under {lock_dir})"
    )]
    NoFreeSlot {
        /// How many slots there are.
        slots: u32,
        /// Where the locks are.
        lock_dir: PathBuf,
    },
    /// A host did not come up (sshd exited or never listened).
    #[error("host {host}: {what}; sshd log:\n{log}")]
    HostStart {
        /// The host's name in its spec.
        host: String,
        /// What went wrong.
        what: String,
        /// The tail of its sshd log.
        log: String,
    },
    /// The host specs given to the builder contradict each other.
    #[error("invalid host set: {0}")]
    Spec(String),
    /// Waiting for something on a host took too long.
    #[error("host {host}: {what}")]
    Timeout {
        /// The host's name in its spec.
        host: String,
        /// What was awaited.
        what: String,
    },
}

impl HarnessError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
