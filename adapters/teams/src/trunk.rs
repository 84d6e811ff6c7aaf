//! The Direct Routing trunk as the Teams adapter uses it: `PlaceCall`, `AnswerCall` and `HangUp`
//! for Teams legs become trunk requests, and what the trunk reports becomes `PlatformEvent`s on
//! the adapter's event channel. The trunk knows legs only; this glue remembers which call each
//! leg belongs to, and which Teams user a calling number is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use callbridge_adapter::AdapterError;
use callbridge_model::{
    AadObjectId, CallId, CallTarget, EventId, LegId, MediaAnswer, MediaOffer, MediaTransport,
    PhoneNumber, PlatformEvent, TeamsTenantId, UserRef,
};
use callbridge_sip::{SipError, Trunk, TrunkEvent, TrunkEvents};
use tokio::sync::mpsc;

/// Which call each trunk leg belongs to, and the numbers of Teams users seen so far.
#[derive(Debug, Default)]
pub(crate) struct LegBook {
    calls: Mutex<HashMap<LegId, CallId>>,
    numbers: Mutex<HashMap<PhoneNumber, AadObjectId>>,
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
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&leg)
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
            TrunkEvent::Reinvite { reply, .. } => {
                // The model has no re-offer event yet: refuse the re-INVITE (488) rather than
                // answer for the media core; hold arrives as its own event.
                metrics::counter!("callbridge_teams_reinvites_refused_total").increment(1);
                let _ = reply.send(None);
                None
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
        sdp: callbridge_model::Sdp,
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
