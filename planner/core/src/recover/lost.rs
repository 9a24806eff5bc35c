//! Rows state lost: live resources the sweep found tagged with an address
//! state has no row for. Tagged with this state's lineage, the resource is
//! this state's and is adopted (with the configured spec, or for an
//! instance the spec its address gives); tagged by another state of this
//! project at an address the configuration wants, it is refused, so the
//! plan cannot create a second one. Anything else stays an orphan.

use std::collections::BTreeSet;

use dstack_provider::{ResourceInfo, TAG_PROJECT};
use dstack_schemas::addr::ResourceAddr;
use dstack_schemas::spec::InstanceSpec;

use super::{Recovery, RecoveryInput, Refusal, adopted_row, is_cloud};
use crate::fingerprint::fingerprint;

/// Adopts this state's lost rows and refuses other states' addresses.
pub(super) fn adopt_or_refuse(recovery: &mut Recovery, input: &RecoveryInput<'_>) {
    let mut known_ids: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut known: BTreeSet<ResourceAddr> = BTreeSet::new();
    for row in input.recorded.iter().chain(&recovery.adopted) {
        known.insert(row.address.clone());
        if let (Some(p), Some(id)) = (&row.provider, &row.provider_id) {
            known_ids.insert((p, id));
        }
    }
    for f in input.forgotten {
        known_ids.insert((&f.provider, &f.provider_id));
    }
    let mut found: Vec<(&str, &ResourceInfo, ResourceAddr)> = input
        .observed
        .resources
        .iter()
        .filter(|(p, r)| !known_ids.contains(&(p.as_str(), r.provider_id.as_str())))
        .filter_map(|(p, r)| Some((p.as_str(), r, r.address().filter(is_cloud)?)))
        .collect();
    // The same choice every time when more than one claims an address.
    found.sort_by(|a, b| (a.0, &a.1.provider_id).cmp(&(b.0, &b.1.provider_id)));
    let mut adopted = Vec::new();
    for (provider, info, address) in found {
        if known.contains(&address) {
            continue;
        }
        if info.lineage() == Some(input.lineage) {
            if let Some(row) = lost_row(input, provider, info, &address) {
                recovery.notes.push(format!(
                    "{address}: adopted {} ({provider}), tagged by this state but not recorded (its row was lost)",
                    info.provider_id
                ));
                adopted.push(row);
                known.insert(address);
            }
        } else if info.tags.get(TAG_PROJECT).map(String::as_str) == Some(input.project)
            && input.desired.contains_key(&address)
            && !recovery.refused.iter().any(|r| r.address == address)
        {
            recovery.refused.push(Refusal {
                address,
                provider: provider.to_string(),
                provider_id: info.provider_id.clone(),
                lineage: info.lineage().map(str::to_string),
            });
        }
    }
    recovery.adopted.extend(adopted);
}

/// The row of a lost resource, when its spec is known: the configured one,
/// or for an instance the one its address gives. A volume or gateway no
/// longer configured stays an orphan (nothing says what it was made from).
fn lost_row(
    input: &RecoveryInput<'_>,
    provider: &str,
    info: &ResourceInfo,
    address: &ResourceAddr,
) -> Option<dstack_state::RecordedResource> {
    let (spec, print) = match (input.desired.get(address), address) {
        (Some(desired), _) => ((*desired.spec).clone(), desired.fingerprint.clone()),
        (None, ResourceAddr::Instance(fleet, index)) => {
            let spec = serde_json::to_value(InstanceSpec {
                fleet: fleet.clone(),
                index: *index,
                host: None,
                for_run: None,
            })
            .ok()?;
            let print = fingerprint(&spec);
            (spec, print)
        }
        (None, _) => return None,
    };
    Some(adopted_row(address, provider, info, spec, print))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use dstack_provider::{ResourceStatus, ownership_tags};
    use dstack_schemas::addr::ResourceKind;
    use dstack_state::Forgotten;

    use super::*;
    use crate::market::Observed;

    const LINEAGE: &str = "lineage-1";

    fn live(id: &str, address: &str, project: &str, lineage: &str) -> (String, ResourceInfo) {
        let address: ResourceAddr = address.parse().expect("address");
        (
            "aws".into(),
            ResourceInfo {
                kind: address.kind(),
                provider_id: id.into(),
                status: ResourceStatus::Running,
                tags: ownership_tags(project, lineage, &address, "tok", &Default::default()),
                region: None,
                offer: None,
                price: None,
                data: serde_json::json!({"ip": "10.0.0.9"}),
                runner: None,
            },
        )
    }

    fn check(
        observed: Vec<(String, ResourceInfo)>,
        recorded: &[dstack_state::RecordedResource],
        forgotten: &[Forgotten],
        desired: &[&str],
    ) -> Recovery {
        let desired: BTreeMap<ResourceAddr, crate::desired::DesiredResource> = desired
            .iter()
            .map(|a| {
                let address: ResourceAddr = a.parse().expect("address");
                let resource = crate::desired::DesiredResource {
                    address: address.clone(),
                    spec: std::sync::Arc::new(serde_json::json!({"configured": a})),
                    fingerprint: format!("fp-{a}"),
                    config: None,
                    job: None,
                    origin: None,
                    references: Vec::new(),
                };
                (address, resource)
            })
            .collect();
        let observed = Observed {
            resources: observed,
            swept: ["aws".to_string()].into(),
            failures: Vec::new(),
        };
        let input = RecoveryInput {
            open: &[],
            recorded,
            forgotten,
            observed: &observed,
            project: "p",
            lineage: LINEAGE,
            desired: &desired,
        };
        super::super::plan_recovery(&input)
    }

    fn adopted(recovery: &Recovery) -> Vec<(String, String)> {
        recovery
            .adopted
            .iter()
            .map(|r| {
                (
                    r.address.to_string(),
                    r.provider_id.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn a_lost_row_of_this_state_is_adopted_once_per_address() {
        let recovery = check(
            vec![
                live("i-2", "fleet/f/instance/0", "p", LINEAGE),
                live("i-1", "fleet/f/instance/0", "p", LINEAGE),
                live("vol-1", "volume/data", "p", LINEAGE),
            ],
            &[],
            &[],
            &["volume/data"],
        );
        assert_eq!(
            adopted(&recovery),
            [
                ("fleet/f/instance/0".to_string(), "i-1".to_string()),
                ("volume/data".to_string(), "vol-1".to_string())
            ],
            "one per address, the same one every time; the other stays an orphan"
        );
        let instance = &recovery.adopted[0];
        assert_eq!(instance.spec["fleet"], "f");
        assert_eq!(instance.fingerprint, fingerprint(&instance.spec));
        assert_eq!(instance.data["ip"], "10.0.0.9");
        assert_eq!(recovery.adopted[1].fingerprint, "fp-volume/data");
        assert!(recovery.refused.is_empty());
    }

    #[test]
    fn recorded_forgotten_and_unconfigured_resources_are_not_adopted() {
        let mut row = dstack_state::RecordedResource::new(
            "fleet/f/instance/0".parse().expect("address"),
            serde_json::json!({}),
            "fp".into(),
        );
        row.provider = Some("aws".into());
        row.provider_id = Some("i-1".into());
        let forgotten = Forgotten {
            address: "fleet/f/instance/1".parse().expect("address"),
            provider: "aws".into(),
            provider_id: "i-9".into(),
            forgotten_at: 0,
        };
        let recovery = check(
            vec![
                live("i-1", "fleet/f/instance/0", "p", LINEAGE),
                live("i-3", "fleet/f/instance/0", "p", LINEAGE),
                live("i-9", "fleet/f/instance/1", "p", LINEAGE),
                live("vol-1", "volume/old", "p", LINEAGE),
            ],
            &[row],
            &[forgotten],
            &[],
        );
        assert!(adopted(&recovery).is_empty(), "{:?}", adopted(&recovery));
    }

    #[test]
    fn another_states_resource_at_a_configured_address_is_refused() {
        let recovery = check(
            vec![
                live("i-5", "fleet/f/instance/0", "p", "lineage-0"),
                live("i-6", "fleet/f/instance/1", "p", "lineage-0"),
                live("i-7", "fleet/f/instance/0", "other-project", "lineage-x"),
            ],
            &[],
            &[],
            &["fleet/f/instance/0"],
        );
        assert!(recovery.adopted.is_empty());
        assert_eq!(
            recovery.refused,
            [Refusal {
                address: "fleet/f/instance/0".parse().expect("address"),
                provider: "aws".into(),
                provider_id: "i-5".into(),
                lineage: Some("lineage-0".into()),
            }],
            "not configured, or another project's: only an orphan"
        );
        assert_eq!(ResourceKind::Instance, recovery.refused[0].address.kind());
    }
}
