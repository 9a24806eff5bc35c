//! What the provider sweep says: drift (recorded resources gone, stopped or
//! changed outside dstack; with `--refresh`) and orphans (resources tagged
//! as ours that state does not know: ghost spend, in every plan).

use dstack_provider::ResourceStatus;
use dstack_schemas::addr::ResourceKind;
use dstack_schemas::plan::{Orphan, ResourceDrift};

use super::Builder;
use crate::recorded::recorded_offer;

/// Drift kinds that mean the resource must be created again.
pub const GONE: &[&str] = &["deleted", "interrupted"];

impl Builder<'_> {
    pub(super) fn observe_drift(&mut self) {
        if !self.input.options.refresh {
            return;
        }
        // Indexed once: a refresh of many resources is linear, not quadratic.
        let mut observed = std::collections::HashMap::new();
        for (provider, info) in &self.input.observed.resources {
            observed
                .entry((provider.as_str(), info.provider_id.as_str()))
                .or_insert(info);
        }
        let swept = &self.input.observed.swept;
        for recorded in self.recorded.values() {
            if !matches!(
                recorded.address.kind(),
                ResourceKind::Instance | ResourceKind::Volume | ResourceKind::Gateway
            ) {
                continue;
            }
            let (Some(provider), Some(id)) = (&recorded.provider, &recorded.provider_id) else {
                continue;
            };
            if !swept.contains(provider) {
                continue;
            }
            let found: Option<&dstack_provider::ResourceInfo> =
                observed.get(&(provider.as_str(), id.as_str())).copied();
            let drift = match found {
                None => Some((
                    "deleted",
                    format!("{id} no longer exists in {provider}"),
                    "gone".to_string(),
                )),
                Some(info) if info.status == ResourceStatus::Stopped => Some((
                    "interrupted",
                    format!("{id} was stopped or interrupted (spot reclaimed?)"),
                    info.status.as_str().to_string(),
                )),
                Some(info) => {
                    let recorded_type =
                        recorded_offer(recorded.offer.as_ref()).map(|o| o.instance_type);
                    let observed_type = info.offer.as_ref().map(|o| o.instance_type.clone());
                    match (recorded_type, observed_type) {
                        (Some(r), Some(o)) if r != o => Some((
                            "changed",
                            format!("instance type is {o}, recorded {r}"),
                            info.status.as_str().to_string(),
                        )),
                        _ => None,
                    }
                }
            };
            if let Some((kind, detail, observed_status)) = drift {
                if GONE.contains(&kind) {
                    self.gone.insert(recorded.address.clone());
                }
                self.drift.push(ResourceDrift {
                    address: recorded.address.clone(),
                    drift: kind.into(),
                    detail,
                    recorded_status: recorded.status.to_string(),
                    observed_status,
                });
            }
        }
    }

    pub(super) fn orphans(&self) -> Vec<Orphan> {
        let known: std::collections::BTreeSet<(&str, &str)> = self
            .recorded
            .values()
            .filter_map(|r| Some((r.provider.as_deref()?, r.provider_id.as_deref()?)))
            .collect();
        let mut out: Vec<Orphan> = self
            .input
            .observed
            .resources
            .iter()
            .filter(|(provider, r)| r.status.is_alive() && !known.contains(&(provider.as_str(), r.provider_id.as_str())))
            .map(|(provider, r)| {
                let lineage = r.lineage().map(str::to_string);
                let reason = match lineage.as_deref() {
                    Some(l) if l == self.input.lineage => {
                        "tagged with this state's lineage but not recorded (an interrupted apply, or `state rm`)".to_string()
                    }
                    Some(l) => format!("tagged by another state file (lineage {l})"),
                    None => "tagged as dstack's, without a lineage".to_string(),
                };
                Orphan {
                    provider: provider.clone(),
                    provider_id: r.provider_id.clone(),
                    kind: r.kind,
                    address: r.address().map(|a| a.to_string()),
                    lineage,
                    region: r.region.clone(),
                    rate: r.price,
                    reason,
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.provider, &a.provider_id).cmp(&(&b.provider, &b.provider_id)));
        out
    }
}
