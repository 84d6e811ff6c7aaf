//! What the trunk tells its owner: call progress on each leg and calls arriving from Teams.

use callbridge_model::{LegId, PhoneNumber, Sdp, TerminationCause};
use tokio::sync::oneshot;

/// One History-Info entry (RFC 4244) of a forwarded call (§1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The target URI of this hop, without its `?Reason=` headers.
    pub uri: String,
    /// The number in it, when it carries an E.164 user.
    pub number: Option<PhoneNumber>,
    /// The `index` parameter (`1`, `1.1`, …).
    pub index: String,
    /// The `cause` of the `Reason` it carries (e.g. 302 for forwarding), if any.
    pub cause: Option<u16>,
}

/// The caller's identity on an inbound call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The display name in From, if any.
    pub display_name: Option<String>,
    /// The caller's number (From user part), if it is E.164.
    pub number: Option<PhoneNumber>,
}

/// Something that happened on the trunk.
#[derive(Debug)]
pub enum TrunkEvent {
    /// A Teams endpoint rings (one event per distinct To-tag, §1.4).
    Ringing {
        /// The leg.
        leg: LegId,
        /// The fork's To-tag.
        to_tag: String,
    },
    /// A 183 brought the media processor's SDP.
    EarlyMedia {
        /// The leg.
        leg: LegId,
        /// The early SDP answer.
        sdp: Sdp,
    },
    /// The call was answered (2xx with the final SDP answer).
    Answered {
        /// The leg.
        leg: LegId,
        /// The SDP answer.
        sdp: Sdp,
    },
    /// The leg ended, for this reason.
    Ended {
        /// The leg.
        leg: LegId,
        /// Why.
        cause: TerminationCause,
        /// The SIP status that ended it, when one did (486, 603, 487, 503, …).
        status: Option<u16>,
    },
    /// Teams calls a number routed to the gateway (§1.7).
    Incoming {
        /// The leg the trunk created for it.
        leg: LegId,
        /// The SIP Call-ID.
        call_id: String,
        /// Who calls.
        from: Caller,
        /// The dialled number.
        to: PhoneNumber,
        /// The SDP offer.
        sdp: Sdp,
        /// History-Info of a forwarded call, oldest hop first.
        history_info: Vec<HistoryEntry>,
    },
    /// A re-INVITE: the media core must answer its offer through `reply` (`None` → 488).
    Reinvite {
        /// The leg.
        leg: LegId,
        /// The new offer.
        sdp: Sdp,
        /// Where the answer goes.
        reply: oneshot::Sender<Option<Sdp>>,
    },
    /// The far end held (`a=inactive`, the only hold Teams understands, §1.4) or resumed.
    Hold {
        /// The leg.
        leg: LegId,
        /// Whether it is now held.
        held: bool,
    },
}
