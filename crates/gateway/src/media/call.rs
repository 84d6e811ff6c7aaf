//! One call's media state between its first offer and its release: its legs (our socket and
//! where each stands in offer/answer), the capacity it holds, and, once bridged, where its
//! bridge runs and which model leg is which side of it.

use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use callbridge_media::Codec;
use callbridge_media::bridge::{Bridge, BridgeConfig};
use callbridge_media::event::Side;
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig, StreamStart};
use callbridge_media::media_leg::{BrowserLeg, MediaLeg};
use callbridge_media::sdp::{self, DeclaredSsrcs, LocalMedia, Negotiated};
use callbridge_media::shell::pool::{Placement, Reservation};
use callbridge_media::shell::worker;
use callbridge_media::webrtc::{WebRtcLeg, WebRtcLegConfig};
use callbridge_model::LegId;

use super::MediaServiceError;

/// RTCP CNAME of our streams; it names no one.
const CNAME: &str = "callbridge";

/// Where one leg stands in offer/answer.
#[derive(Debug)]
pub(super) enum Negotiation {
    /// We offered (SIP); the far end's answer is awaited.
    Offered {
        /// What we offered, keys included.
        local: LocalMedia,
    },
    /// A SIP leg, negotiated.
    Sip {
        /// What we offered or answered with, kept for answering re-offers with the same keys.
        local: LocalMedia,
        /// The outcome.
        negotiated: Negotiated,
        /// SSRCs the far end declared.
        declared: DeclaredSsrcs,
    },
    /// A browser leg, its offer answered.
    Browser(Box<WebRtcLeg>),
    /// Handed to the bridge, which now owns the leg.
    Bridged {
        /// For a SIP leg, what we offered or answered with (a browser leg keeps its own).
        sip: Option<LocalMedia>,
    },
}

/// One leg of the call.
#[derive(Debug)]
pub(super) struct LegMedia {
    /// The model's leg.
    pub(super) id: LegId,
    /// Our RTP port for it.
    pub(super) port: u16,
    /// The address the leg advertises (the public address, our port).
    pub(super) local: SocketAddr,
    /// Its socket, until the bridge's worker takes it.
    pub(super) socket: Option<UdpSocket>,
    /// Its offer/answer state.
    pub(super) negotiation: Negotiation,
}

impl LegMedia {
    fn is_browser(&self) -> bool {
        match &self.negotiation {
            Negotiation::Browser(_) => true,
            Negotiation::Bridged { sip } => sip.is_none(),
            Negotiation::Offered { .. } | Negotiation::Sip { .. } => false,
        }
    }
}

/// Where a bridged call runs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bridged {
    /// Its worker and key there.
    pub(super) placement: Placement,
    /// The model legs on bridge side A and side B.
    pub(super) sides: [LegId; 2],
}

/// The media state of one call.
#[derive(Debug, Default)]
pub(super) struct CallMedia {
    /// Capacity held while the call negotiates.
    pub(super) reservation: Option<Reservation>,
    /// Set once the bridge runs (the reservation became its placement).
    pub(super) bridged: Option<Bridged>,
    /// At most two legs, in the order they appeared.
    pub(super) legs: Vec<LegMedia>,
}

impl CallMedia {
    /// The leg `id`.
    pub(super) fn leg_mut(&mut self, id: LegId) -> Option<&mut LegMedia> {
        self.legs.iter_mut().find(|l| l.id == id)
    }

    /// Which bridge side `id` is on, once bridged.
    pub(super) fn side_of(&self, id: LegId) -> Option<Side> {
        let b = self.bridged?;
        if b.sides[0] == id {
            Some(Side::A)
        } else if b.sides[1] == id {
            Some(Side::B)
        } else {
            None
        }
    }

    /// The worker index the call's capacity sits on.
    pub(super) fn worker(&self) -> Option<usize> {
        self.bridged
            .map(|b| b.placement.worker)
            .or_else(|| self.reservation.as_ref().map(Reservation::worker))
    }

    /// Builds the bridge from two negotiated legs, a browser leg on side A by convention;
    /// returns it, its sockets in side order, and the model legs on each side. The legs move
    /// into the bridge: after a failure here the call can only be released.
    pub(super) fn assemble(
        &mut self,
        cfg: BridgeConfig,
    ) -> Result<(Bridge, Vec<UdpSocket>, [LegId; 2]), MediaServiceError> {
        let ready = |l: &LegMedia| {
            l.socket.is_some()
                && matches!(
                    l.negotiation,
                    Negotiation::Sip { .. } | Negotiation::Browser(_)
                )
        };
        if self.legs.len() != 2 || !self.legs.iter().all(ready) {
            return Err(MediaServiceError::UnknownCall);
        }
        // Side A is the browser's when exactly one leg is a browser; else order of arrival.
        if self.legs[1].is_browser() && !self.legs[0].is_browser() {
            self.legs.swap(0, 1);
        }
        let now = worker::now();
        let mut built = Vec::with_capacity(2);
        let mut sockets = Vec::with_capacity(2);
        for leg in &mut self.legs {
            let (media, sip) = take_leg(leg, now)?;
            built.push(media);
            leg.negotiation = Negotiation::Bridged { sip };
            sockets.extend(leg.socket.take());
        }
        let mut built = built.into_iter();
        let (Some(a), Some(b)) = (built.next(), built.next()) else {
            return Err(MediaServiceError::UnknownCall);
        };
        let bridge = Bridge::new(a, b, cfg, now)?;
        Ok((bridge, sockets, [self.legs[0].id, self.legs[1].id]))
    }
}

/// Moves a negotiated leg out of `leg` as a bridge leg, with the SIP leg's local description
/// kept for later re-offers.
fn take_leg(
    leg: &mut LegMedia,
    now: Instant,
) -> Result<(MediaLeg, Option<LocalMedia>), MediaServiceError> {
    let start = StreamStart::random();
    match std::mem::replace(&mut leg.negotiation, Negotiation::Bridged { sip: None }) {
        Negotiation::Sip {
            local,
            negotiated,
            declared,
        } => {
            let mut rtp = RtpLeg::new(RtpLegConfig {
                local: leg.local,
                negotiated,
                latch: LatchMode::FirstValidPacket,
                ssrc: start.ssrc,
                cname: CNAME.into(),
                initial_seq: start.seq,
                initial_ts: start.ts,
            })?;
            rtp.set_declared_ssrcs(declared);
            Ok((rtp.into(), Some(local)))
        }
        Negotiation::Browser(web) => {
            let browser = BrowserLeg::new(*web, start.ssrc, start.seq, start.ts, now)?;
            Ok((browser.into(), None))
        }
        Negotiation::Offered { .. } | Negotiation::Bridged { .. } => {
            Err(MediaServiceError::UnknownCall)
        }
    }
}

/// Our description of a new SIP leg on `local`: SDES-SRTP with fresh keys (`_80` first, the
/// suite Teams requires), `codecs` plus telephone-event, rtcp-mux.
pub(super) fn sip_local(local: SocketAddr, codecs: &[Codec]) -> LocalMedia {
    LocalMedia::new(local.ip(), local.port(), codecs.to_vec()).with_fresh_srtp()
}

/// A new browser leg on `local`, its offer answered; returns the leg and our answer.
pub(super) fn browser_answer(
    local: SocketAddr,
    codecs: &[Codec],
    offer: &str,
) -> Result<(WebRtcLeg, String), MediaServiceError> {
    let mut web = WebRtcLeg::new(
        &WebRtcLegConfig {
            public_addr: local,
            codecs: codecs.to_vec(),
        },
        worker::now(),
    )?;
    let answer = web.accept_offer(offer)?;
    Ok((web, answer))
}

/// Answers a SIP far end's offer with `local`: our answer, the outcome and the SSRCs the far
/// end declared.
pub(super) fn sip_answer(
    offer: &str,
    local: &LocalMedia,
) -> Result<(String, Negotiated, DeclaredSsrcs), MediaServiceError> {
    let (answer, negotiated) = sdp::answer_offer(offer, local, session_id())?;
    let declared = sdp::remote_ssrcs(offer)?;
    Ok((answer, negotiated, declared))
}

/// An SDP session id: the NTP-format time RFC 4566 §5.2 suggests.
pub(super) fn session_id() -> u64 {
    worker::wall_clock().unix.as_secs() + NTP_UNIX_OFFSET
}

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
