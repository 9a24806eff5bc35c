//! Reading what apply wrote into recorded rows' data (and their offer): one
//! function per key, so the writer (`dstack-engine`'s apply) and the readers
//! agree on it. A leaf: the plan builder's modules all read through it.

use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::offer::Offer;
use dstack_state::RecordedResource;

/// The instance a job row was placed on (`data.instance`, written by apply).
pub fn job_instance(job: &RecordedResource) -> Option<ResourceAddr> {
    job.job_data().instance?.parse().ok()
}

/// The offer recorded with a resource, if it parses.
pub fn recorded_offer(value: Option<&serde_json::Value>) -> Option<Offer> {
    value.and_then(|v| serde::Deserialize::deserialize(v).ok())
}
