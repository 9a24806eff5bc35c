//! The Docker engine connection: made on first use, retried while it
//! fails, and its version cached briefly for health checks. Failures are
//! [`EngineError`]s with a kind; their text is bollard's message.

use std::fmt;

use bollard::Docker;
use tokio::sync::Mutex;

/// What kind of engine failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineErrorKind {
    /// No client could be made (no socket, bad `DOCKER_HOST`).
    Connect,
    /// The engine did not answer the version negotiation or the ping.
    Unreachable,
    /// The engine did not report its version.
    Version,
    /// A lock of ours was poisoned (a bug).
    Internal,
}

/// Why the engine is not usable: a kind and the underlying message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    /// What kind of failure.
    pub kind: EngineErrorKind,
    /// The underlying message, shown as is.
    pub message: String,
}

impl EngineError {
    fn new(kind: EngineErrorKind, cause: impl fmt::Display) -> Self {
        Self {
            kind,
            message: cause.to_string(),
        }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EngineError {}

/// How long a version the engine reported answers health checks: every
/// CLI request starts with one, and asking the engine each time cost a
/// round trip to dockerd per request.
const VERSION_FRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// The engine connection, made on first use and retried while it fails.
#[derive(Default)]
pub struct Engine {
    client: Mutex<Option<Docker>>,
    version: std::sync::Mutex<Option<(std::time::Instant, String)>>,
}

impl Engine {
    /// A connected client, or why there is none.
    pub async fn client(&self) -> Result<Docker, EngineError> {
        let mut slot = self.client.lock().await;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| EngineError::new(EngineErrorKind::Connect, e))?
            .negotiate_version()
            .await
            .map_err(|e| EngineError::new(EngineErrorKind::Unreachable, e))?;
        docker
            .ping()
            .await
            .map_err(|e| EngineError::new(EngineErrorKind::Unreachable, e))?;
        *slot = Some(docker.clone());
        Ok(docker)
    }

    /// The engine version, or why it is unreachable.
    /// A version reported less than [`VERSION_FRESH`] ago is reused;
    /// failures are never reused.
    pub async fn version(&self) -> Result<String, EngineError> {
        if let Some((at, v)) = self
            .version
            .lock()
            .map_err(|e| EngineError::new(EngineErrorKind::Internal, e))?
            .as_ref()
            && at.elapsed() < VERSION_FRESH
        {
            return Ok(v.clone());
        }
        let docker = self.client().await?;
        match docker.version().await {
            Ok(v) => {
                let v = v.version.unwrap_or_else(|| "unknown".into());
                if let Ok(mut slot) = self.version.lock() {
                    *slot = Some((std::time::Instant::now(), v.clone()));
                }
                Ok(v)
            }
            Err(e) => {
                *self.client.lock().await = None;
                if let Ok(mut slot) = self.version.lock() {
                    *slot = None;
                }
                Err(EngineError::new(EngineErrorKind::Version, e))
            }
        }
    }
}
