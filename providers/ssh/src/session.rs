//! One SSH connection to a host, through its jump hosts: connecting with
//! bounded time, pinning host keys, authenticating with the identity file,
//! and telling a lost connection apart from a closed one.

use std::sync::Arc;

use russh::client::{self, Handle};
use russh::keys::PrivateKeyWithHashAlg;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::error::{ErrorKind, SshError, Unreachable};
use crate::handler::{Ended, Handler, HandlerError, Shared};
use crate::hostkey::HostKey;
use crate::identity;
use crate::target::{ConnectOptions, Endpoint, Target, label_of};

/// A connected, authenticated SSH connection. Cheap to clone; every clone
/// shares the one connection (and its jump connections).
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) label: String,
    pub(crate) handle: Handle<Handler>,
    /// The jump connections, outermost first; kept open for the tunnel
    /// the final connection runs in.
    jumps: Vec<Handle<Handler>>,
    /// One per hop, in connection order.
    observed: Vec<Shared>,
    pub(crate) sessions: Arc<Semaphore>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.inner.label)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Session {
    /// Connects to `target` through its jump hosts. Each hop gets
    /// `connect_timeout` to answer, prove its host key and accept the key.
    pub async fn connect(target: &Target, options: &ConnectOptions) -> Result<Self, SshError> {
        let config = Arc::new(client::Config {
            keepalive_interval: Some(options.keepalive_interval),
            keepalive_max: options.keepalive_max as usize,
            inactivity_timeout: None,
            nodelay: true,
            ..client::Config::default()
        });
        let hops: Vec<&Endpoint> = target.hops().collect();
        let mut handles: Vec<Handle<Handler>> = Vec::with_capacity(hops.len());
        let mut observed = Vec::with_capacity(hops.len());
        for (index, hop) in hops.iter().enumerate() {
            let label = label_of(hop, &target.jumps[..index]);
            let shared = Shared::default();
            let attempt = connect_hop(handles.last(), hop, &label, &config, shared.clone());
            let handle = tokio::time::timeout(options.connect_timeout, attempt)
                .await
                .map_err(|_| {
                    SshError::new(
                        &label,
                        ErrorKind::Unreachable(Unreachable::Timeout(options.connect_timeout)),
                    )
                })??;
            handles.push(handle);
            observed.push(shared);
        }
        let handle = handles.pop().expect("a target has at least one hop");
        Ok(Self {
            inner: Arc::new(Inner {
                label: target.label(),
                handle,
                jumps: handles,
                observed,
                sessions: Arc::new(Semaphore::new(options.max_sessions.max(1))),
            }),
        })
    }

    /// `user@host:port (via ...)`.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// The key the host presented (to record on first use).
    pub fn host_key(&self) -> HostKey {
        self.host_keys()
            .pop()
            .expect("a connected session has seen its host's key")
    }

    /// The keys every hop presented: jump hosts first, then the host.
    pub fn host_keys(&self) -> Vec<HostKey> {
        self.inner
            .observed
            .iter()
            .filter_map(|shared| {
                shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .host_key
                    .clone()
            })
            .collect()
    }

    /// Whether the connection (or one it runs through) has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.handle.is_closed() || self.inner.jumps.iter().any(Handle::is_closed)
    }

    /// Asks the host for a keep-alive reply within `patience`: proves the
    /// connection still carries traffic.
    pub async fn ping(&self, patience: std::time::Duration) -> Result<(), SshError> {
        match tokio::time::timeout(patience, self.inner.handle.send_ping()).await {
            Ok(Ok(())) if !self.is_closed() => Ok(()),
            Ok(_) => Err(self.lost()),
            Err(_) => Err(SshError::new(
                self.label(),
                ErrorKind::Unreachable(Unreachable::Timeout(patience)),
            )
            .with_detail("no reply to a keep-alive")),
        }
    }

    /// Closes the connection (and its jump connections).
    pub async fn disconnect(&self) {
        let _ = self
            .inner
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
        for jump in self.inner.jumps.iter().rev() {
            let _ = jump
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }

    /// The error for a connection that has ended: unreachable when it went
    /// silent, disconnected otherwise.
    pub(crate) fn lost(&self) -> SshError {
        let ended: Vec<Ended> = self
            .inner
            .observed
            .iter()
            .filter_map(|shared| {
                shared
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .ended
                    .clone()
            })
            .collect();
        if ended.contains(&Ended::KeepaliveLost) {
            return SshError::new(
                self.label(),
                ErrorKind::Unreachable(Unreachable::KeepaliveLost),
            );
        }
        let error = SshError::new(self.label(), ErrorKind::Disconnected);
        match ended.into_iter().next() {
            Some(Ended::Closed(why)) => error.with_detail(why),
            _ => error,
        }
    }

    /// Maps a russh error of an established connection.
    pub(crate) fn fail(&self, error: russh::Error, kind: ErrorKind) -> SshError {
        if self.is_closed() {
            return self.lost();
        }
        SshError::new(self.label(), kind).with_source(error)
    }
}

/// Reaches one hop (directly, or through the previous hop's connection),
/// checks its host key and logs in.
async fn connect_hop(
    previous: Option<&Handle<Handler>>,
    hop: &Endpoint,
    label: &str,
    config: &Arc<client::Config>,
    observed: Shared,
) -> Result<Handle<Handler>, SshError> {
    let key = identity::load(&hop.identity_file, label)?;
    let handler = Handler::new(hop.host_key.clone(), observed.clone());
    let connected = match previous {
        None => {
            let stream = tcp_connect(hop, label).await?;
            client::connect_stream(config.clone(), stream, handler).await
        }
        Some(previous) => {
            let channel = previous
                .channel_open_direct_tcpip(hop.host.clone(), u32::from(hop.port), "127.0.0.1", 0)
                .await
                .map_err(|e| forward_error(e, label))?;
            client::connect_stream(config.clone(), channel.into_stream(), handler).await
        }
    };
    let mut handle = connected.map_err(|e| handshake_error(e, hop, label, &observed))?;
    authenticate(&mut handle, hop, key, label).await?;
    Ok(handle)
}

async fn tcp_connect(hop: &Endpoint, label: &str) -> Result<TcpStream, SshError> {
    let unreachable = |why| SshError::new(label, ErrorKind::Unreachable(why));
    let addrs: Vec<_> = tokio::net::lookup_host((hop.host.as_str(), hop.port))
        .await
        .map_err(|e| unreachable(Unreachable::Resolve).with_source(e))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = Some(error),
        }
    }
    Err(match last {
        Some(error) => unreachable(classify_io(&error)).with_source(error),
        None => unreachable(Unreachable::Resolve),
    })
}

fn classify_io(error: &std::io::Error) -> Unreachable {
    use std::io::ErrorKind as Io;
    match error.kind() {
        Io::ConnectionRefused => Unreachable::Refused,
        Io::HostUnreachable | Io::NetworkUnreachable => Unreachable::NoRoute,
        _ => Unreachable::Network,
    }
}

fn forward_error(error: russh::Error, label: &str) -> SshError {
    let kind = match &error {
        russh::Error::ChannelOpenFailure(russh::ChannelOpenFailure::ConnectFailed) => {
            ErrorKind::Unreachable(Unreachable::ForwardFailed)
        }
        russh::Error::ChannelOpenFailure(_) => ErrorKind::Channel,
        _ => ErrorKind::Disconnected,
    };
    let error = SshError::new(label, kind).with_source(error);
    match error.kind() {
        ErrorKind::Channel => error.with_detail("the jump host does not allow TCP forwarding"),
        _ => error,
    }
}

fn handshake_error(
    error: HandlerError,
    hop: &Endpoint,
    label: &str,
    observed: &Shared,
) -> SshError {
    match error {
        HandlerError::HostKeyChanged => {
            let presented = observed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .host_key
                .clone();
            SshError::new(
                label,
                ErrorKind::HostKeyChanged {
                    expected: hop
                        .host_key
                        .as_ref()
                        .map(HostKey::fingerprint)
                        .unwrap_or_default(),
                    observed: presented
                        .as_ref()
                        .map(HostKey::fingerprint)
                        .unwrap_or_default(),
                },
            )
        }
        HandlerError::Ssh(error) => connection_error(error, label),
    }
}

/// Classifies a russh error of a connection being set up.
fn connection_error(error: russh::Error, label: &str) -> SshError {
    let kind = match &error {
        russh::Error::IO(io) => match classify_io(io) {
            Unreachable::Network => ErrorKind::Disconnected,
            other => ErrorKind::Unreachable(other),
        },
        russh::Error::KeepaliveTimeout => ErrorKind::Unreachable(Unreachable::KeepaliveLost),
        russh::Error::Disconnect | russh::Error::HUP | russh::Error::SendError => {
            ErrorKind::Disconnected
        }
        _ => ErrorKind::Protocol,
    };
    SshError::new(label, kind).with_source(error)
}

async fn authenticate(
    handle: &mut Handle<Handler>,
    hop: &Endpoint,
    key: russh::keys::PrivateKey,
    label: &str,
) -> Result<(), SshError> {
    let hash = if key.algorithm().is_rsa() {
        handle
            .best_supported_rsa_hash()
            .await
            .map_err(|e| connection_error(e, label))?
            .flatten()
    } else {
        None
    };
    let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
    let result = handle
        .authenticate_publickey(hop.user.clone(), key)
        .await
        .map_err(|e| connection_error(e, label))?;
    if result.success() {
        return Ok(());
    }
    Err(SshError::new(
        label,
        ErrorKind::AuthRefused {
            user: hop.user.clone(),
        },
    )
    .with_detail(format!(
        "the host does not accept the key in {}",
        hop.identity_file.display()
    )))
}
