//! Turning EC2 failures into classified [`ProviderError`]s. The planner acts
//! on the [`ErrorKind`] (next offer, retry, stop), so the mapping from EC2
//! error codes lives here and only here; the AWS code and message are kept
//! in the text so users see what EC2 said.

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use dstack_provider::{ErrorKind, ProviderError};

/// The backend name errors carry.
pub const BACKEND: &str = "aws";

/// EC2 codes meaning "this offer has no capacity now; try another".
const NO_CAPACITY: &[&str] = &[
    "InsufficientInstanceCapacity",
    "InsufficientHostCapacity",
    "InsufficientReservedInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientCapacityOnHost",
    "Unsupported",
    "SpotMaxPriceTooLow",
    "InsufficientFreeAddressesInSubnet",
];

/// EC2 codes meaning "the account's limit is reached".
const QUOTA: &[&str] = &[
    "InstanceLimitExceeded",
    "VcpuLimitExceeded",
    "MaxSpotInstanceCountExceeded",
    "AddressLimitExceeded",
    "VolumeLimitExceeded",
    "ResourceLimitExceeded",
    "SecurityGroupLimitExceeded",
    "MaxIOPSLimitExceeded",
];

/// EC2 codes meaning the credentials are missing, wrong or not allowed.
const AUTH: &[&str] = &[
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "OptInRequired",
    "Blocked",
    "ExpiredToken",
    "RequestExpired",
    "MissingAuthenticationToken",
    "PendingVerification",
];

/// EC2 codes worth repeating the same call for.
const TRANSIENT: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "IncorrectInstanceState",
    "IncorrectState",
    "DependencyViolation",
];

/// The kind of an EC2 error code (HTTP status as a tie-breaker).
pub fn classify_code(code: &str, status: Option<u16>) -> ErrorKind {
    if NO_CAPACITY.contains(&code) {
        ErrorKind::NoCapacity
    } else if QUOTA.contains(&code) {
        ErrorKind::QuotaExceeded
    } else if AUTH.contains(&code) {
        ErrorKind::AuthFailed
    } else if TRANSIENT.contains(&code) {
        ErrorKind::Transient
    } else if code.ends_with(".NotFound") || code.ends_with("NotFound") {
        ErrorKind::NotFound
    } else if code.starts_with("Invalid") || code.starts_with("Missing") {
        ErrorKind::InvalidRequest
    } else if status.is_some_and(|s| s >= 500) {
        ErrorKind::Transient
    } else {
        ErrorKind::Other
    }
}

/// EC2's error code of a failed call, if EC2 answered with one.
pub fn code_of<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    err.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// True for codes the SDK must not retry (the planner moves on instead).
pub fn is_final_code(code: &str) -> bool {
    NO_CAPACITY.contains(&code) || QUOTA.contains(&code) || AUTH.contains(&code)
}

/// Classifies an SDK failure of `operation`, keeping EC2's code and message.
pub fn from_sdk<E>(operation: &str, err: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (kind, message) = match &err {
        SdkError::TimeoutError(_) => (
            ErrorKind::Transient,
            format!("{operation}: EC2 did not answer in time"),
        ),
        SdkError::DispatchFailure(failure) => dispatch_failure(operation, &err, failure),
        SdkError::ConstructionFailure(_) => construction_failure(operation, &err),
        _ => match err.code() {
            Some(code) => (
                classify_code(code, status),
                format!(
                    "{operation}: {code}: {}",
                    err.message().unwrap_or("(no message)")
                ),
            ),
            None => (
                if status.is_some_and(|s| s >= 500) {
                    ErrorKind::Transient
                } else {
                    ErrorKind::Other
                },
                format!(
                    "{operation}: unreadable EC2 response (HTTP {})",
                    status.map_or("?".to_string(), |s| s.to_string())
                ),
            ),
        },
    };
    ProviderError::new(kind, BACKEND, message).caused_by(err)
}

fn dispatch_failure<E, R>(
    operation: &str,
    err: &SdkError<E, R>,
    failure: &aws_smithy_runtime_api::client::result::DispatchFailure,
) -> (ErrorKind, String)
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if caused_by::<CredentialsError>(err) {
        return (ErrorKind::AuthFailed, missing_credentials(operation));
    }
    if let Some(connector) = failure.as_connector_error()
        && connector.is_user()
    {
        return (
            ErrorKind::InvalidRequest,
            format!("{operation}: the request could not be sent ({connector})"),
        );
    }
    (
        ErrorKind::Transient,
        format!(
            "{operation}: cannot reach EC2 ({})",
            DisplayErrorContext(err)
        ),
    )
}

fn construction_failure<E, R>(operation: &str, err: &SdkError<E, R>) -> (ErrorKind, String)
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if caused_by::<CredentialsError>(err) {
        (ErrorKind::AuthFailed, missing_credentials(operation))
    } else {
        (
            ErrorKind::InvalidRequest,
            format!(
                "{operation}: the request could not be built ({})",
                DisplayErrorContext(err)
            ),
        )
    }
}

/// True when an error of type `T` is somewhere in `err`'s source chain.
fn caused_by<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<T>() {
            return true;
        }
        next = e.source();
    }
    false
}

fn missing_credentials(operation: &str) -> String {
    format!(
        "{operation}: no usable AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
         AWS_PROFILE or `profile:` in .dstack/backends.yml, or run on an instance with a role"
    )
}

/// An error found by us, not returned by EC2.
pub fn own(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError::new(kind, BACKEND, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: &str, status: Option<u16>, expected: ErrorKind) {
        assert_eq!(classify_code(code, status), expected, "{code}");
    }

    #[test]
    fn capacity_and_quota_codes_try_the_next_offer() {
        for code in [
            "InsufficientInstanceCapacity",
            "Unsupported",
            "SpotMaxPriceTooLow",
        ] {
            check(code, Some(500), ErrorKind::NoCapacity);
        }
        for code in [
            "InstanceLimitExceeded",
            "VcpuLimitExceeded",
            "MaxSpotInstanceCountExceeded",
        ] {
            check(code, Some(400), ErrorKind::QuotaExceeded);
        }
        assert!(is_final_code("InsufficientInstanceCapacity"));
        assert!(!is_final_code("RequestLimitExceeded"));
    }

    #[test]
    fn auth_transient_not_found_and_invalid_codes() {
        check("AuthFailure", Some(401), ErrorKind::AuthFailed);
        check("UnauthorizedOperation", Some(403), ErrorKind::AuthFailed);
        check("RequestLimitExceeded", Some(503), ErrorKind::Transient);
        check("InvalidInstanceID.NotFound", Some(400), ErrorKind::NotFound);
        check("InvalidVolume.NotFound", Some(400), ErrorKind::NotFound);
        check(
            "InvalidAllocationID.NotFound",
            Some(400),
            ErrorKind::NotFound,
        );
        check(
            "InvalidParameterValue",
            Some(400),
            ErrorKind::InvalidRequest,
        );
        check("SomethingNew", Some(502), ErrorKind::Transient);
        check("SomethingNew", Some(400), ErrorKind::Other);
    }
}
