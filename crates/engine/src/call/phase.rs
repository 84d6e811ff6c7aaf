//! The typed states a call moves through. Each phase holds only what that phase needs, and a
//! transition consumes the old phase and returns the next one.

use callbridge_model::{LegId, MediaAnswer, MediaOffer, TerminationCause};
use chrono::{DateTime, Utc};

/// Where a call is.
#[derive(Clone, Debug)]
pub(super) enum Phase {
    /// Recorded; the media core is preparing the offer for the Teams leg callbridge places.
    Setup(Setup),
    /// The callee is being alerted; each leg negotiates media on its own.
    Alerting(Alerting),
    /// Both legs negotiated and bridged.
    Bridged(Bridged),
    /// Torn down on callbridge's side; waiting for the legs still up to confirm.
    Ending(Ending),
    /// Over: the record and CDR are out, the engine forgets the call.
    Ended,
}

impl Phase {
    /// The instant this phase times out, if it can.
    pub(super) const fn deadline(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Setup(setup) => Some(setup.deadline),
            Self::Alerting(alerting) => Some(alerting.deadline),
            Self::Bridged(bridged) => Some(bridged.max_deadline),
            Self::Ending(ending) => Some(ending.deadline),
            Self::Ended => None,
        }
    }

    /// Whether the call still counts as a call its parties are on (for busy checks): a call
    /// that is already being torn down does not.
    pub(super) const fn is_active(&self) -> bool {
        matches!(self, Self::Setup(_) | Self::Alerting(_) | Self::Bridged(_))
    }
}

/// Waiting for the media core's offer.
#[derive(Clone, Debug)]
pub(super) struct Setup {
    /// The media core must answer by then, or the call ends with `Error`.
    pub(super) deadline: DateTime<Utc>,
}

/// The callee is alerted; the two legs progress independently until both are negotiated.
#[derive(Clone, Debug)]
pub(super) struct Alerting {
    /// The ring (or join) timeout.
    pub(super) deadline: DateTime<Utc>,
    /// The Teams party's SIP leg.
    pub(super) sip: SipSide,
    /// The Slack party's browser leg.
    pub(super) browser: BrowserSide,
}

/// The Teams party's SIP leg before the bridge.
#[derive(Clone, Debug)]
pub(super) enum SipSide {
    /// Placed by callbridge (`PlaceCall` sent), not answered yet.
    Placed,
    /// Answered; the media core has the far end's answer (`ApplyAnswer` sent).
    Answered,
    /// Arrived from the Teams user (`Incoming`); its offer waits for the Slack callee to join.
    Offered(MediaOffer),
    /// Arrived; the media core is answering its offer.
    Accepting,
    /// Arrived; the media core's answer waits for the bridge to be sent (`AnswerCall`).
    Ready(MediaAnswer),
}

impl SipSide {
    /// Whether the leg's media is negotiated.
    pub(super) const fn is_ready(&self) -> bool {
        matches!(self, Self::Answered | Self::Ready(_))
    }
}

/// The Slack party's browser leg before the bridge.
#[derive(Clone, Debug)]
pub(super) enum BrowserSide {
    /// The call card is posted; nobody has opened the join page.
    Card,
    /// The browser sent its offer; the media core is answering it.
    Accepting,
    /// The media core's answer waits for the bridge before going to the browser (calls that
    /// arrived from Teams answer both legs at once).
    Held(MediaAnswer),
    /// The browser has its answer.
    Joined,
}

impl BrowserSide {
    /// Whether the leg's media is negotiated.
    pub(super) const fn is_ready(&self) -> bool {
        matches!(self, Self::Held(_) | Self::Joined)
    }
}

/// Both legs up and bridged.
#[derive(Clone, Debug)]
pub(super) struct Bridged {
    /// The call ends with `MaxDuration` then.
    pub(super) max_deadline: DateTime<Utc>,
    /// Legs whose re-offer the media core is answering.
    pub(super) reoffers: Vec<LegId>,
    /// The leg whose `AnswerCall` went out with the bridge and has not been confirmed by any
    /// event from that leg yet: its failure ends the call.
    pub(super) answer_unconfirmed: Option<LegId>,
}

/// Torn down on callbridge's side.
#[derive(Clone, Debug)]
pub(super) struct Ending {
    /// After it, the legs still awaited are considered gone.
    pub(super) deadline: DateTime<Utc>,
    /// Legs that were hung up and have not confirmed (`LegEnded`) yet.
    pub(super) awaiting: Vec<LegId>,
    /// Why the call ended.
    pub(super) cause: TerminationCause,
}
