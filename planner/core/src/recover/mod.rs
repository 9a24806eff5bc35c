//! Crash and loss recovery, decided without IO from what state records
//! and what the providers' tag sweep observes. Nothing is ever created
//! twice:
//!
//! - `intents`: an apply that died mid-call left an open intent; the
//!   resource created under its token is adopted, or the intent abandoned.
//! - `lost`: a live resource tagged with this state's lineage and an
//!   address state has no row for (its row was lost: a damaged or restored
//!   state file) is adopted; one tagged by another state of this project
//!   with an address the configuration wants is refused (`guard`).
//!
//! Resources `dstack state rm` forgot are never adopted back.

mod guard;
mod intents;
mod lost;

use dstack_schemas::status::Status;
use std::collections::BTreeMap;

use dstack_provider::ResourceInfo;
use dstack_schemas::addr::{ResourceAddr, ResourceKind};
use dstack_state::{Forgotten, Intent, IntentOutcome, RecordedResource};

use crate::desired::DesiredResource;
use crate::market::Observed;

pub use guard::{OWNED_ELSEWHERE, refuse_duplicates};

/// Everything recovery is decided from.
#[derive(Debug, Clone, Copy)]
pub struct RecoveryInput<'a> {
    /// Intents never finished.
    pub open: &'a [Intent],
    /// Recorded state.
    pub recorded: &'a [RecordedResource],
    /// Resources `dstack state rm` removed on purpose.
    pub forgotten: &'a [Forgotten],
    /// The providers' sweep.
    pub observed: &'a Observed,
    /// This project's name (the `dstack:project` tag).
    pub project: &'a str,
    /// This state's lineage (the `dstack:lineage` tag).
    pub lineage: &'a str,
    /// What the configurations want, by address (empty for destroy).
    pub desired: &'a BTreeMap<ResourceAddr, DesiredResource>,
}

/// How to settle open intents and lost rows.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    /// Rows to write (resources found by their intent's token or tags).
    pub adopted: Vec<RecordedResource>,
    /// Intents to close, and how.
    pub settle: Vec<(i64, IntentOutcome, String)>,
    /// Human notes for the plan output.
    pub notes: Vec<String>,
    /// Addresses the plan must not create: a resource of another state of
    /// this project already has them.
    pub refused: Vec<Refusal>,
}

/// A live resource of another state of this project at an address the
/// configuration wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The address both claim.
    pub address: ResourceAddr,
    /// Backend that holds the resource.
    pub provider: String,
    /// The backend's id.
    pub provider_id: String,
    /// The lineage it is tagged with, if any.
    pub lineage: Option<String>,
}

/// Decides how to settle open intents, then lost rows.
pub fn plan_recovery(input: &RecoveryInput<'_>) -> Recovery {
    let mut recovery = Recovery::default();
    intents::settle_intents(&mut recovery, input.open, input.recorded, input.observed);
    lost::adopt_or_refuse(&mut recovery, input);
    recovery
}

/// `recorded` with adopted rows in place of what they replace.
pub fn with_adopted(recorded: Vec<RecordedResource>, recovery: &Recovery) -> Vec<RecordedResource> {
    if recovery.adopted.is_empty() {
        return recorded;
    }
    let adopted: std::collections::BTreeSet<&ResourceAddr> =
        recovery.adopted.iter().map(|a| &a.address).collect();
    let mut out: Vec<RecordedResource> = recorded
        .into_iter()
        .filter(|r| !adopted.contains(&r.address))
        .collect();
    for row in &recovery.adopted {
        let mut row = row.clone();
        row.version = row.version.max(1);
        out.push(row);
    }
    out.sort_by(|a, b| a.address.cmp(&b.address));
    out
}

/// Kinds that live in a cloud (and are swept).
fn is_cloud(address: &ResourceAddr) -> bool {
    matches!(
        address.kind(),
        ResourceKind::Instance | ResourceKind::Volume | ResourceKind::Gateway
    )
}

/// The row of a resource found alive, recorded with `spec`.
fn adopted_row(
    address: &ResourceAddr,
    provider: &str,
    info: &ResourceInfo,
    spec: serde_json::Value,
    fingerprint: String,
) -> RecordedResource {
    let mut row = RecordedResource::new(address.clone(), spec, fingerprint);
    row.provider = Some(provider.to_string());
    row.provider_id = Some(info.provider_id.clone());
    row.status = Status::Active;
    row.offer = info
        .offer
        .as_ref()
        .and_then(|o| serde_json::to_value(o).ok());
    row.price_per_hour = info.price.map(|p| p.0);
    row.data = info.recorded_data();
    row
}
