//! One side of a bridge: either a SIP/RTP leg or a WebRTC (browser) leg, behind one interface.

mod browser;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use self::browser::BrowserLeg;
use crate::clock::WallClock;
use crate::error::{MediaError, Result};
use crate::leg::{Inbound, RtpLeg, Transmit};
use crate::packet::RtpPacket;
use crate::rewrite::OutboundStream;
use crate::sdp::{Direction, Negotiated};
use crate::stats::LegStats;

/// One side of a bridge.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // The SIP leg is the per-packet hot path: kept inline on purpose.
pub enum MediaLeg {
    /// SIP/RTP leg (SDES-SRTP or plain RTP).
    Rtp(RtpLeg),
    /// WebRTC leg (ICE-lite, DTLS-SRTP).
    WebRtc(Box<BrowserLeg>),
}

impl From<RtpLeg> for MediaLeg {
    fn from(l: RtpLeg) -> Self {
        Self::Rtp(l)
    }
}

impl From<BrowserLeg> for MediaLeg {
    fn from(l: BrowserLeg) -> Self {
        Self::WebRtc(Box::new(l))
    }
}

impl MediaLeg {
    /// Our local address.
    pub fn local(&self) -> SocketAddr {
        match self {
            Self::Rtp(l) => l.local(),
            Self::WebRtc(l) => l.inner.local(),
        }
    }

    /// Where we send (the latched peer for RTP legs, our own address for WebRTC legs, whose
    /// destination ICE decides).
    pub fn remote(&self) -> SocketAddr {
        match self {
            Self::Rtp(l) => l.remote(),
            Self::WebRtc(l) => l.negotiated.remote,
        }
    }

    /// The negotiation in force.
    pub fn negotiated(&self) -> &Negotiated {
        match self {
            Self::Rtp(l) => l.negotiated(),
            Self::WebRtc(l) => &l.negotiated,
        }
    }

    /// Our outbound stream state.
    pub fn outbound(&mut self) -> &mut OutboundStream {
        match self {
            Self::Rtp(l) => l.outbound(),
            Self::WebRtc(l) => &mut l.out,
        }
    }

    pub(crate) fn set_wall_clock(&mut self, wall: WallClock) {
        if let Self::Rtp(l) = self {
            l.set_wall_clock(wall);
        }
    }

    /// Handles a datagram; RTP that came out of it is returned (the first) or queued.
    pub(crate) fn receive(&mut self, from: SocketAddr, data: &[u8], now: Instant) -> Inbound {
        match self {
            Self::Rtp(l) => l.receive(from, data, now),
            Self::WebRtc(l) => l.receive(from, data, now),
        }
    }

    /// Further RTP packets produced by the last input, if any.
    pub(crate) fn next_rtp(&mut self) -> Option<RtpPacket> {
        match self {
            Self::Rtp(_) => None,
            Self::WebRtc(l) => l.pending_rtp.pop_front(),
        }
    }

    /// Sends an outbound packet (header final).
    pub(crate) fn send_rtp(&mut self, packet: &RtpPacket, now: Instant) -> Option<Transmit> {
        match self {
            Self::Rtp(l) => l.send_rtp(packet),
            Self::WebRtc(l) => l.send_rtp(packet, now),
        }
    }

    /// A datagram the leg produced on its own (ICE, DTLS, RTCP), if any.
    pub(crate) fn take_transmit(&mut self) -> Option<Transmit> {
        match self {
            Self::Rtp(_) => None,
            Self::WebRtc(l) => l.pending_tx.pop_front(),
        }
    }

    /// When the leg needs [`MediaLeg::handle_timeout`].
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Self::Rtp(_) => None,
            Self::WebRtc(l) => l.deadline,
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Self::WebRtc(l) = self {
            l.handle_timeout(now);
        }
    }

    /// Our own RTCP report (WebRTC legs report through str0m).
    pub(crate) fn build_report(&mut self, now: Instant, bye: bool) -> Option<Transmit> {
        match self {
            Self::Rtp(l) => l.build_report(now, bye),
            Self::WebRtc(_) => None,
        }
    }

    /// A statistics snapshot.
    pub fn stats(&self, extra_delay: Duration) -> LegStats {
        match self {
            Self::Rtp(l) => l.stats(extra_delay),
            Self::WebRtc(l) => l.stats(extra_delay),
        }
    }

    pub(crate) fn take_ssrc_changed(&mut self) -> bool {
        match self {
            Self::Rtp(l) => l.take_ssrc_changed(),
            Self::WebRtc(l) => std::mem::take(&mut l.ssrc_changed),
        }
    }

    /// When the peer last sent RTP.
    pub fn last_rtp(&self) -> Option<Instant> {
        match self {
            Self::Rtp(l) => l.last_rtp(),
            Self::WebRtc(l) => l.rx.last_arrival,
        }
    }

    pub(crate) fn last_activity(&self) -> Option<Instant> {
        match self {
            Self::Rtp(l) => l.last_activity(),
            Self::WebRtc(l) => l.last_activity,
        }
    }

    pub(crate) fn count_late(&mut self) {
        match self {
            Self::Rtp(l) => l.count_late(),
            Self::WebRtc(l) => l.drops.late += 1,
        }
    }

    pub(crate) fn expects_media(&self) -> bool {
        match self {
            Self::Rtp(l) => l.expects_media(),
            Self::WebRtc(l) => l.negotiated.direction.receives(),
        }
    }

    pub(crate) fn direction(&self) -> Direction {
        match self {
            Self::Rtp(l) => l.direction(),
            Self::WebRtc(l) => l.negotiated.direction,
        }
    }

    /// RTP clock of the negotiated telephone-event: the codec's on SIP legs, whichever the
    /// browser negotiated on WebRTC legs.
    pub(crate) fn dtmf_clock(&self) -> u32 {
        match self {
            Self::Rtp(l) => l.negotiated().codec.rtp_clock(),
            Self::WebRtc(l) => l.dtmf_clock,
        }
    }

    /// Answers a further SDP offer on a WebRTC leg.
    pub(crate) fn accept_offer(&mut self, offer: &str, now: Instant) -> Result<String> {
        match self {
            Self::Rtp(_) => Err(MediaError::ApiMisuse(
                "renegotiate a SIP leg with its negotiated parameters",
            )),
            Self::WebRtc(l) => l.accept_offer(offer, now),
        }
    }

    pub(crate) fn renegotiate(&mut self, negotiated: Negotiated) -> Result<()> {
        match self {
            Self::Rtp(l) => l.renegotiate(negotiated),
            Self::WebRtc(_) => Err(MediaError::ApiMisuse(
                "renegotiate a WebRTC leg with its SDP offer (Bridge::renegotiate_webrtc)",
            )),
        }
    }
}
