//! Inputs about one existing call, normalised: the call they name and what happened.

use callbridge_model::{CallId, LegId, MediaAnswer, MediaOffer, PlatformEvent, TerminationCause};

use super::io::{Input, MediaReply};

/// Something that happened to a call the engine holds.
#[derive(Clone, Debug)]
pub(super) enum Event {
    /// A leg's user is alerted.
    Ringing(LegId),
    /// A leg's user answered, with the SDP answer when the platform carries one.
    Answered(LegId, Option<MediaAnswer>),
    /// The browser on the join page sent its offer.
    Join(LegId, MediaOffer),
    /// A leg went on or off hold.
    Hold(LegId, bool),
    /// A leg re-offered media.
    Reoffer(LegId, MediaOffer),
    /// A leg ended on its platform.
    LegEnded(LegId, TerminationCause),
    /// The media core's offer for a leg.
    OfferReady(LegId, MediaOffer),
    /// The media core's answer for a leg.
    AnswerReady(LegId, MediaAnswer),
    /// Admission control refused the call.
    CapacityRefused,
    /// The media core could not negotiate a leg.
    NegotiationFailed(LegId),
    /// Media stopped.
    MediaTimeout,
    /// A command for a leg failed.
    CommandFailed(LegId),
    /// Ended from outside (operator, revoked installation).
    HangUp(TerminationCause),
}

impl Event {
    /// The leg the event names, if any.
    pub(super) const fn leg(&self) -> Option<LegId> {
        match self {
            Self::Ringing(leg)
            | Self::Answered(leg, _)
            | Self::Join(leg, _)
            | Self::Hold(leg, _)
            | Self::Reoffer(leg, _)
            | Self::LegEnded(leg, _)
            | Self::OfferReady(leg, _)
            | Self::AnswerReady(leg, _)
            | Self::NegotiationFailed(leg)
            | Self::CommandFailed(leg) => Some(*leg),
            Self::CapacityRefused | Self::MediaTimeout | Self::HangUp(_) => None,
        }
    }
}

/// Splits a per-call input into the call it names and the event; `None` for inputs that are
/// not about one existing call (and for platform events the call engine ignores).
pub(super) fn split(input: Input) -> Option<(CallId, Event)> {
    let pair = match input {
        Input::Platform(event) => return platform(event),
        Input::Media(reply) => media(reply),
        Input::CommandFailed { call, leg, .. } => (call, Event::CommandFailed(leg)),
        Input::HangUp { call, cause } => (call, Event::HangUp(cause)),
        Input::Requested { .. } | Input::Incoming { .. } | Input::Drain { .. } | Input::Timeout => {
            return None;
        }
    };
    Some(pair)
}

fn platform(event: PlatformEvent) -> Option<(CallId, Event)> {
    let pair = match event {
        PlatformEvent::LegRinging { call, leg } => (call, Event::Ringing(leg)),
        PlatformEvent::LegAnswered { call, leg, answer } => (call, Event::Answered(leg, answer)),
        PlatformEvent::JoinRequested { call, leg, offer } => (call, Event::Join(leg, offer)),
        PlatformEvent::LegHoldChanged { call, leg, held } => (call, Event::Hold(leg, held)),
        PlatformEvent::LegReoffered { call, leg, offer } => (call, Event::Reoffer(leg, offer)),
        PlatformEvent::LegEnded { call, leg, cause } => (call, Event::LegEnded(leg, cause)),
        // Requests and incoming calls reach the engine resolved (`Input::Requested`,
        // `Input::Incoming`); presence and installations are not the call engine's.
        _ => return None,
    };
    Some(pair)
}

fn media(reply: MediaReply) -> (CallId, Event) {
    match reply {
        MediaReply::OfferReady { call, leg, offer } => (call, Event::OfferReady(leg, offer)),
        MediaReply::AnswerReady { call, leg, answer } => (call, Event::AnswerReady(leg, answer)),
        MediaReply::CapacityRefused { call } => (call, Event::CapacityRefused),
        MediaReply::NegotiationFailed { call, leg } => (call, Event::NegotiationFailed(leg)),
        MediaReply::MediaTimeout { call } => (call, Event::MediaTimeout),
    }
}
