//! What the join page shows about each live call: a title naming the other party and the
//! call's state, published on a watch channel so the page updates as the call moves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use callbridge_model::{Call, CallId, CallState, LegId};
use tokio::sync::watch;

use crate::join::{JoinState, JoinView};

struct Entry {
    slack_leg: LegId,
    view: watch::Sender<JoinView>,
}

/// Live calls' views, by call.
#[derive(Clone, Default)]
pub(super) struct ViewBoard {
    inner: Arc<Mutex<HashMap<CallId, Entry>>>,
}

impl ViewBoard {
    /// Opens the view of a call whose Slack party joins on `slack_leg`.
    pub(super) fn open(&self, call: CallId, slack_leg: LegId, title: String) {
        let (view, _) = watch::channel(JoinView {
            title,
            state: JoinState::Ringing,
        });
        self.lock().insert(call, Entry { slack_leg, view });
    }

    /// Follows the call record: its state becomes the page's; an ended call's view closes.
    pub(super) fn follow(&self, call: &Call) {
        let state = match call.state {
            CallState::Connected => JoinState::Connected,
            CallState::Ending | CallState::Ended => JoinState::Ended,
            _ => JoinState::Ringing,
        };
        let mut entries = self.lock();
        if let Some(entry) = entries.get(&call.id) {
            entry.view.send_modify(|view| view.state = state);
        }
        if call.state == CallState::Ended {
            entries.remove(&call.id);
        }
    }

    /// The current view, when `leg` is the call's Slack leg.
    pub(super) fn view(&self, call: CallId, leg: LegId) -> Option<JoinView> {
        self.lock()
            .get(&call)
            .filter(|entry| entry.slack_leg == leg)
            .map(|entry| entry.view.borrow().clone())
    }

    /// Changes to the call's view, for the page's live updates.
    pub(super) fn watch(&self, call: CallId) -> Option<watch::Receiver<JoinView>> {
        self.lock().get(&call).map(|entry| entry.view.subscribe())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, Entry>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
