//! The [`StateLock`] suite: one holder at a time, named when refused; a
//! timeout is honoured; a dead holder's lock is broken.

use std::time::Duration;

use crate::model::LockRequest;
use crate::store::{StateError, StateLock, acquire_lock};

/// Runs every lock check against `store` (which must start unlocked).
pub fn conformance(store: &dyn StateLock) {
    lock_excludes_and_names_holder(store);
    stale_lock_of_dead_process_is_broken(store);
}

fn lock_excludes_and_names_holder(store: &dyn StateLock) {
    let me = LockRequest::for_this_process("apply");
    let held = store.try_lock(&me).expect("lock free");
    match store.try_lock(&LockRequest::for_this_process("destroy")) {
        Err(StateError::Locked(info)) => {
            assert_eq!(info.id, held.id);
            assert_eq!(info.request.operation, "apply");
            let message = StateError::Locked(info).to_string();
            assert!(
                message.contains(&me.holder) && message.contains(&held.id),
                "{message}"
            );
        }
        other => panic!("second lock not refused: {other:?}"),
    }
    let waited = acquire_lock(store, &me, Duration::from_millis(300));
    assert!(
        matches!(waited, Err(StateError::Locked(_))),
        "timeout not honoured"
    );
    assert!(matches!(
        store.unlock("nope"),
        Err(StateError::NoSuchLock(_))
    ));
    store.unlock(&held.id).expect("unlock");
    assert!(store.current_lock().expect("current").is_none());
}

fn stale_lock_of_dead_process_is_broken(store: &dyn StateLock) {
    let mut dead = LockRequest::for_this_process("apply");
    dead.pid = u32::MAX - 7; // no such process
    store.try_lock(&dead).expect("lock");
    let mine = store
        .try_lock(&LockRequest::for_this_process("apply"))
        .expect("stale lock broken");
    store.unlock(&mine.id).expect("unlock");
}
