//! Where to connect: a host (endpoint) reached through an optional chain of
//! jump hosts, each with its own user, port, key and pinned host key; and
//! the connection's timing options.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::hostkey::HostKey;

/// One SSH server: the target itself or a jump host on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// SSH port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// OpenSSH, PEM or PKCS#8 private key (unencrypted).
    pub identity_file: PathBuf,
    /// The host key recorded for it; `None` on first use (the observed key
    /// is returned for the caller to record).
    pub host_key: Option<HostKey>,
}

impl Endpoint {
    /// `user@host:22` with `identity_file`, no pinned key.
    pub fn new(
        host: impl Into<String>,
        user: impl Into<String>,
        identity_file: impl Into<PathBuf>,
    ) -> Self {
        Self {
            host: host.into(),
            port: 22,
            user: user.into(),
            identity_file: identity_file.into(),
            host_key: None,
        }
    }

    /// Sets the port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Pins the host key: a host presenting another key is refused.
    pub fn pinned(mut self, key: Option<HostKey>) -> Self {
        self.host_key = key;
        self
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

/// A host and the jump hosts (`proxy_jump`) to reach it through, outermost
/// first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host itself.
    pub endpoint: Endpoint,
    /// Jump hosts, in the order they are connected (the first is reached
    /// directly).
    pub jumps: Vec<Endpoint>,
}

impl Target {
    /// A host reached directly.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            jumps: Vec::new(),
        }
    }

    /// Adds a jump host after those already added.
    pub fn via(mut self, jump: Endpoint) -> Self {
        self.jumps.push(jump);
        self
    }

    /// Every endpoint in connection order (jumps, then the host).
    pub fn hops(&self) -> impl Iterator<Item = &Endpoint> {
        self.jumps.iter().chain(std::iter::once(&self.endpoint))
    }

    pub(crate) fn hops_mut(&mut self) -> impl Iterator<Item = &mut Endpoint> {
        self.jumps
            .iter_mut()
            .chain(std::iter::once(&mut self.endpoint))
    }

    /// What errors call the host: `user@host:port`, with `(via ...)` for jumps.
    pub fn label(&self) -> String {
        label_of(&self.endpoint, &self.jumps)
    }

    /// The identity of the connection a pool shares: host, port and user of
    /// every hop (keys and pins are not part of it).
    pub fn pool_key(&self) -> Vec<(String, u16, String)> {
        self.hops()
            .map(|hop| (hop.host.clone(), hop.port, hop.user.clone()))
            .collect()
    }
}

pub(crate) fn label_of(endpoint: &Endpoint, jumps: &[Endpoint]) -> String {
    if jumps.is_empty() {
        return endpoint.to_string();
    }
    let via: Vec<String> = jumps.iter().map(Endpoint::to_string).collect();
    format!("{endpoint} (via {})", via.join(", "))
}

/// Timing of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Bound on reaching and authenticating to each hop.
    pub connect_timeout: Duration,
    /// How often an idle connection sends a keep-alive.
    pub keepalive_interval: Duration,
    /// Unanswered keep-alives after which the connection counts as lost.
    pub keepalive_max: u32,
    /// At most this many session channels (commands, uploads) at once on
    /// one connection; OpenSSH's default `MaxSessions` is 10. Tunnelled TCP
    /// connections do not count.
    pub max_sessions: usize,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
            keepalive_max: 3,
            max_sessions: 8,
        }
    }
}
