//! What adapters tell the engine: platform happenings translated into one vocabulary.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::call::TerminationCause;
use crate::ids::{CallId, EventId, LegId};
use crate::media::{MediaAnswer, MediaOffer};
use crate::presence::Presence;
use crate::user::{CallTarget, Platform, UserRef};

/// An inbound happening on a platform, already authenticated and translated by its adapter.
///
/// Events that start something carry the platform's [`EventId`] so the inbox can make their side
/// effects happen once however often the platform retries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlatformEvent {
    /// A user asked to call someone (`/call …`, the bot's `call @…`, a *Call back* button).
    CallRequested {
        /// The platform's id for this request.
        event_id: EventId,
        /// Who asked.
        caller: UserRef,
        /// Whom they want to reach.
        target: CallTarget,
    },
    /// A call arrived from a platform's own telephony (a Teams user dialled a Slack user's number).
    IncomingCall {
        /// The platform's id for this call attempt (for SIP: the Call-ID).
        event_id: EventId,
        /// The call this attempt starts, named by the adapter as it arrives, so that every
        /// later event about it (the caller giving up while it rings) can name it too.
        call: CallId,
        /// The leg it arrives on; `AnswerCall` and `HangUp` for it name this leg.
        leg: LegId,
        /// Who is calling.
        caller: UserRef,
        /// Whom they dialled.
        target: CallTarget,
        /// The caller's media offer.
        offer: MediaOffer,
    },
    /// A leg's user is being alerted.
    LegRinging {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
    },
    /// A leg's user answered.
    LegAnswered {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// The media answer, when answering carries one (SIP 200 OK).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<MediaAnswer>,
    },
    /// The Slack user opened the join page and their browser sent its offer.
    JoinRequested {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// The browser's offer.
        offer: MediaOffer,
    },
    /// A leg put the call on hold or took it off hold.
    LegHoldChanged {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// Whether the leg is now held.
        held: bool,
    },
    /// The far end re-offered media on an established leg (hold, resume, a new address); the
    /// media core answers it with `PlatformCommand::AnswerReoffer`.
    LegReoffered {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// The new offer.
        offer: MediaOffer,
    },
    /// A leg ended on the platform's side.
    LegEnded {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// Why, as far as the platform says.
        cause: TerminationCause,
    },
    /// A user's presence or status changed on their platform.
    PresenceChanged {
        /// The platform's id for this change.
        event_id: EventId,
        /// Whose presence.
        user: UserRef,
        /// The new value.
        presence: Presence,
    },
    /// A workspace or tenant removed the app or revoked its tokens.
    InstallationRevoked {
        /// The platform's id for this notice.
        event_id: EventId,
        /// Which platform.
        platform: Platform,
        /// The workspace or tenant id on that platform.
        external_id: String,
    },
}

impl PlatformEvent {
    /// The platform's id for this event, for events the inbox deduplicates.
    pub const fn event_id(&self) -> Option<&EventId> {
        match self {
            Self::CallRequested { event_id, .. }
            | Self::IncomingCall { event_id, .. }
            | Self::PresenceChanged { event_id, .. }
            | Self::InstallationRevoked { event_id, .. } => Some(event_id),
            Self::LegRinging { .. }
            | Self::LegAnswered { .. }
            | Self::JoinRequested { .. }
            | Self::LegHoldChanged { .. }
            | Self::LegReoffered { .. }
            | Self::LegEnded { .. } => None,
        }
    }
}
