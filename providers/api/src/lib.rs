//! The provider boundary: the [`Provider`] trait every backend implements
//! (instances, volumes, gateways, offers, listing what is ours), classified
//! [`ProviderError`]s, the shipped offer catalog, a [`fake::FakeProvider`] for
//! tests and benchmarks, and the conformance suite in [`testing`].
//!
//! The planner decides retries and failover by [`ErrorKind`], never by
//! matching error strings.

pub mod catalog;
pub mod error;
pub mod fake;
pub mod provider;
pub mod testing;

pub use error::{ErrorKind, ProviderError};
pub use provider::{
    GatewayRequest, InstanceRequest, Provider, ResourceInfo, ResourceStatus, TAG_ADDRESS,
    TAG_LINEAGE, TAG_MANAGED, TAG_PROJECT, TAG_TOKEN, VolumeRequest, ownership_tags,
};
