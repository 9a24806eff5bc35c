//! Reaching a TCP port on a host's loopback through its SSH connection:
//! [`RemoteStream`] (one `direct-tcpip` channel, for a custom connector) and
//! [`Tunnel`] (a local listener on `127.0.0.1:<ephemeral>` whose every
//! connection becomes such a channel, for clients that want a URL).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use russh::ChannelStream;
use russh::client::Msg;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::error::{ErrorKind, SshError};
use crate::session::Session;

/// A byte stream to a port on the host, carried by the SSH connection.
pub struct RemoteStream(ChannelStream<Msg>);

impl std::fmt::Debug for RemoteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RemoteStream")
    }
}

impl AsyncRead for RemoteStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RemoteStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Session {
    /// Opens a stream to `host:port` as seen from the host (use
    /// `"127.0.0.1"` for its loopback).
    pub async fn open_stream(&self, host: &str, port: u16) -> Result<RemoteStream, SshError> {
        let channel = self
            .inner
            .handle
            .channel_open_direct_tcpip(host.to_owned(), u32::from(port), "127.0.0.1", 0)
            .await
            .map_err(|e| {
                self.fail(e, ErrorKind::Channel)
                    .with_detail(format!("cannot reach {host}:{port} from the host"))
            })?;
        Ok(RemoteStream(channel.into_stream()))
    }

    /// A local listener forwarding to `127.0.0.1:remote_port` on the host
    /// over this connection.
    pub async fn tunnel(&self, remote_port: u16) -> Result<Tunnel, SshError> {
        let session = self.clone();
        Tunnel::open(self.label().to_owned(), remote_port, move || {
            let session = session.clone();
            Box::pin(async move { session.open_stream("127.0.0.1", remote_port).await })
        })
        .await
    }
}

/// Something that opens a fresh [`RemoteStream`] per tunnelled connection
/// (a session, or a pool client that reconnects).
pub(crate) type Opener = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<RemoteStream, SshError>> + Send>> + Send + Sync,
>;

/// A listening local end of a tunnel. Dropping it stops listening and
/// closes the connections it carries.
#[derive(Debug)]
pub struct Tunnel {
    local_addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Tunnel {
    pub(crate) async fn open<F>(
        label: String,
        remote_port: u16,
        opener: F,
    ) -> Result<Self, SshError>
    where
        F: Fn() -> Pin<Box<dyn Future<Output = Result<RemoteStream, SshError>> + Send>>
            + Send
            + Sync
            + 'static,
    {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            SshError::new(&label, ErrorKind::Channel)
                .with_detail("cannot listen on 127.0.0.1 for the tunnel")
                .with_source(e)
        })?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| SshError::new(&label, ErrorKind::Channel).with_source(e))?;
        let opener: Opener = Arc::new(opener);
        let accept = tokio::spawn(accept_loop(listener, opener, label, remote_port));
        Ok(Self { local_addr, accept })
    }

    /// Where to connect: `127.0.0.1:<port>`.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:<port>`, for HTTP clients.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, opener: Opener, label: String, remote_port: u16) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((local, _)) => {
                    connections.spawn(carry(local, opener.clone(), label.clone(), remote_port));
                }
                Err(error) => {
                    tracing::warn!(host = %label, %error, "Tunnel stopped accepting connections.");
                    return;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Carries one local connection; a failure to open the remote end closes
/// the local one (the client sees the connection end).
async fn carry(mut local: TcpStream, opener: Opener, label: String, remote_port: u16) {
    let mut remote = match opener().await {
        Ok(remote) => remote,
        Err(error) => {
            tracing::warn!(host = %label, remote_port, %error, "Tunnel could not reach the remote port.");
            return;
        }
    };
    if let Err(error) = tokio::io::copy_bidirectional(&mut local, &mut remote).await {
        tracing::debug!(host = %label, remote_port, %error, "Tunnelled connection ended with an error.");
    }
}
