//! The [`IntentJournal`] and [`ApplyHistory`] suites: intents open until
//! finished, applies newest first with their outcome and summary.

use super::fixtures::{addr, resource};
use crate::model::{Expected, IntentOutcome, NewIntent};
use crate::store::{ApplyHistory, IntentJournal, StateError, StateStore};

/// Runs every intent-journal check against `store` (which must start empty).
pub fn conformance(store: &dyn IntentJournal) {
    let intent = NewIntent {
        apply_id: "apply-1".into(),
        address: addr("fleet/a/instance/0"),
        operation: "create".into(),
        token: "tok-1".into(),
        provider: Some("fake".into()),
        payload: Some(serde_json::json!({"spec": {"nodes": 1}})),
    };
    let id = store.begin_intent(&intent).expect("begin");
    let other = store
        .begin_intent(&NewIntent {
            apply_id: "apply-2".into(),
            token: "tok-2".into(),
            payload: None,
            ..intent.clone()
        })
        .expect("begin another");
    let open = store.open_intents().expect("open");
    assert_eq!(open.len(), 2);
    assert_eq!(open[0].intent, intent);
    assert_eq!(open[1].id, other);
    store
        .finish_intent(id, IntentOutcome::Done, Some("i-9"))
        .expect("finish");
    let open = store.open_intents().expect("open");
    assert_eq!(open.len(), 1, "a finished intent is no longer open");
    assert_eq!(open[0].id, other);
    let all = store.intents_of("apply-1").expect("of apply");
    assert_eq!(all.len(), 1, "intents of another apply are not listed");
    assert_eq!(all[0].outcome, Some(IntentOutcome::Done));
    assert_eq!(all[0].detail.as_deref(), Some("i-9"));
    store
        .finish_intent(other, IntentOutcome::Abandoned, None)
        .expect("finish");
}

/// Runs every apply-history check against `store` (which must start empty).
pub fn history_conformance(store: &dyn ApplyHistory) {
    let first = store
        .begin_apply("plan-1", "me@host", "apply")
        .expect("begin apply");
    store
        .finish_apply(&first, "succeeded", &serde_json::json!({"created": 2}))
        .expect("finish");
    let second = store
        .begin_apply("plan-2", "me@host", "destroy")
        .expect("begin apply");
    let history = store.applies(10).expect("history");
    assert_eq!(history[0].id, second, "newest first");
    assert_eq!(history[0].outcome, None, "a running apply has no outcome");
    assert_eq!(history[1].outcome.as_deref(), Some("succeeded"));
    assert_eq!(history[1].summary["created"], 2);
    assert_eq!(store.applies(1).expect("history").len(), 1, "limit");
    store
        .finish_apply(&second, "failed", &serde_json::json!({}))
        .expect("finish");
}

/// Runs the record-and-close checks against `store` (no open intents): the row and the closed intent land together, and a conflicting
/// record changes neither.
pub fn record_and_close_conformance(store: &dyn StateStore) {
    let intent = NewIntent {
        apply_id: "apply-rc".into(),
        address: addr("fleet/rc/instance/0"),
        operation: "create".into(),
        token: "tok-rc1".into(),
        provider: Some("fake".into()),
        payload: None,
    };
    let id = store.begin_intent(&intent).expect("begin");
    let row = resource("fleet/rc/instance/0");
    let stored = store
        .record_and_close(&row, Expected::Absent, id, Some("i-1"))
        .expect("record and close");
    assert_eq!(stored.version, 1);
    let got = store.get(&row.address).expect("get").expect("recorded");
    assert_eq!(got.version, 1);
    assert!(store.open_intents().expect("open").is_empty(), "closed");
    let all = store.intents_of("apply-rc").expect("of apply");
    assert_eq!(all[0].outcome, Some(IntentOutcome::Done));
    assert_eq!(all[0].detail.as_deref(), Some("i-1"));

    let second = store
        .begin_intent(&NewIntent {
            token: "tok-rc2".into(),
            ..intent
        })
        .expect("begin");
    let err = store
        .record_and_close(&row, Expected::Absent, second, Some("i-2"))
        .expect_err("the row exists");
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    let open = store.open_intents().expect("open");
    assert_eq!(open.len(), 1, "a failed record leaves its intent open");
    assert_eq!(open[0].id, second);
    let got = store.get(&row.address).expect("get").expect("recorded");
    assert_eq!(got.version, 1, "the conflicting record changed nothing");

    let err = store
        .remove_and_close(&row.address, Expected::Version(7), second, None)
        .expect_err("the row is at version 1");
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    assert_eq!(store.open_intents().expect("open").len(), 1, "still open");
    assert!(store.get(&row.address).expect("get").is_some(), "kept");
    store
        .remove_and_close(&row.address, Expected::Version(1), second, Some("gone"))
        .expect("remove and close");
    assert!(store.get(&row.address).expect("get").is_none(), "removed");
    assert!(store.open_intents().expect("open").is_empty(), "closed");
}
