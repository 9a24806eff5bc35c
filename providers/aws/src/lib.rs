//! The AWS EC2 backend: offers from EC2 and the shipped catalog, instances
//! on demand or spot, EBS volumes, gateways with elastic IPs, and one
//! tag-filtered sweep per region for drift and orphans. This crate is the
//! leaf that holds the heavy AWS SDK, so nothing else rebuilds it.
//!
//! Every resource carries the ownership tags of `dstack-provider`; creates
//! are idempotent by the intent's token (an instance tagged with it is
//! adopted, not created again), deletes succeed when the resource is gone,
//! and every call is bounded (SDK retries, timeouts, waits).

pub mod client;
mod describe;
pub mod error;
mod gateways;
mod instances;
mod listing;
pub mod moto;
mod network;
pub mod offers;
mod provider;
pub mod userdata;
mod volumes;

/// The SDK itself, for tests that look at EC2 behind the provider's back.
pub use aws_sdk_ec2;
pub use client::Limits;
pub use provider::{AwsProvider, Waits};
