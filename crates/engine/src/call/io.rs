//! What goes into and comes out of the call engine.

use callbridge_model::{
    Call, CallId, Cdr, EventId, LegId, MediaAnswer, MediaOffer, Platform, PlatformCommand,
    PlatformEvent, TenantId, TerminationCause, UserRef,
};
use chrono::{DateTime, Utc};
use url::Url;

/// One end of a call as the gateway resolved it from the directory and the link table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    /// The user on their own platform.
    pub user: UserRef,
    /// Their display name, as the other side will see it ("Bob Brown").
    pub name: String,
    /// Whether they are in Do Not Disturb right now (a DND callee is not rung).
    pub dnd: bool,
}

/// A call the gateway has resolved and named: ids and the signed join URL come in as inputs,
/// because the engine draws no randomness and holds no keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCall {
    /// The call's id.
    pub call: CallId,
    /// The organisation it belongs to.
    pub tenant: TenantId,
    /// The caller.
    pub caller: Party,
    /// The callee.
    pub callee: Party,
    /// The caller's leg.
    pub caller_leg: LegId,
    /// The callee's leg.
    pub callee_leg: LegId,
    /// The signed, single-use join page URL for the Slack party's leg.
    pub join_url: Url,
}

/// Why a platform command failed, as far as the engine needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandFailure {
    /// The platform refused (the callee is unknown, busy, the token was revoked): give up.
    Rejected,
    /// The platform could not be reached after the client layer's retries.
    Unavailable,
}

/// Something that happened, fed to [`crate::CallEngine::handle_input`] with the current time.
#[derive(Clone, Debug)]
pub enum Input {
    /// A user asked to call someone (`/call`, the bot's `call @…`, *Call back*); the gateway
    /// resolved both parties. Replies to the asker go to `request`.
    Requested {
        /// The platform's id of the request, for replies.
        request: EventId,
        /// The resolved call.
        call: NewCall,
    },
    /// A Teams user dialled a Slack user's number (`PlatformEvent::IncomingCall`), resolved.
    /// `call.call` and `call.caller_leg` are the ids the adapter named.
    Incoming {
        /// The resolved call.
        call: NewCall,
        /// The caller's media offer.
        offer: MediaOffer,
    },
    /// A platform event about a call the engine holds: `LegRinging`, `LegAnswered`,
    /// `JoinRequested`, `LegHoldChanged`, `LegReoffered`, `LegEnded`. Others are ignored.
    Platform(PlatformEvent),
    /// The media core's reply to a [`MediaCommand`], or a media event.
    Media(MediaReply),
    /// A command the engine emitted for `leg` failed on its platform.
    CommandFailed {
        /// The call.
        call: CallId,
        /// The leg the command was for.
        leg: LegId,
        /// How it failed.
        failure: CommandFailure,
    },
    /// Someone outside the call ends it: an operator, or a revoked installation.
    HangUp {
        /// The call.
        call: CallId,
        /// The cause recorded in its CDR.
        cause: TerminationCause,
    },
    /// The gateway is draining: refuse new calls from now on, and end the calls still up at
    /// `deadline` with `DrainForced`.
    Drain {
        /// When the calls still up are ended.
        deadline: DateTime<Utc>,
    },
    /// The deadline last returned by [`crate::CallEngine::poll_output`] was reached.
    Timeout,
}

/// The media core's side of a call, reported back to the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaReply {
    /// Answer to [`MediaCommand::PrepareOffer`]: the media core's offer for a leg.
    OfferReady {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// The offer to send.
        offer: MediaOffer,
    },
    /// Answer to [`MediaCommand::AcceptOffer`]: the media core's answer for a leg.
    AnswerReady {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// The answer to send.
        answer: MediaAnswer,
    },
    /// Admission control refused the call: no capacity.
    CapacityRefused {
        /// The call.
        call: CallId,
    },
    /// An offer or answer could not be negotiated (no common codec, malformed SDP).
    NegotiationFailed {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
    },
    /// No media from a leg for longer than its timeout.
    MediaTimeout {
        /// The call.
        call: CallId,
    },
}

/// What the engine asks of the media core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaCommand {
    /// Reserve capacity for the call and prepare the media core's offer for `leg` (a SIP leg
    /// that callbridge places). Replied with `OfferReady`, `CapacityRefused` or
    /// `NegotiationFailed`.
    PrepareOffer {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
    },
    /// Answer a far end's offer on `leg` (a Teams caller's INVITE, the browser's join offer,
    /// a re-offer on an established leg). Replied with `AnswerReady`, `CapacityRefused` or
    /// `NegotiationFailed`.
    AcceptOffer {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// The far end's offer.
        offer: MediaOffer,
    },
    /// Complete `leg`'s negotiation with the far end's answer to our offer.
    ApplyAnswer {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// The far end's answer.
        answer: MediaAnswer,
    },
    /// Both legs are negotiated: start relaying between them.
    Bridge {
        /// The call.
        call: CallId,
    },
    /// Release everything the call holds in the media core (idempotent).
    Release {
        /// The call.
        call: CallId,
    },
}

/// What the engine wants done, drained with [`crate::CallEngine::poll_output`].
#[derive(Clone, Debug)]
pub enum Output {
    /// Write the call record. The first output of every call, before anything rings.
    Persist(Call),
    /// The call is over: its one call detail record.
    Record(Cdr),
    /// Run a command on a platform.
    Command {
        /// Which adapter runs it.
        platform: Platform,
        /// The command.
        command: PlatformCommand,
    },
    /// Drive the media core.
    Media(MediaCommand),
    /// Answer the browser waiting on the join page: the media answer, or `None` when the call
    /// cannot be joined (over, or the leg is not the Slack party's).
    JoinAnswer {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// The answer for the browser.
        answer: Option<MediaAnswer>,
    },
    /// Nothing more now: feed [`Input::Timeout`] at this time (or any input earlier).
    Timeout(DateTime<Utc>),
}
