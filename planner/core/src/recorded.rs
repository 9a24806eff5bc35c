//! Reading what apply wrote into recorded rows' data: one function per key,
//! so the writer (`dstack-engine`'s apply) and the readers agree on it.

use dstack_schemas::addr::ResourceAddr;
use dstack_state::RecordedResource;

/// The instance a job row was placed on (`data.instance`, written by apply).
pub fn job_instance(job: &RecordedResource) -> Option<ResourceAddr> {
    job.job_data().instance?.parse().ok()
}
