//! The transport's one error type: which host, what kind of failure, and
//! what to do about it. Callers decide by [`ErrorKind`], never by text.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why a host could not be reached (or stopped answering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// No answer within the connect timeout (or during the handshake).
    Timeout(Duration),
    /// Nothing listens on the port (or a jump host was refused by it).
    Refused,
    /// No route to the host's address.
    NoRoute,
    /// The host name does not resolve.
    Resolve,
    /// An established connection went silent: keep-alives were not answered.
    KeepaliveLost,
    /// A jump host could not open a connection to the next hop.
    ForwardFailed,
    /// Another network error.
    Network,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(after) => write!(f, "connection timed out after {}", humane(*after)),
            Self::Refused => f.write_str("connection refused"),
            Self::NoRoute => f.write_str("no route to host"),
            Self::Resolve => f.write_str("host name does not resolve"),
            Self::KeepaliveLost => f.write_str("connection lost: keep-alives went unanswered"),
            Self::ForwardFailed => f.write_str("the jump host could not connect to it"),
            Self::Network => f.write_str("network error"),
        }
    }
}

fn humane(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

/// What is wrong with an identity (private key) file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityProblem {
    /// It cannot be read.
    Unreadable,
    /// It is protected by a passphrase, which dstack cannot type.
    Encrypted,
    /// It is not a private key dstack can use.
    Invalid,
}

/// The kind of an [`SshError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The host (or a jump host) could not be reached.
    Unreachable(Unreachable),
    /// The host refused the user's key.
    AuthRefused {
        /// The user that tried.
        user: String,
    },
    /// The host presented a different key than the one pinned for it.
    HostKeyChanged {
        /// Fingerprint of the pinned key.
        expected: String,
        /// Fingerprint of the key presented now.
        observed: String,
    },
    /// The identity file is unusable.
    Identity {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: IdentityProblem,
    },
    /// A channel could not be opened or a command not started.
    Channel,
    /// The connection ended (closed by the host or broken).
    Disconnected,
    /// The operation did not finish in time; the connection may be fine.
    Timeout(Duration),
    /// A remote step of a helper failed (e.g. an upload's checksum).
    Remote,
    /// The SSH protocol itself failed (no common algorithm, bad packet).
    Protocol,
    /// The caller passed something unusable (e.g. a path with a NUL byte).
    InvalidInput,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(why) => write!(f, "cannot connect: {why}"),
            Self::AuthRefused { user } => write!(f, "authentication refused for user {user}"),
            Self::HostKeyChanged { expected, observed } => write!(
                f,
                "host key changed: pinned {expected}, presented {observed}; if the host was \
                 reinstalled, verify the new key and update the pinned one"
            ),
            Self::Identity { path, problem } => match problem {
                IdentityProblem::Unreadable => {
                    write!(f, "cannot read identity file {}", path.display())
                }
                IdentityProblem::Encrypted => write!(
                    f,
                    "identity file {} is passphrase-protected; use an unencrypted key \
                     (e.g. a copy decrypted with `ssh-keygen -p -N '' -f COPY`)",
                    path.display()
                ),
                IdentityProblem::Invalid => write!(
                    f,
                    "identity file {} is not an OpenSSH, PEM or PKCS#8 private key \
                     (ed25519, ECDSA or RSA)",
                    path.display()
                ),
            },
            Self::Channel => f.write_str("channel failure"),
            Self::Disconnected => f.write_str("disconnected"),
            Self::Timeout(after) => write!(f, "timed out after {}", humane(*after)),
            Self::Remote => f.write_str("remote step failed"),
            Self::Protocol => f.write_str("ssh protocol error"),
            Self::InvalidInput => f.write_str("invalid input"),
        }
    }
}

type Source = Arc<dyn std::error::Error + Send + Sync>;

/// A failure talking to one host over SSH. Cheap to clone (a pool hands the
/// same error to every caller that waited on one failed connect).
#[derive(Debug, Clone)]
pub struct SshError {
    host: String,
    kind: ErrorKind,
    detail: Option<String>,
    source: Option<Source>,
}

impl SshError {
    pub(crate) fn new(host: impl Into<String>, kind: ErrorKind) -> Self {
        Self {
            host: host.into(),
            kind,
            detail: None,
            source: None,
        }
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The host, as `user@host:port` (with its jump hosts, if any).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// More about it (e.g. a remote command's stderr), if known.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// Whether the host could not be reached (or stopped answering), as
    /// opposed to refusing us.
    pub fn is_unreachable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unreachable(_))
    }
}

impl fmt::Display for SshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ssh {}: {}", self.host, self.kind)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SshError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: SshError, expect: &str) {
        assert_eq!(error.to_string(), expect);
    }

    #[test]
    fn messages_name_the_host_and_say_what_to_do() {
        check(
            SshError::new(
                "root@10.0.0.2:22",
                ErrorKind::Unreachable(Unreachable::Timeout(Duration::from_secs(5))),
            ),
            "ssh root@10.0.0.2:22: cannot connect: connection timed out after 5s",
        );
        check(
            SshError::new(
                "ubuntu@gpu-1:2222",
                ErrorKind::HostKeyChanged {
                    expected: "SHA256:old".into(),
                    observed: "SHA256:new".into(),
                },
            ),
            "ssh ubuntu@gpu-1:2222: host key changed: pinned SHA256:old, presented SHA256:new; \
             if the host was reinstalled, verify the new key and update the pinned one",
        );
        check(
            SshError::new(
                "a@h:22",
                ErrorKind::Identity {
                    path: "/k/id".into(),
                    problem: IdentityProblem::Encrypted,
                },
            ),
            "ssh a@h:22: identity file /k/id is passphrase-protected; use an unencrypted key \
             (e.g. a copy decrypted with `ssh-keygen -p -N '' -f COPY`)",
        );
        check(
            SshError::new("a@h:22", ErrorKind::Remote).with_detail("checksum mismatch"),
            "ssh a@h:22: remote step failed: checksum mismatch",
        );
        check(
            SshError::new("a@h:22", ErrorKind::Timeout(Duration::from_millis(1500))),
            "ssh a@h:22: timed out after 1.5s",
        );
    }
}
