//! Stopping an apply: a flag set once (Ctrl+C) that the step walker awaits
//! and checks before every start; steps already running finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A cancellation shared by whoever stops the apply and the apply itself.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    flag: AtomicBool,
    notify: Notify,
}

impl Cancel {
    /// Not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the apply from starting more steps.
    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.flag.load(Ordering::SeqCst)
    }

    /// Resolves once cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a cancel in between wakes it.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cancel;

    #[tokio::test]
    async fn a_cancel_before_or_while_waiting_is_seen() {
        let early = Cancel::new();
        early.cancel();
        early.cancelled().await;
        let late = Cancel::new();
        let waiter = tokio::spawn({
            let late = late.clone();
            async move { late.cancelled().await }
        });
        tokio::task::yield_now().await;
        assert!(!late.is_cancelled());
        late.cancel();
        waiter.await.expect("the waiter ends once cancelled");
    }
}
