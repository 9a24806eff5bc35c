//! The [`LogStore`] suite: appending is idempotent by offset, reads are in
//! offset order and start after a given offset.

use crate::model::LogLine;
use crate::store::LogStore;

/// Runs every log check against `store` (which must start empty).
pub fn conformance(store: &dyn LogStore) {
    logs_append_idempotently(store);
}

fn logs_append_idempotently(store: &dyn LogStore) {
    let line = |offset: u64, text: &str| LogLine {
        job: "run/r/job/0".into(),
        submission: 0,
        offset,
        timestamp: 1,
        stream: "stdout".into(),
        text: text.into(),
    };
    store
        .append_logs(&[line(0, "a"), line(2, "b")])
        .expect("append");
    store
        .append_logs(&[line(2, "b"), line(4, "c")])
        .expect("append again");
    let all: Vec<String> = store
        .logs("run/r/job/0", None, None)
        .expect("logs")
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(all, ["a", "b", "c"]);
    let tail: Vec<String> = store
        .logs("run/r/job/0", Some(0), Some(2))
        .expect("logs")
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(tail, ["c"]);
}
