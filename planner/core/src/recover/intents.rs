//! Intents left open by an apply that died (Ctrl+C, `kill -9`, a power
//! cut), settled from what providers observe: a resource created under an
//! open intent's token is adopted into state with the spec the intent
//! recorded; one that does not exist is abandoned (and planned again).

use dstack_state::{Intent, IntentOutcome, RecordedResource};

use super::{Recovery, adopted_row, is_cloud};
use crate::market::Observed;

/// Settles `open` intents given `recorded` state and the providers' sweep.
pub(super) fn settle_intents(
    recovery: &mut Recovery,
    open: &[Intent],
    recorded: &[RecordedResource],
    observed: &Observed,
) {
    for intent in open {
        let address = &intent.intent.address;
        let cloud = is_cloud(address);
        let creating = intent.intent.operation == "create";
        let provider_swept = intent
            .intent
            .provider
            .as_ref()
            .is_some_and(|p| observed.swept.contains(p));
        if !(cloud && creating) {
            // Deletes and updates are idempotent and re-planned from the
            // rows that are still there.
            recovery.settle.push((
                intent.id,
                IntentOutcome::Abandoned,
                "re-planned from recorded state".into(),
            ));
            continue;
        }
        if !provider_swept {
            // Cannot tell yet; leave it open so the next sweep decides.
            recovery.notes.push(format!(
                "{address}: an interrupted create is unresolved ({} did not answer)",
                intent.intent.provider.as_deref().unwrap_or("?")
            ));
            continue;
        }
        let already = recorded.iter().find(|r| &r.address == address);
        match observed.find_token(&intent.intent.token) {
            Some((_, info))
                if already.and_then(|r| r.provider_id.as_deref())
                    == Some(info.provider_id.as_str()) =>
            {
                recovery
                    .settle
                    .push((intent.id, IntentOutcome::Done, info.provider_id.clone()));
            }
            Some((provider, info)) => {
                let payload = intent.intent.payload.clone().unwrap_or_default();
                let spec = payload
                    .get("spec")
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                let fingerprint = payload
                    .get("fingerprint")
                    .and_then(|f| f.as_str())
                    .unwrap_or_default()
                    .to_string();
                let mut row = adopted_row(address, provider, info, spec, fingerprint);
                if let Some(existing) = already {
                    row.version = existing.version;
                }
                recovery.notes.push(format!(
                    "{address}: adopted {} created by an interrupted apply (token {})",
                    info.provider_id, intent.intent.token
                ));
                recovery
                    .settle
                    .push((intent.id, IntentOutcome::Adopted, info.provider_id.clone()));
                recovery.adopted.push(row);
            }
            None => {
                recovery.settle.push((
                    intent.id,
                    IntentOutcome::Abandoned,
                    "not found by its token".into(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dstack_provider::{ResourceInfo, ResourceStatus, ownership_tags};
    use dstack_schemas::addr::ResourceKind;
    use dstack_state::NewIntent;

    fn settle(open: &[Intent], recorded: &[RecordedResource], observed: &Observed) -> Recovery {
        let mut recovery = Recovery::default();
        settle_intents(&mut recovery, open, recorded, observed);
        recovery
    }

    fn intent(id: i64, token: &str) -> Intent {
        Intent {
            id,
            intent: NewIntent {
                apply_id: "apply-1".into(),
                address: "fleet/f/instance/0".parse().expect("address"),
                operation: "create".into(),
                token: token.into(),
                provider: Some("aws".into()),
                payload: Some(
                    serde_json::json!({"spec": {"fleet": "f", "index": 0}, "fingerprint": "sha256:1"}),
                ),
            },
            started_at: 0,
            finished_at: None,
            outcome: None,
            detail: None,
        }
    }

    fn observed(token: &str) -> Observed {
        let address = "fleet/f/instance/0".parse().expect("address");
        let mut o = Observed::default();
        o.swept.insert("aws".into());
        o.resources.push((
            "aws".into(),
            ResourceInfo {
                kind: ResourceKind::Instance,
                provider_id: "i-1".into(),
                status: ResourceStatus::Running,
                tags: ownership_tags("p", "l", &address, token, &Default::default()),
                region: None,
                offer: None,
                price: None,
                data: serde_json::json!({}),
                runner: None,
            },
        ));
        o
    }

    #[test]
    fn a_resource_created_before_the_crash_is_adopted_with_the_intended_spec() {
        let recovery = settle(&[intent(7, "tok")], &[], &observed("tok"));
        assert_eq!(recovery.adopted.len(), 1);
        assert_eq!(recovery.adopted[0].provider_id.as_deref(), Some("i-1"));
        assert_eq!(recovery.adopted[0].fingerprint, "sha256:1");
        assert_eq!(
            recovery.settle,
            vec![(7, IntentOutcome::Adopted, "i-1".to_string())]
        );
    }

    #[test]
    fn a_create_that_never_happened_is_abandoned() {
        let recovery = settle(&[intent(8, "tok")], &[], &observed("other"));
        assert!(recovery.adopted.is_empty());
        assert_eq!(recovery.settle[0].1, IntentOutcome::Abandoned);
    }

    #[test]
    fn an_unanswered_provider_leaves_the_intent_open() {
        let recovery = settle(&[intent(9, "tok")], &[], &Observed::default());
        assert!(recovery.settle.is_empty());
        assert_eq!(recovery.notes.len(), 1);
    }
}
