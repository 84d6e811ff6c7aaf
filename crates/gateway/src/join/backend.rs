//! What the join page needs from the call side, and the vocabulary it is spoken in.
//!
//! The page knows nothing about engines or media workers: the gateway implements
//! [`JoinBackend`] over its call drivers, and tests implement it with a fake.

use callbridge_adapter::BoxFuture;
use callbridge_model::{CallId, LegId, MediaAnswer, MediaOffer};
use serde::Serialize;
use tokio::sync::watch;

/// The call as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JoinView {
    /// The heading, already phrased for the person on this page, e.g. "Calling Alice Adams
    /// (Teams)" or "Alice Adams (Teams) is calling". Plain text: the page escapes it.
    pub title: String,
    /// Where the call is.
    pub state: JoinState,
}

/// Where the call is, as far as the person on the page cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JoinState {
    /// The other side is being alerted (or, for an incoming call, is waiting for this side).
    Ringing,
    /// Both sides are up and audio is bridged.
    Connected,
    /// Answered, but the other side has put the call on hold.
    OnHold,
    /// Over; nothing more will happen.
    Ended,
}

impl JoinState {
    /// The sentence the page shows for this state.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Ringing => "Ringing…",
            Self::Connected => "Connected",
            Self::OnHold => "On hold",
            Self::Ended => "Call ended",
        }
    }

    /// The state's wire name (the same as its JSON form).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ringing => "ringing",
            Self::Connected => "connected",
            Self::OnHold => "on_hold",
            Self::Ended => "ended",
        }
    }
}

/// Why the call side did not take the browser's offer, sorted by fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinRefusal {
    /// The offer is not one the media core can answer (no common codec, no ICE, no DTLS).
    #[error("the browser's offer cannot be answered")]
    BadOffer,
    /// The leg in the token is not a browser leg of this call, or another browser already has it.
    #[error("this leg is not available to this browser")]
    NotYourLeg,
    /// The call ended (or never existed) before the browser joined.
    #[error("the call is over")]
    CallOver,
    /// This node has no capacity for another media leg now; retrying later may work.
    #[error("no media capacity")]
    Busy,
}

/// The call side of the join page.
pub trait JoinBackend: Send + Sync + 'static {
    /// Who the call is with and where it is; `None` when the call is unknown or over.
    fn view(&self, call: CallId, leg: LegId) -> BoxFuture<'_, Option<JoinView>>;

    /// Hands the browser's offer to the leg's WebRTC endpoint; the answer, or why not.
    fn join(
        &self,
        call: CallId,
        leg: LegId,
        offer: MediaOffer,
    ) -> BoxFuture<'_, Result<MediaAnswer, JoinRefusal>>;

    /// The browser hung up.
    fn leave(&self, call: CallId, leg: LegId) -> BoxFuture<'_, ()>;

    /// Live changes of the call's view; `None` when the call is unknown or over.
    fn watch(&self, call: CallId) -> Option<watch::Receiver<JoinView>>;
}
