//! The Direct Routing trunk as the Teams adapter uses it: `PlaceCall`, `AnswerCall` and `HangUp`
//! for Teams legs become trunk requests, and what the trunk reports becomes `PlatformEvent`s on
//! the adapter's event channel. The trunk knows legs only; this glue remembers which call each
//! leg belongs to, which Teams user a calling number is, and which re-INVITE of a leg still
//! waits for the media core's answer. An answered leg's dialog is written as JSON for the host
//! to keep with the call, so that after a crash the leg can still be ended.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use callbridge_adapter::AdapterError;
use callbridge_model::{
    AadObjectId, CallId, CallTarget, EventId, LegId, MediaAnswer, MediaOffer, MediaTransport,
    PhoneNumber, PlatformEvent, Sdp, TeamsTenantId, UserRef,
};
use callbridge_sip::{DialogSnapshot, SipError, SipTransport, Trunk, TrunkEvent, TrunkEvents};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// Where the media core's answer to a leg's re-INVITE goes. The trunk refuses the re-INVITE
/// (488) when this is dropped or when its own answer timeout passes first.
type ReofferReply = oneshot::Sender<Option<Sdp>>;

/// Which call each trunk leg belongs to, the numbers of Teams users seen so far, and the
/// re-INVITE of each leg that still waits for an answer.
#[derive(Debug, Default)]
pub(crate) struct LegBook {
    calls: Mutex<HashMap<LegId, CallId>>,
    numbers: Mutex<HashMap<PhoneNumber, AadObjectId>>,
    reoffers: Mutex<HashMap<LegId, ReofferReply>>,
}

fn refused(reason: &'static str) {
    metrics::counter!("callbridge_teams_reinvites_refused_total", "reason" => reason).increment(1);
}

impl LegBook {
    pub(crate) fn bind(&self, leg: LegId, call: CallId) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(leg, call);
    }

    fn call(&self, leg: LegId) -> Option<CallId> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&leg)
            .copied()
    }

    fn release(&self, leg: LegId) -> Option<CallId> {
        // A re-INVITE still waiting on an ended leg has nobody left to answer it: dropping its
        // sender lets the trunk refuse it at once.
        if self
            .reoffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&leg)
            .is_some()
        {
            refused("leg_ended");
        }
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&leg)
    }

    /// Keeps the reply of a leg's re-INVITE until the media core answers. A newer re-INVITE
    /// on the same leg supersedes an older one still waiting, which is refused.
    fn await_reoffer(&self, leg: LegId, reply: ReofferReply) {
        let older = self
            .reoffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(leg, reply);
        if let Some(older) = older {
            refused("superseded");
            let _ = older.send(None);
        }
    }

    /// Hands the media core's answer (or refusal, `None`) to the leg's waiting re-INVITE.
    pub(crate) fn answer_reoffer(
        &self,
        call: CallId,
        leg: LegId,
        answer: Option<Sdp>,
    ) -> Result<(), AdapterError> {
        const METHOD: &str = "trunk.answer_reoffer";
        if self.call(leg).is_some_and(|known| known != call) {
            return Err(AdapterError::Malformed(format!(
                "leg {leg} does not belong to call {call}"
            )));
        }
        let reply = self
            .reoffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&leg)
            .ok_or_else(|| AdapterError::PlatformRejected {
                method: METHOD.to_owned(),
                error: format!("no re-INVITE awaits an answer on leg {leg}"),
            })?;
        if answer.is_none() {
            refused("media_core");
        }
        // The trunk stops waiting after its answer timeout and refuses the re-INVITE itself.
        reply
            .send(answer)
            .map_err(|_| AdapterError::PlatformRejected {
                method: METHOD.to_owned(),
                error: format!("the re-INVITE on leg {leg} was refused after the answer timeout"),
            })
    }

    /// Remembers the Direct Routing number of a Teams user (learnt from the directory).
    pub(crate) fn learn_number(&self, number: PhoneNumber, user: AadObjectId) {
        self.numbers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, user);
    }

    fn user_of(&self, number: &PhoneNumber) -> Option<AadObjectId> {
        self.numbers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(number)
            .copied()
    }
}

/// A trunk failure in the adapter's vocabulary.
pub(crate) fn sip_error(method: &str, error: SipError) -> AdapterError {
    match error {
        SipError::Misconfigured(detail) => AdapterError::Misconfigured(detail),
        SipError::InvalidSdp(_) => {
            AdapterError::Bug(format!("{method}: the media core's SDP was refused"))
        }
        SipError::Draining => AdapterError::PlatformUnavailable {
            method: method.to_owned(),
            reason: "trunk draining".to_owned(),
            retry_after: None,
        },
        other => AdapterError::PlatformRejected {
            method: method.to_owned(),
            error: other.to_string(),
        },
    }
}

/// Failing to end a stale dialog, in the adapter's vocabulary: the network or a silent proxy
/// is worth another try later; a refusal is the platform's answer.
pub(crate) fn stale_error(error: SipError) -> AdapterError {
    const METHOD: &str = "trunk.end_stale";
    match error {
        SipError::Transport(reason) | SipError::AllProxiesFailed(reason) => {
            AdapterError::PlatformUnavailable {
                method: METHOD.to_owned(),
                reason,
                retry_after: None,
            }
        }
        error @ (SipError::NoResponse(_) | SipError::Stopped) => {
            AdapterError::PlatformUnavailable {
                method: METHOD.to_owned(),
                reason: error.to_string(),
                retry_after: None,
            }
        }
        other => sip_error(METHOD, other),
    }
}

/// A leg's SIP dialog as the host stores it (JSON): [`DialogSnapshot`] field for field. It
/// holds the parties' numbers, so it is kept with the call and never logged.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct StoredDialog {
    call_id: String,
    local_uri: String,
    local_tag: String,
    remote_uri: String,
    remote_tag: Option<String>,
    remote_target: String,
    #[serde(default)]
    route_set: Vec<String>,
    next_local_cseq: u32,
    proxy: String,
    transport: StoredTransport,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StoredTransport {
    Udp,
    Tcp,
    Tls,
}

/// The JSON the host keeps for a dialog.
pub(crate) fn dialog_json(snapshot: DialogSnapshot) -> Option<String> {
    let stored = StoredDialog {
        call_id: snapshot.call_id,
        local_uri: snapshot.local_uri,
        local_tag: snapshot.local_tag,
        remote_uri: snapshot.remote_uri,
        remote_tag: snapshot.remote_tag,
        remote_target: snapshot.remote_target,
        route_set: snapshot.route_set,
        next_local_cseq: snapshot.next_local_cseq,
        proxy: snapshot.proxy,
        transport: match snapshot.transport {
            SipTransport::Udp => StoredTransport::Udp,
            SipTransport::Tcp => StoredTransport::Tcp,
            SipTransport::Tls => StoredTransport::Tls,
        },
    };
    serde_json::to_string(&stored).ok()
}

/// A dialog back from the host's JSON.
pub(crate) fn dialog_from_json(text: &str) -> Result<DialogSnapshot, AdapterError> {
    let stored: StoredDialog = serde_json::from_str(text)
        .map_err(|error| AdapterError::Malformed(format!("stored SIP dialog: {error}")))?;
    Ok(DialogSnapshot {
        call_id: stored.call_id,
        local_uri: stored.local_uri,
        local_tag: stored.local_tag,
        remote_uri: stored.remote_uri,
        remote_tag: stored.remote_tag,
        remote_target: stored.remote_target,
        route_set: stored.route_set,
        next_local_cseq: stored.next_local_cseq,
        proxy: stored.proxy,
        transport: match stored.transport {
            StoredTransport::Udp => SipTransport::Udp,
            StoredTransport::Tcp => SipTransport::Tcp,
            StoredTransport::Tls => SipTransport::Tls,
        },
    })
}

fn dropped() {
    metrics::counter!("callbridge_teams_events_dropped_total").increment(1);
}

/// What the event pump needs.
pub(crate) struct Pump {
    pub(crate) trunk: Trunk,
    pub(crate) legs: Arc<LegBook>,
    pub(crate) tenant: TeamsTenantId,
    pub(crate) slack_numbers: Option<crate::config::NumberRange>,
    pub(crate) events: mpsc::Sender<PlatformEvent>,
}

impl Pump {
    /// Translates trunk events until the trunk stops.
    pub(crate) async fn run(self, mut events: TrunkEvents) {
        while let Some(event) = events.recv().await {
            if let Some(event) = self.translate(event)
                && self.events.send(event).await.is_err()
            {
                dropped();
                return;
            }
        }
    }

    fn translate(&self, event: TrunkEvent) -> Option<PlatformEvent> {
        match event {
            TrunkEvent::Ringing { leg, .. } => Some(PlatformEvent::LegRinging {
                call: self.legs.call(leg)?,
                leg,
            }),
            TrunkEvent::Answered { leg, sdp } => Some(PlatformEvent::LegAnswered {
                call: self.legs.call(leg)?,
                leg,
                answer: Some(MediaAnswer {
                    transport: MediaTransport::SipRtp,
                    sdp,
                }),
            }),
            TrunkEvent::Ended { leg, cause, .. } => Some(PlatformEvent::LegEnded {
                call: self.legs.release(leg)?,
                leg,
                cause,
            }),
            TrunkEvent::Hold { leg, held } => Some(PlatformEvent::LegHoldChanged {
                call: self.legs.call(leg)?,
                leg,
                held,
            }),
            TrunkEvent::EarlyMedia { .. } => None,
            TrunkEvent::Reinvite { leg, sdp, reply } => {
                let Some(call) = self.legs.call(leg) else {
                    // A leg of no known call: nobody could answer it.
                    refused("unknown_leg");
                    let _ = reply.send(None);
                    return None;
                };
                self.legs.await_reoffer(leg, reply);
                Some(PlatformEvent::LegReoffered {
                    call,
                    leg,
                    offer: MediaOffer {
                        transport: MediaTransport::SipRtp,
                        sdp,
                    },
                })
            }
            TrunkEvent::Incoming {
                leg,
                call_id,
                from,
                to,
                sdp,
                ..
            } => self.incoming(leg, &call_id, from.number.as_ref(), to, sdp),
        }
    }

    fn incoming(
        &self,
        leg: LegId,
        call_id: &str,
        from: Option<&PhoneNumber>,
        to: PhoneNumber,
        sdp: Sdp,
    ) -> Option<PlatformEvent> {
        let reject = |status: u16, reason: &'static str| {
            metrics::counter!("callbridge_teams_incoming_rejected_total", "reason" => reason)
                .increment(1);
            let _ = self.trunk.reject(leg, status);
            None
        };
        if !self
            .slack_numbers
            .as_ref()
            .is_some_and(|range| range.contains(&to))
        {
            return reject(404, "not_a_slack_number");
        }
        let Some(user) = from.and_then(|number| self.legs.user_of(number)) else {
            return reject(403, "unknown_caller");
        };
        let Ok(event_id) = format!("sip:{call_id}").parse::<EventId>() else {
            return reject(400, "call_id");
        };
        // The call is named now, so that the caller hanging up before anyone answers still
        // reaches the engine as a `LegEnded` of a known call.
        let call = CallId::generate();
        self.legs.bind(leg, call);
        Some(PlatformEvent::IncomingCall {
            event_id,
            call,
            leg,
            caller: UserRef::Teams {
                tenant: self.tenant,
                user,
            },
            target: CallTarget::Phone(to),
            offer: MediaOffer {
                transport: MediaTransport::SipRtp,
                sdp,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp() -> Sdp {
        Sdp::parse("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=inactive\r\n")
            .unwrap()
    }

    fn bound() -> (LegBook, CallId, LegId) {
        let book = LegBook::default();
        let (call, leg) = (CallId::generate(), LegId::generate());
        book.bind(leg, call);
        (book, call, leg)
    }

    fn snapshot() -> DialogSnapshot {
        DialogSnapshot {
            call_id: "0123abcd@sbc.example.com".to_owned(),
            local_uri: "\"Bob\" <sip:+15550001000@sbc.example.com;user=phone>".to_owned(),
            local_tag: "ours".to_owned(),
            remote_uri: "<sip:+14255550101@sip.pstnhub.microsoft.com;user=phone>".to_owned(),
            remote_tag: Some("theirs".to_owned()),
            remote_target: "sip:sip.pstnhub.microsoft.com:5061;transport=tls".to_owned(),
            route_set: vec!["<sip:edge.pstnhub.microsoft.com;lr>".to_owned()],
            next_local_cseq: 2,
            proxy: "sip.pstnhub.microsoft.com".to_owned(),
            transport: SipTransport::Tls,
        }
    }

    #[test]
    fn a_stored_dialog_reads_back_whole() {
        let json = dialog_json(snapshot()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["transport"], "tls");
        assert_eq!(value["next_local_cseq"], 2);
        assert_eq!(dialog_from_json(&json).unwrap(), snapshot());
    }

    #[test]
    fn a_damaged_stored_dialog_is_malformed() {
        let json = dialog_json(snapshot())
            .unwrap()
            .replace("\"tls\"", "\"sctp\"");
        assert!(matches!(
            dialog_from_json(&json),
            Err(AdapterError::Malformed(_))
        ));
        assert!(matches!(
            dialog_from_json("{}"),
            Err(AdapterError::Malformed(_))
        ));
    }

    #[test]
    fn an_unreachable_proxy_is_worth_retrying_and_a_refusal_is_not() {
        assert!(matches!(
            stale_error(SipError::NoResponse("BYE")),
            AdapterError::PlatformUnavailable { .. }
        ));
        assert!(matches!(
            stale_error(SipError::Transport("refused".to_owned())),
            AdapterError::PlatformUnavailable { .. }
        ));
        assert!(matches!(
            stale_error(SipError::Refused {
                method: "BYE",
                status: 500
            }),
            AdapterError::PlatformRejected { .. }
        ));
    }

    #[test]
    fn the_answer_reaches_the_waiting_reinvite_once() {
        let (book, call, leg) = bound();
        let (reply, mut waiting) = oneshot::channel();
        book.await_reoffer(leg, reply);
        book.answer_reoffer(call, leg, Some(sdp())).unwrap();
        assert_eq!(waiting.try_recv().unwrap(), Some(sdp()));
        assert!(matches!(
            book.answer_reoffer(call, leg, None),
            Err(AdapterError::PlatformRejected { .. })
        ));
    }

    #[test]
    fn a_newer_reinvite_refuses_the_older_one() {
        let (book, call, leg) = bound();
        let (older, mut older_waiting) = oneshot::channel();
        let (newer, mut newer_waiting) = oneshot::channel();
        book.await_reoffer(leg, older);
        book.await_reoffer(leg, newer);
        assert_eq!(older_waiting.try_recv().unwrap(), None);
        book.answer_reoffer(call, leg, None).unwrap();
        assert_eq!(newer_waiting.try_recv().unwrap(), None);
    }

    #[test]
    fn an_ended_leg_drops_its_waiting_reinvite() {
        let (book, call, leg) = bound();
        let (reply, mut waiting) = oneshot::channel();
        book.await_reoffer(leg, reply);
        assert_eq!(book.release(leg), Some(call));
        assert!(matches!(
            waiting.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        assert!(book.answer_reoffer(call, leg, Some(sdp())).is_err());
    }

    #[test]
    fn an_answer_after_the_trunk_gave_up_is_rejected() {
        let (book, call, leg) = bound();
        let (reply, waiting) = oneshot::channel();
        book.await_reoffer(leg, reply);
        // The trunk drops its receiver when its answer timeout passes.
        drop(waiting);
        assert!(matches!(
            book.answer_reoffer(call, leg, Some(sdp())),
            Err(AdapterError::PlatformRejected { .. })
        ));
    }

    #[test]
    fn an_answer_naming_another_call_is_malformed_and_keeps_the_reinvite_waiting() {
        let (book, call, leg) = bound();
        let (reply, mut waiting) = oneshot::channel();
        book.await_reoffer(leg, reply);
        assert!(matches!(
            book.answer_reoffer(CallId::generate(), leg, Some(sdp())),
            Err(AdapterError::Malformed(_))
        ));
        book.answer_reoffer(call, leg, Some(sdp())).unwrap();
        assert_eq!(waiting.try_recv().unwrap(), Some(sdp()));
    }
}
