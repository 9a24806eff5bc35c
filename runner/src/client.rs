//! The runner's client (reqwest): what the CLI and providers call. Every
//! failure is classified: the runner cannot be reached, or it answered
//! with an [`ApiError`], or it answered nonsense.

use std::time::Duration;

use reqwest::StatusCode;

use crate::api::{API_VERSION, ApiError, Health, JobInfo, JobSubmission, LogPage, StopRequest};

/// A client failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// No answer: refused, timed out, connection dropped.
    #[error("runner at {url} does not answer: {reason}")]
    Unreachable {
        /// Base URL.
        url: String,
        /// What the transport said.
        reason: String,
    },
    /// The runner refused the request.
    #[error("runner at {url} refused the request ({status}): {}", .error.message)]
    Api {
        /// Base URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Its explanation.
        error: ApiError,
    },
    /// The runner answered something unreadable.
    #[error("runner at {url} answered something unreadable: {reason}")]
    Protocol {
        /// Base URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

impl ClientError {
    /// The runner does not know the job (or archive).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. })
    }

    /// The runner could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// A client of one runner.
#[derive(Debug, Clone)]
pub struct RunnerClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl RunnerClient {
    /// A client of the runner at `url` (e.g. `http://127.0.0.1:10999`).
    pub fn new(url: &str, token: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        Self {
            base: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
        }
    }

    /// Base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            url: self.base.clone(),
            reason: error_chain(&e),
        }
    }

    fn protocol(&self, reason: impl Into<String>) -> ClientError {
        ClientError::Protocol {
            url: self.base.clone(),
            reason: reason.into(),
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<reqwest::Response, ClientError> {
        let response = request
            .bearer_auth(&self.token)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await.unwrap_or_default();
        // Only a runner's own error document counts as the runner's answer: a
        // bare 404 from a proxy or another server must never read as "no
        // such job".
        match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(error) => Err(ClientError::Api {
                url: self.base.clone(),
                status: status.as_u16(),
                error,
            }),
            Err(_) => Err(ClientError::Protocol {
                url: self.base.clone(),
                reason: format!(
                    "HTTP {status} without a runner's error document ({:?}); is another server or a proxy answering there?",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ),
            }),
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let response = self.send(request, timeout).await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        serde_json::from_slice(&bytes).map_err(|e| self.protocol(e.to_string()))
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The runner's self-description; fails when it speaks another API.
    pub async fn health(&self) -> Result<Health, ClientError> {
        let health: Health = self
            .json(
                self.http.get(self.at("/api/health")),
                Duration::from_secs(5),
            )
            .await?;
        if health.api != API_VERSION {
            return Err(self.protocol(format!(
                "it speaks runner API {} (runner {}), this client {API_VERSION}; use matching versions",
                health.api, health.version
            )));
        }
        Ok(health)
    }

    /// Uploads an archive unless the runner has it; returns its hash.
    pub async fn upload_archive(&self, bytes: Vec<u8>) -> Result<String, ClientError> {
        let sha = crate::archive::sha256_hex(&bytes);
        let url = self.at(&format!("/api/archives/{sha}"));
        let head = self
            .http
            .head(&url)
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if head.status() == StatusCode::OK {
            return Ok(sha);
        }
        self.send(self.http.put(&url).body(bytes), Duration::from_secs(300))
            .await?;
        Ok(sha)
    }

    /// Submits a job (idempotent by its token).
    pub async fn submit(&self, submission: &JobSubmission) -> Result<JobInfo, ClientError> {
        self.json(
            self.http.post(self.at("/api/jobs")).json(submission),
            Duration::from_secs(30),
        )
        .await
    }

    /// Every job the runner knows.
    pub async fn jobs(&self) -> Result<Vec<JobInfo>, ClientError> {
        self.json(self.http.get(self.at("/api/jobs")), Duration::from_secs(10))
            .await
    }

    /// One job.
    pub async fn job(&self, id: &str) -> Result<JobInfo, ClientError> {
        self.json(
            self.http.get(self.at(&format!("/api/jobs/{id}"))),
            Duration::from_secs(10),
        )
        .await
    }

    /// Log lines from `offset`; waits up to `wait` for new ones.
    pub async fn logs(
        &self,
        id: &str,
        offset: u64,
        wait: Duration,
    ) -> Result<LogPage, ClientError> {
        let url = self.at(&format!(
            "/api/jobs/{id}/logs?offset={offset}&wait_ms={}",
            wait.as_millis()
        ));
        self.json(
            self.http.get(url),
            wait.saturating_add(Duration::from_secs(15)),
        )
        .await
    }

    /// Asks the job to stop (`abort`: kill now).
    pub async fn stop(&self, id: &str, abort: bool) -> Result<JobInfo, ClientError> {
        self.json(
            self.http
                .post(self.at(&format!("/api/jobs/{id}/stop")))
                .json(&StopRequest { abort }),
            Duration::from_secs(10),
        )
        .await
    }

    /// The saved artifacts of a finished job, as tar.gz.
    pub async fn artifacts(&self, id: &str) -> Result<Vec<u8>, ClientError> {
        let response = self
            .send(
                self.http.get(self.at(&format!("/api/jobs/{id}/artifacts"))),
                Duration::from_secs(300),
            )
            .await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        Ok(bytes.to_vec())
    }

    /// Removes a finished job and its files from the runner.
    pub async fn delete(&self, id: &str) -> Result<(), ClientError> {
        self.send(
            self.http.delete(self.at(&format!("/api/jobs/{id}"))),
            Duration::from_secs(30),
        )
        .await
        .map(|_| ())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
