//! The gateway's async face of the media core: [`MediaService`] runs the media worker pool
//! and carries out the call engine's media commands (prepare an offer, accept an offer, apply
//! an answer, bridge, release) for each call, in the model's ids.
//!
//! What it owns: admission (capacity reserved at a call's first offer, returned at release),
//! RTP ports and sockets, each leg's offer/answer until the bridge exists, placing the bridge
//! on a worker, re-offers on a running bridge, and turning the workers' events into
//! [`MediaNotice`]s. Nothing here blocks a tokio worker thread: state changes happen under a
//! short lock with no waiting in it (socket binds, SDP work), and anything a media worker must
//! do is awaited through a oneshot.

mod call;
mod error;
mod events;
mod notice;
mod settings;
mod snapshot;
mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use callbridge_media::bridge::{BridgeConfig, PathPolicy};
use callbridge_media::event::Side;
use callbridge_media::shell::pool::{Placement, WorkerPool};
use callbridge_media::shell::ports::PortAllocator;
use callbridge_media::shell::worker;
use callbridge_media::{MediaError, sdp};
use callbridge_model::{CallId, LegId, MediaAnswer, MediaOffer, MediaTransport, Sdp};
use tokio::sync::mpsc;

use self::call::{Bridged, CallMedia, LegMedia, Negotiation};
pub use self::error::MediaServiceError;
use self::events::{Route, Routes};
pub use self::notice::MediaNotice;
pub use self::settings::MediaSettings;
pub use self::snapshot::MediaSnapshot;
use self::state::State;

/// How many notices may wait for the drivers before new ones are dropped.
const NOTICE_QUEUE: usize = 1024;

/// The media core as the call drivers see it. Cheap to clone; every clone is the same service.
#[derive(Debug, Clone)]
pub struct MediaService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: MediaSettings,
    state: Mutex<State>,
    routes: Routes,
}

/// What a re-offer on a running bridge needs, gathered under the lock and run after it.
enum Reoffer {
    Sip {
        answer: String,
        negotiated: sdp::Negotiated,
        declared: sdp::DeclaredSsrcs,
    },
    Browser {
        offer: String,
    },
}

impl MediaService {
    /// Starts the media workers; returns the service and the notices of bridged calls
    /// (timeouts, one-way audio, DTMF) for the drivers.
    pub fn start(
        settings: MediaSettings,
    ) -> Result<(Self, mpsc::Receiver<MediaNotice>), MediaServiceError> {
        let (tx, rx) = mpsc::channel(NOTICE_QUEUE);
        let routes = Routes::default();
        let pool = WorkerPool::with_events(
            settings.workers,
            settings.call_cost,
            settings.max_utilization,
            events::sink(routes.clone(), tx),
        )?;
        let ports = PortAllocator::new(settings.ports.clone())?;
        let inner = Inner {
            settings,
            state: Mutex::new(State {
                pool,
                ports,
                calls: HashMap::new(),
            }),
            routes,
        };
        Ok((
            Self {
                inner: Arc::new(inner),
            },
            rx,
        ))
    }

    /// Reserves capacity for `call` (at its first offer or answer) and makes our SDES-SRTP
    /// SIP offer for `leg` (RTP/SAVP, `a=crypto` AES_CM_128_HMAC_SHA1_80 first, the SIP codecs
    /// plus telephone-event, rtcp-mux). The leg's UDP socket is bound now.
    pub async fn prepare_offer(
        &self,
        call: CallId,
        leg: LegId,
    ) -> Result<MediaOffer, MediaServiceError> {
        let settings = &self.inner.settings;
        let mut state = self.lock()?;
        state.ensure_admitted(call)?;
        let offer = state.open_leg(settings, call, leg, |at| {
            let local = call::sip_local(at, &settings.codecs_sip);
            let offer = sdp::create_offer(&local, call::session_id());
            Ok((Negotiation::Offered { local }, offer))
        })?;
        Ok(MediaOffer {
            transport: MediaTransport::SipRtp,
            sdp: to_sdp(&offer)?,
        })
    }

    /// Answers a far end's offer on `leg`: a browser leg (str0m, ICE-lite, DTLS-SRTP) for
    /// [`MediaTransport::WebRtc`], an RTP leg for [`MediaTransport::SipRtp`]. Reserves capacity
    /// at the call's first offer. On a bridged call this is a re-offer (hold, resume, new
    /// keys or codec): the running bridge is renegotiated on its worker.
    pub async fn accept_offer(
        &self,
        call: CallId,
        leg: LegId,
        offer: &MediaOffer,
    ) -> Result<MediaAnswer, MediaServiceError> {
        let transport = offer.transport;
        let reoffer = {
            let mut state = self.lock()?;
            match state.calls.get_mut(&call) {
                Some(c) if c.bridged.is_some() => {
                    Some(prepare_reoffer(c, leg, transport, offer.sdp.as_str())?)
                }
                _ => None,
            }
        };
        let answer = match reoffer {
            Some((placement, side, r)) => self.renegotiate(placement, side, r).await?,
            None => self.answer_new(call, leg, transport, offer.sdp.as_str())?,
        };
        Ok(MediaAnswer {
            transport,
            sdp: to_sdp(&answer)?,
        })
    }

    /// Completes our offer for `leg` with the far end's answer.
    pub async fn apply_answer(
        &self,
        call: CallId,
        leg: LegId,
        answer: &MediaAnswer,
    ) -> Result<(), MediaServiceError> {
        let mut state = self.lock()?;
        let media = state
            .calls
            .get_mut(&call)
            .and_then(|c| c.leg_mut(leg))
            .ok_or(MediaServiceError::UnknownCall)?;
        let Negotiation::Offered { local } = &media.negotiation else {
            return Err(MediaServiceError::UnknownCall);
        };
        if answer.transport != MediaTransport::SipRtp {
            return Err(MediaServiceError::Negotiation(
                "answer transport does not match the offer".into(),
            ));
        }
        let text = answer.sdp.as_str();
        let negotiated = sdp::apply_answer(text, local)?;
        let declared = sdp::remote_ssrcs(text)?;
        let local = local.clone();
        media.negotiation = Negotiation::Sip {
            local,
            negotiated,
            declared,
        };
        Ok(())
    }

    /// Both legs negotiated: builds the bridge (passthrough when they share a codec) and hands
    /// it with its sockets to the worker holding the call's capacity. After a failure the call
    /// can only be released.
    pub async fn bridge(&self, call: CallId) -> Result<(), MediaServiceError> {
        let settings = &self.inner.settings;
        let mut state = self.lock()?;
        let State { pool, calls, .. } = &mut *state;
        let media = calls.get_mut(&call).ok_or(MediaServiceError::UnknownCall)?;
        if media.bridged.is_some() {
            return Ok(());
        }
        let reservation = media
            .reservation
            .take()
            .ok_or(MediaServiceError::UnknownCall)?;
        let mut cfg = BridgeConfig::new(worker::wall_clock());
        cfg.policy = PathPolicy::PassthroughFirst;
        if let Some(t) = settings.media_timeout {
            cfg.timeouts.active = t;
        }
        let (bridge, sockets, sides) = match media.assemble(cfg) {
            Ok(built) => built,
            Err(e) => {
                // The capacity stays held until the driver releases the call.
                media.reservation = Some(reservation);
                return Err(e);
            }
        };
        let placement = pool.place(reservation, bridge, sockets).inspect_err(|e| {
            if matches!(e, MediaError::AtCapacity(_)) {
                metrics::counter!("callbridge_media_admission_refused_total").increment(1);
            }
        })?;
        if let Ok(mut routes) = self.inner.routes.write() {
            routes.insert(placement.id, Route { call, sides });
        }
        media.bridged = Some(Bridged { placement, sides });
        state.publish();
        Ok(())
    }

    /// Releases everything the call holds: its bridge (a final RTCP BYE on each leg), sockets,
    /// ports and capacity. Idempotent; an unknown call is fine.
    pub async fn release(&self, call: CallId) {
        let Ok(mut state) = self.lock() else { return };
        let Some(media) = state.calls.remove(&call) else {
            return;
        };
        if let Some(b) = media.bridged {
            if let Ok(mut routes) = self.inner.routes.write() {
                routes.remove(&b.placement.id);
            }
            if let Err(e) = state.pool.remove_call(b.placement) {
                tracing::warn!(%call, error = %e, "media worker did not take the release");
            }
        }
        if let Some(r) = media.reservation {
            state.pool.cancel(r);
        }
        for leg in media.legs {
            drop(leg.socket);
            state.ports.release(leg.port);
        }
        state.publish();
    }

    /// Live calls and capacity, for metrics and the dashboard.
    pub fn snapshot(&self) -> MediaSnapshot {
        match self.lock() {
            Ok(state) => state.snapshot(self.inner.settings.workers),
            Err(_) => MediaSnapshot::default(),
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, MediaServiceError> {
        self.inner
            .state
            .lock()
            .map_err(|_| MediaServiceError::Internal("media state lock poisoned".into()))
    }

    /// Answers an offer on a call that is not bridged yet: a new leg, or a further offer on a
    /// leg still negotiating.
    fn answer_new(
        &self,
        call: CallId,
        leg: LegId,
        transport: MediaTransport,
        offer: &str,
    ) -> Result<String, MediaServiceError> {
        let settings = &self.inner.settings;
        let mut state = self.lock()?;
        state.ensure_admitted(call)?;
        if let Some(existing) = state.calls.get_mut(&call).and_then(|c| c.leg_mut(leg)) {
            return answer_again(existing, transport, offer);
        }
        state.open_leg(settings, call, leg, |at| {
            answer_fresh(at, transport, offer, settings)
        })
    }

    /// Runs a re-offer on the worker that owns the bridge.
    async fn renegotiate(
        &self,
        placement: Placement,
        side: Side,
        reoffer: Reoffer,
    ) -> Result<String, MediaServiceError> {
        // The worker has no such call when the call was released meanwhile.
        let gone = |_| MediaServiceError::UnknownCall;
        match reoffer {
            Reoffer::Sip {
                answer,
                negotiated,
                declared,
            } => {
                let job = self.lock()?.pool.run(placement, move |bridge, now| {
                    bridge.renegotiate(side, negotiated, declared, now)
                });
                job.await.map_err(gone)??;
                Ok(answer)
            }
            Reoffer::Browser { offer } => {
                let job = self.lock()?.pool.run(placement, move |bridge, now| {
                    bridge.renegotiate_webrtc(side, &offer, now)
                });
                Ok(job.await.map_err(gone)??)
            }
        }
    }
}

/// Gathers what a re-offer on a bridged call needs: the SIP answer is made here, with the keys
/// the leg already uses; a browser offer is answered by the bridge's own leg.
fn prepare_reoffer(
    media: &mut CallMedia,
    leg: LegId,
    transport: MediaTransport,
    offer: &str,
) -> Result<(Placement, Side, Reoffer), MediaServiceError> {
    let side = media.side_of(leg).ok_or(MediaServiceError::UnknownCall)?;
    let placement = media
        .bridged
        .map(|b| b.placement)
        .ok_or(MediaServiceError::UnknownCall)?;
    let state = media.leg_mut(leg).ok_or(MediaServiceError::UnknownCall)?;
    let Negotiation::Bridged { sip } = &state.negotiation else {
        return Err(MediaServiceError::UnknownCall);
    };
    let reoffer = match (transport, sip) {
        (MediaTransport::SipRtp, Some(local)) => {
            let (answer, negotiated, declared) = call::sip_answer(offer, local)?;
            Reoffer::Sip {
                answer,
                negotiated,
                declared,
            }
        }
        (MediaTransport::WebRtc, None) => Reoffer::Browser {
            offer: offer.to_owned(),
        },
        _ => return Err(transport_mismatch()),
    };
    Ok((placement, side, reoffer))
}

/// Answers a first offer on a new leg advertised at `at`.
fn answer_fresh(
    at: SocketAddr,
    transport: MediaTransport,
    offer: &str,
    settings: &MediaSettings,
) -> Result<(Negotiation, String), MediaServiceError> {
    match transport {
        MediaTransport::WebRtc => {
            let (web, answer) = call::browser_answer(at, &settings.codecs_browser, offer)?;
            Ok((Negotiation::Browser(Box::new(web)), answer))
        }
        MediaTransport::SipRtp => {
            let local = call::sip_local(at, &settings.codecs_sip);
            let (answer, negotiated, declared) = call::sip_answer(offer, &local)?;
            let negotiation = Negotiation::Sip {
                local,
                negotiated,
                declared,
            };
            Ok((negotiation, answer))
        }
        _ => Err(transport_mismatch()),
    }
}

/// Answers a further offer on a leg that is still negotiating (the far end offered again
/// before the bridge existed, or answered our offer with one of its own).
fn answer_again(
    leg: &mut LegMedia,
    transport: MediaTransport,
    offer: &str,
) -> Result<String, MediaServiceError> {
    match (&mut leg.negotiation, transport) {
        (Negotiation::Browser(web), MediaTransport::WebRtc) => Ok(web.accept_offer(offer)?),
        (
            Negotiation::Offered { local } | Negotiation::Sip { local, .. },
            MediaTransport::SipRtp,
        ) => {
            let local = local.clone();
            let (answer, negotiated, declared) = call::sip_answer(offer, &local)?;
            leg.negotiation = Negotiation::Sip {
                local,
                negotiated,
                declared,
            };
            Ok(answer)
        }
        (Negotiation::Bridged { .. }, _) => Err(MediaServiceError::UnknownCall),
        _ => Err(transport_mismatch()),
    }
}

fn transport_mismatch() -> MediaServiceError {
    MediaServiceError::Negotiation("offer transport does not match the leg".into())
}

fn to_sdp(text: &str) -> Result<Sdp, MediaServiceError> {
    Sdp::parse(text)
        .map_err(|_| MediaServiceError::Internal("media core produced invalid SDP".into()))
}
