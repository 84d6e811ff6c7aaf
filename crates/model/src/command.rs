//! What the engine asks adapters to do on a platform.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::call::{LegState, TerminationCause};
use crate::ids::{CallId, EventId, LegId};
use crate::media::{MediaAnswer, MediaOffer};
use crate::presence::Presence;
use crate::user::{CallTarget, UserRef};

/// A message to a user that is not part of a live call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Notice {
    /// Someone tried to call; offers a *Call back* button.
    MissedCall {
        /// Who called, for the call-back button.
        caller: UserRef,
        /// The caller's name as shown to the user.
        caller_name: String,
    },
    /// A plain explanation (why a call could not be placed, for example).
    Info {
        /// The text shown.
        text: String,
    },
}

/// An action on a platform, executed by that platform's adapter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlatformCommand {
    /// Show a call card (Slack `calls.add` + a `call` block) whose *Join* button opens `join_url`.
    PostCallCard {
        /// The call.
        call: CallId,
        /// The leg the card stands for.
        leg: LegId,
        /// Whose conversation the card goes to.
        to: UserRef,
        /// The signed one-time join page URL.
        join_url: Url,
        /// The title shown on the card.
        title: String,
    },
    /// Reflect a leg's new state on its card.
    UpdateCallCard {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// Its new state.
        state: LegState,
    },
    /// Place a leg toward a user (for Teams: a Direct Routing INVITE).
    PlaceCall {
        /// The call.
        call: CallId,
        /// The leg being placed.
        leg: LegId,
        /// Whom to reach.
        to: CallTarget,
        /// The caller's name as the callee sees it, e.g. `Bob (Slack)`.
        caller_display: String,
        /// The media core's offer for this leg.
        offer: MediaOffer,
    },
    /// Answer an incoming leg.
    AnswerCall {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// The media core's answer.
        answer: MediaAnswer,
    },
    /// Answer a platform's re-offer on an established leg (`PlatformEvent::LegReoffered`).
    AnswerReoffer {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// The media core's answer; `None` refuses the re-offer (SIP 488).
        answer: Option<MediaAnswer>,
    },
    /// Tear a leg down (SIP BYE or CANCEL, `calls.end`).
    HangUp {
        /// The call.
        call: CallId,
        /// The leg.
        leg: LegId,
        /// Why.
        cause: TerminationCause,
    },
    /// Write a mirrored presence or status, carrying callbridge's fingerprint.
    SetPresence {
        /// Whose presence.
        user: UserRef,
        /// The value to write.
        presence: Presence,
    },
    /// Answer the person whose request produced an event, where they made it (Slack: an
    /// ephemeral reply through the command's `response_url`; Teams: a reply to the bot
    /// activity). Used for outcomes such as "not linked" or "already calling".
    Reply {
        /// The event whose request is answered.
        to_event: EventId,
        /// What they read.
        text: String,
    },
    /// Send a user a notice (a DM on Slack, a bot message on Teams).
    SendNotice {
        /// To whom.
        to: UserRef,
        /// What.
        notice: Notice,
    },
}
