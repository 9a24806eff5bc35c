//! Building the EC2 clients: one per configured region, sharing one SDK
//! configuration (credentials from the standard AWS chain, optional
//! endpoint override such as moto, bounded retries and timeouts so no call
//! can hang an apply). Owns no EC2 logic.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::interceptors::InterceptorContext;
use aws_sdk_ec2::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_ec2::config::{Credentials, Region};
use aws_smithy_http_client::{Builder as HttpBuilder, tls};
use aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority;
use dstack_schemas::backends::AwsConfig;

use crate::error::is_final_code;

/// How hard the SDK tries before a call fails (the planner retries
/// transient failures again, a few times, on its own).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Attempts per call, first included.
    pub max_attempts: u32,
    /// First backoff between attempts.
    pub initial_backoff: Duration,
    /// Connecting to the endpoint.
    pub connect_timeout: Duration,
    /// One attempt of one call.
    pub attempt_timeout: Duration,
    /// One call, all attempts.
    pub operation_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(30),
            operation_timeout: Duration::from_secs(90),
        }
    }
}

/// EC2 clients by region.
#[derive(Debug, Clone)]
pub struct Clients {
    by_region: BTreeMap<String, Client>,
}

impl Clients {
    /// Loads credentials (the standard chain, or `static_credentials`) and
    /// builds a client per region of `config`.
    pub async fn load(
        config: &AwsConfig,
        limits: Limits,
        static_credentials: Option<(String, String)>,
    ) -> Self {
        let http = HttpBuilder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let first_region = config
            .regions
            .first()
            .cloned()
            .unwrap_or_else(|| "us-east-1".into());
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(first_region))
            .http_client(http)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(limits.max_attempts)
                    .with_initial_backoff(limits.initial_backoff)
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(limits.connect_timeout)
                    .operation_attempt_timeout(limits.attempt_timeout)
                    .operation_timeout(limits.operation_timeout)
                    .build(),
            );
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(profile) = &config.profile {
            loader = loader.profile_name(profile);
        }
        if let Some((access_key, secret_key)) = static_credentials {
            loader = loader.credentials_provider(Credentials::new(
                access_key,
                secret_key,
                None,
                None,
                "dstack-static",
            ));
        }
        let shared = loader.load().await;
        let by_region = config
            .regions
            .iter()
            .map(|region| {
                let ec2 = aws_sdk_ec2::config::Builder::from(&shared)
                    .region(Region::new(region.clone()))
                    .retry_classifier(FinalCodes)
                    .build();
                (region.clone(), Client::from_conf(ec2))
            })
            .collect();
        Self { by_region }
    }

    /// The client of `region`, if configured.
    pub fn get(&self, region: &str) -> Option<&Client> {
        self.by_region.get(region)
    }

    /// Configured regions with their clients, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Client)> {
        self.by_region.iter().map(|(r, c)| (r.as_str(), c))
    }
}

/// Forbids SDK retries of errors that repeating cannot fix (no capacity,
/// quota, credentials): EC2 sends `InsufficientInstanceCapacity` as an
/// HTTP 500, which the SDK would otherwise retry with backoff before the
/// planner could move to the next offer.
#[derive(Debug)]
struct FinalCodes;

impl ClassifyRetry for FinalCodes {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(body) = ctx.response().and_then(|r| r.body().bytes()) else {
            return RetryAction::NoActionIndicated;
        };
        match error_code_in(body) {
            Some(code) if is_final_code(code) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "dstack: capacity, quota and auth errors are final"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// The `<Code>` of an EC2 XML error document.
fn error_code_in(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_ec2_error_documents() {
        let body = b"<?xml version=\"1.0\"?><Response><Errors><Error><Code>InsufficientInstanceCapacity</Code><Message>m</Message></Error></Errors></Response>";
        assert_eq!(error_code_in(body), Some("InsufficientInstanceCapacity"));
        assert_eq!(error_code_in(b"<Response/>"), None);
        assert_eq!(error_code_in(&[0xff, 0xfe]), None);
    }
}
