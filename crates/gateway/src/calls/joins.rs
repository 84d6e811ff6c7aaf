//! Browsers waiting on the join page for the media core's answer to their offer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use callbridge_model::{CallId, LegId, MediaAnswer};
use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Option<MediaAnswer>>;

/// Waiting browsers, by call and leg.
#[derive(Clone, Default)]
pub(super) struct JoinWaiters {
    inner: Arc<Mutex<HashMap<(CallId, LegId), Waiter>>>,
}

impl JoinWaiters {
    /// Registers a browser's wait; a second wait for the same leg replaces (and so refuses)
    /// the first.
    pub(super) fn wait(&self, call: CallId, leg: LegId) -> oneshot::Receiver<Option<MediaAnswer>> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert((call, leg), tx);
        rx
    }

    /// Hands the engine's answer to the waiting browser, if it still waits.
    pub(super) fn resolve(&self, call: CallId, leg: LegId, answer: Option<MediaAnswer>) {
        if let Some(waiter) = self.lock().remove(&(call, leg)) {
            let _ = waiter.send(answer);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(CallId, LegId), Waiter>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
