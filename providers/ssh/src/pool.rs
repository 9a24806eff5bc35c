//! The pool: one SSH connection per (host, port, user, jump chain), shared
//! by every caller, re-established on loss with exponential backoff.
//!
//! Bounds when a host goes away: a call on a connection that went silent
//! fails once keep-alives go unanswered (`keepalive_interval` ×
//! `keepalive_max`) or at its own timeout; a reconnect fails after
//! `connect_timeout`; while backing off, calls fail at once with the last
//! connect error. All are [`ErrorKind::Unreachable`] when the network is
//! the cause. Host keys observed on a slot's first connect are pinned for
//! its later reconnects, so "first use" happens once per pool.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::SshError;
use crate::exec::{ExecOutput, RemoteProcess};
use crate::hostkey::HostKey;
use crate::session::Session;
use crate::target::{ConnectOptions, Target};
use crate::tunnel::{RemoteStream, Tunnel};
use crate::upload::{UploadReport, UploadSource};

/// How a pool connects and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Options of every connection.
    pub connect: ConnectOptions,
    /// Wait after the first failed connect before trying again.
    pub backoff_initial: Duration,
    /// The longest wait between connect attempts.
    pub backoff_max: Duration,
    /// How long [`Client::check`] waits for a keep-alive reply.
    pub ping_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            connect: ConnectOptions::default(),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(5),
        }
    }
}

/// The wait before connect attempt number `failures + 1`.
pub(crate) fn backoff_delay(failures: u32, initial: Duration, max: Duration) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 2u32.saturating_pow(failures - 1);
    initial.saturating_mul(factor).min(max)
}

type PoolKey = Vec<(String, u16, String)>;

/// Shared connections; clone it freely.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    options: PoolOptions,
    slots: Arc<std::sync::Mutex<HashMap<PoolKey, Arc<Slot>>>>,
}

#[derive(Debug)]
struct Slot {
    state: tokio::sync::Mutex<SlotState>,
    connects: AtomicU64,
    label: String,
}

#[derive(Debug)]
struct SlotState {
    target: Target,
    session: Option<Session>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<SshError>,
}

impl Pool {
    /// An empty pool.
    pub fn new(options: PoolOptions) -> Self {
        Self {
            options,
            slots: Arc::default(),
        }
    }

    /// The client for `target`'s connection (made on first use). Targets
    /// with the same hosts, ports and users share one connection; the first
    /// target's identity files and pins are the ones used.
    pub fn client(&self, target: Target) -> Client {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots
            .entry(target.pool_key())
            .or_insert_with(|| {
                Arc::new(Slot {
                    label: target.label(),
                    connects: AtomicU64::new(0),
                    state: tokio::sync::Mutex::new(SlotState {
                        target,
                        session: None,
                        failures: 0,
                        retry_at: None,
                        last_error: None,
                    }),
                })
            })
            .clone();
        Client {
            slot,
            options: self.options,
        }
    }
}

/// A handle on one pooled connection; clone it freely.
#[derive(Debug, Clone)]
pub struct Client {
    slot: Arc<Slot>,
    options: PoolOptions,
}

impl Client {
    /// `user@host:port (via ...)`.
    pub fn label(&self) -> &str {
        &self.slot.label
    }

    /// How many connections this client's slot has made so far.
    pub fn connects(&self) -> u64 {
        self.slot.connects.load(Ordering::Relaxed)
    }

    /// The live connection, connecting (or reconnecting) if needed.
    pub async fn session(&self) -> Result<Session, SshError> {
        let mut state = self.slot.state.lock().await;
        if let Some(session) = &state.session {
            if !session.is_closed() {
                return Ok(session.clone());
            }
            state.session = None;
        }
        if let (Some(retry_at), Some(error)) = (state.retry_at, &state.last_error)
            && Instant::now() < retry_at
        {
            return Err(error.clone());
        }
        self.slot.connects.fetch_add(1, Ordering::Relaxed);
        match Session::connect(&state.target, &self.options.connect).await {
            Ok(session) => {
                pin_observed(&mut state.target, &session);
                state.failures = 0;
                state.retry_at = None;
                state.last_error = None;
                state.session = Some(session.clone());
                Ok(session)
            }
            Err(error) => {
                state.failures = state.failures.saturating_add(1);
                let wait = backoff_delay(
                    state.failures,
                    self.options.backoff_initial,
                    self.options.backoff_max,
                );
                state.retry_at = Some(Instant::now() + wait);
                state.last_error = Some(error.clone());
                Err(error)
            }
        }
    }

    /// The host keys pinned for each hop (jumps first): those passed in, or
    /// those observed on the first connect.
    pub async fn host_keys(&self) -> Vec<Option<HostKey>> {
        let state = self.slot.state.lock().await;
        state
            .target
            .hops()
            .map(|hop| hop.host_key.clone())
            .collect()
    }

    /// Proves the connection carries traffic (a keep-alive round trip); a
    /// connection that does not answer is dropped so the next call
    /// reconnects.
    pub async fn check(&self) -> Result<(), SshError> {
        let session = self.session().await?;
        match session.ping(self.options.ping_timeout).await {
            Ok(()) => Ok(()),
            Err(error) => {
                self.forget(&session).await;
                Err(error)
            }
        }
    }

    /// Drops `session` from the slot if it is still the current one.
    async fn forget(&self, session: &Session) {
        let mut state = self.slot.state.lock().await;
        if state
            .session
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(&current.inner, &session.inner))
        {
            state.session = None;
            session.disconnect().await;
        }
    }

    /// Closes the connection; the next call reconnects.
    pub async fn close(&self) {
        let session = self.slot.state.lock().await.session.take();
        if let Some(session) = session {
            session.disconnect().await;
        }
    }

    /// [`Session::exec`] on the pooled connection.
    pub async fn exec(&self, command: &str, timeout: Duration) -> Result<ExecOutput, SshError> {
        self.session().await?.exec(command, timeout).await
    }

    /// [`Session::run`] on the pooled connection.
    pub async fn run(&self, command: &str, timeout: Duration) -> Result<String, SshError> {
        self.session().await?.run(command, timeout).await
    }

    /// [`Session::spawn`] on the pooled connection.
    pub async fn spawn(&self, command: &str) -> Result<RemoteProcess, SshError> {
        self.session().await?.spawn(command).await
    }

    /// [`Session::has_passwordless_sudo`] on the pooled connection.
    pub async fn has_passwordless_sudo(&self, timeout: Duration) -> Result<bool, SshError> {
        self.session().await?.has_passwordless_sudo(timeout).await
    }

    /// [`Session::upload`] on the pooled connection.
    pub async fn upload(
        &self,
        source: UploadSource<'_>,
        remote_path: &str,
        mode: u32,
        timeout: Duration,
    ) -> Result<UploadReport, SshError> {
        self.session()
            .await?
            .upload(source, remote_path, mode, timeout)
            .await
    }

    /// [`Session::open_stream`] on the pooled connection.
    pub async fn open_stream(&self, host: &str, port: u16) -> Result<RemoteStream, SshError> {
        self.session().await?.open_stream(host, port).await
    }

    /// A local listener forwarding to `127.0.0.1:remote_port` on the host;
    /// each new local connection uses the pooled connection as it is then
    /// (reconnecting if it was lost).
    pub async fn tunnel(&self, remote_port: u16) -> Result<Tunnel, SshError> {
        let client = self.clone();
        Tunnel::open(self.label().to_owned(), remote_port, move || {
            let client = client.clone();
            Box::pin(async move { client.open_stream("127.0.0.1", remote_port).await })
        })
        .await
    }
}

/// Pins every hop's observed key where none was pinned.
fn pin_observed(target: &mut Target, session: &Session) {
    for (hop, observed) in target.hops_mut().zip(session.host_keys()) {
        if hop.host_key.is_none() {
            hop.host_key = Some(observed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_initial_wait_up_to_the_cap() {
        let (initial, max) = (Duration::from_millis(500), Duration::from_secs(4));
        let waits: Vec<u64> = (0..7)
            .map(|failures| backoff_delay(failures, initial, max).as_millis() as u64)
            .collect();
        assert_eq!(waits, [0, 500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(backoff_delay(u32::MAX, initial, max), max);
    }
}
