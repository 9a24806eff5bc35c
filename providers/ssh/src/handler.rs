//! The russh client handler of one hop: checks the presented host key
//! against the pinned one, remembers what was presented, and remembers why
//! the connection ended.

use std::sync::{Arc, Mutex};

use russh::client::{self, DisconnectReason};
use russh::keys::{PublicKey, PublicKeyOrCertificate};

use crate::hostkey::HostKey;

/// What the handler tells its [`crate::Session`] after the fact.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// The key the host presented.
    pub host_key: Option<HostKey>,
    /// Why the connection ended, once it has.
    pub ended: Option<Ended>,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Keep-alives went unanswered.
    KeepaliveLost,
    /// The host sent a disconnect, or the stream closed or broke.
    Closed(String),
}

pub(crate) type Shared = Arc<Mutex<Observed>>;

/// Errors the handler makes a connect fail with.
#[derive(Debug)]
pub(crate) enum HandlerError {
    /// The presented key is not the pinned one (the presented key is in
    /// [`Observed::host_key`]).
    HostKeyChanged,
    /// Anything russh reports.
    Ssh(russh::Error),
}

impl From<russh::Error> for HandlerError {
    fn from(error: russh::Error) -> Self {
        Self::Ssh(error)
    }
}

pub(crate) struct Handler {
    pinned: Option<HostKey>,
    observed: Shared,
}

impl Handler {
    pub(crate) fn new(pinned: Option<HostKey>, observed: Shared) -> Self {
        Self { pinned, observed }
    }

    fn record(&self, update: impl FnOnce(&mut Observed)) {
        update(&mut self.observed.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

fn presented_key(presented: &PublicKeyOrCertificate) -> PublicKey {
    match presented {
        PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
        // A host certificate is pinned by the key it certifies.
        PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
    }
}

impl client::Handler for Handler {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        presented: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let observed = HostKey::from_public(presented_key(presented));
        let matches = self
            .pinned
            .as_ref()
            .is_none_or(|pinned| *pinned == observed);
        self.record(|state| state.host_key = Some(observed));
        if matches {
            Ok(true)
        } else {
            Err(HandlerError::HostKeyChanged)
        }
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        let ended = match &reason {
            DisconnectReason::Error(HandlerError::Ssh(russh::Error::KeepaliveTimeout)) => {
                Ended::KeepaliveLost
            }
            DisconnectReason::Error(error) => Ended::Closed(format!("{error:?}")),
            DisconnectReason::ReceivedDisconnect(info) => {
                Ended::Closed(format!("the host disconnected: {}", info.message))
            }
        };
        self.record(|state| state.ended = Some(ended));
        match reason {
            DisconnectReason::ReceivedDisconnect(_) => Ok(()),
            DisconnectReason::Error(error) => Err(error),
        }
    }
}
