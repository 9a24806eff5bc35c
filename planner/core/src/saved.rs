//! Saved plans: `dstack plan -o plan.json` then `dstack apply plan.json`
//! applies exactly that plan, and refuses it when anything it was made
//! from moved: the state rows it read, the configuration files, the state
//! lineage, or the price of an offer it chose.

use dstack_schemas::plan::{PlanDoc, PlanOperation};
use dstack_state::RecordedResource;

use crate::market::Market;

/// Why a saved plan cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staleness {
    /// Each reason, in words.
    pub reasons: Vec<String>,
}

/// Checks a saved plan against the present. `config_digest` is `None` for
/// destroy plans (configurations do not matter to them).
pub fn check_saved(
    plan: &PlanDoc,
    lineage: &str,
    recorded: &[RecordedResource],
    config_digest: Option<&str>,
    market: &Market,
) -> Result<(), Staleness> {
    let mut reasons = Vec::new();
    if plan.lineage != lineage {
        reasons.push(format!(
            "the plan was made against another state (lineage {}, this state is {lineage})",
            plan.lineage
        ));
    }
    for read in &plan.reads {
        let now = recorded
            .iter()
            .find(|r| r.address == read.address)
            .map(|r| r.version);
        if now != read.version {
            let show = |v: Option<u64>| v.map_or("absent".to_string(), |v| format!("version {v}"));
            reasons.push(format!(
                "{} changed since planning ({} then, {} now)",
                read.address,
                show(read.version),
                show(now)
            ));
        }
    }
    if plan.operation == PlanOperation::Apply
        && let Some(digest) = config_digest
        && digest != plan.config_digest
    {
        reasons.push("the configuration files changed since planning".into());
    }
    for change in plan.effective_changes() {
        let Some(planned) = &change.offer else {
            continue;
        };
        if !change
            .actions
            .contains(&dstack_schemas::plan::ActionWord::Create)
        {
            continue;
        }
        match market.offers.iter().find(|o| o.key() == planned.key()) {
            None if market.backends.contains(&planned.backend) => {
                reasons.push(format!(
                    "{}: offer {} is no longer available",
                    change.address,
                    planned.key()
                ));
            }
            Some(now) if now.price > planned.price => reasons.push(format!(
                "{}: {} rose from {} to {}",
                change.address,
                planned.key(),
                planned.price,
                now.price
            )),
            _ => {}
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Staleness { reasons })
    }
}
