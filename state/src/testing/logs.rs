//! The [`LogStore`] suite: each submission of a job has its own log (the
//! same offsets in two submissions are two lines), submissions are
//! numbered in the order they were recorded, appending is idempotent by
//! offset, and reads are in offset order after a given offset.

use crate::model::LogLine;
use crate::store::LogStore;

const JOB: &str = "run/r/job/0";

fn line(submission: &str, offset: u64, text: &str) -> LogLine {
    LogLine {
        job: JOB.into(),
        submission: submission.into(),
        offset,
        timestamp: 1,
        stream: "stdout".into(),
        text: text.into(),
    }
}

fn texts(store: &dyn LogStore, submission: Option<&str>, after: Option<u64>) -> Vec<String> {
    store
        .logs(JOB, submission, after)
        .expect("logs")
        .into_iter()
        .map(|l| l.text)
        .collect()
}

/// Runs every log check against `store` (which must start empty).
pub fn conformance(store: &dyn LogStore) {
    nothing_stored_reads_empty(store);
    logs_append_idempotently(store);
    submissions_keep_their_own_logs(store);
    submissions_are_recorded_once_in_order(store);
}

fn nothing_stored_reads_empty(store: &dyn LogStore) {
    assert!(texts(store, None, None).is_empty());
    assert!(texts(store, Some("j-none"), None).is_empty());
    assert!(store.submissions(JOB).expect("submissions").is_empty());
}

fn logs_append_idempotently(store: &dyn LogStore) {
    store
        .append_logs(&[line("j-1", 0, "a"), line("j-1", 2, "b")])
        .expect("append");
    store
        .append_logs(&[line("j-1", 2, "b"), line("j-1", 4, "c")])
        .expect("append again");
    assert_eq!(texts(store, None, None), ["a", "b", "c"]);
    assert_eq!(texts(store, Some("j-1"), Some(2)), ["c"]);
}

fn submissions_keep_their_own_logs(store: &dyn LogStore) {
    // A job that runs again writes from offset 0 again.
    store
        .append_logs(&[line("j-2", 0, "second a"), line("j-2", 9, "second b")])
        .expect("append");
    assert_eq!(
        texts(store, None, None),
        ["second a", "second b"],
        "the latest submission by default"
    );
    assert_eq!(texts(store, Some("j-1"), None), ["a", "b", "c"]);
    assert_eq!(texts(store, Some("j-2"), Some(0)), ["second b"]);
    let other = LogLine {
        job: "run/r/job/1".into(),
        ..line("j-1", 0, "other job")
    };
    store.append_logs(&[other]).expect("append");
    assert_eq!(texts(store, Some("j-1"), None), ["a", "b", "c"], "per job");
}

fn submissions_are_recorded_once_in_order(store: &dyn LogStore) {
    let third = store
        .record_submission(JOB, "j-3", Some("fleet/local/instance/0"))
        .expect("record");
    assert_eq!(third.number, 2);
    assert!(!third.sealed);
    let again = store
        .record_submission(JOB, "j-3", None)
        .expect("record again");
    assert_eq!(again, third, "recording again changes nothing");
    assert_eq!(
        store
            .record_submission(JOB, "j-1", None)
            .expect("known")
            .number,
        0
    );
    store.seal_submission(JOB, "j-1").expect("seal");
    let all = store.submissions(JOB).expect("submissions");
    let summary: Vec<(&str, u32, bool)> = all
        .iter()
        .map(|s| (s.id.as_str(), s.number, s.sealed))
        .collect();
    assert_eq!(
        summary,
        [("j-1", 0, true), ("j-2", 1, false), ("j-3", 2, false)]
    );
    assert_eq!(all[2].instance.as_deref(), Some("fleet/local/instance/0"));
    assert!(
        texts(store, None, None).is_empty(),
        "the latest submission has no lines yet"
    );
}
