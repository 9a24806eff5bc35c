//! Classified provider errors.

use std::fmt;

/// What kind of failure a provider reported; the planner acts on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No capacity for this offer now (try the next offer).
    NoCapacity,
    /// The account's quota or limit is reached (try the next offer).
    QuotaExceeded,
    /// Credentials missing or refused (stop; fix credentials).
    AuthFailed,
    /// A passing failure (retry with backoff).
    Transient,
    /// The resource does not exist.
    NotFound,
    /// The backend cannot do this (e.g. gateways on `local`).
    Unsupported,
    /// The request was malformed (a bug or bad config).
    InvalidRequest,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// A short lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NoCapacity => "no capacity",
            Self::QuotaExceeded => "quota exceeded",
            Self::AuthFailed => "authentication failed",
            Self::Transient => "transient error",
            Self::NotFound => "not found",
            Self::Unsupported => "unsupported",
            Self::InvalidRequest => "invalid request",
            Self::Other => "error",
        }
    }

    /// Parses the kebab-case spelling used in fake-provider configs.
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "no-capacity" => Self::NoCapacity,
            "quota-exceeded" => Self::QuotaExceeded,
            "auth-failed" => Self::AuthFailed,
            "transient" => Self::Transient,
            "not-found" => Self::NotFound,
            "unsupported" => Self::Unsupported,
            "invalid-request" => Self::InvalidRequest,
            "other" => Self::Other,
            _ => return None,
        })
    }

    /// True when another offer may succeed where this one failed.
    pub fn tries_next_offer(&self) -> bool {
        matches!(self, Self::NoCapacity | Self::QuotaExceeded)
    }

    /// True when the same call may succeed if repeated.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure reported by a provider, with where it happened.
#[derive(Debug, thiserror::Error)]
pub struct ProviderError {
    /// Classification.
    pub kind: ErrorKind,
    /// Backend name.
    pub provider: String,
    /// Region, if relevant.
    pub region: Option<String>,
    /// Instance type, if relevant.
    pub instance_type: Option<String>,
    /// The backend's message.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.provider)?;
        if let Some(region) = &self.region {
            write!(f, " ({region})")?;
        }
        if let Some(it) = &self.instance_type {
            write!(f, " {it}")?;
        }
        write!(f, ": {}: {}", self.kind, self.message)
    }
}

impl ProviderError {
    /// A new error.
    pub fn new(kind: ErrorKind, provider: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            provider: provider.into(),
            region: None,
            instance_type: None,
            message: message.into(),
            source: None,
        }
    }

    /// Adds the region.
    pub fn in_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Adds the instance type.
    pub fn for_instance_type(mut self, instance_type: impl Into<String>) -> Self {
        self.instance_type = Some(instance_type.into());
        self
    }

    /// Adds the underlying error.
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
}
