//! One side of a bridge: either a SIP/RTP leg or a WebRTC (browser) leg, behind one interface.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::clock::WallClock;
use crate::error::{MediaError, Result};
use crate::leg::{Inbound, RtpLeg, Transmit};
use crate::packet::RtpPacket;
use crate::rewrite::OutboundStream;
use crate::sdp::{Direction, Negotiated};
use crate::stats::{DropCounters, LegStats, ReceiveStats, SendStats, e_model_mos};
use crate::webrtc::{AudioNegotiation, WebRtcLeg, WebRtcOutput};

/// A WebRTC leg plus the bookkeeping the bridge expects of every leg.
#[derive(Debug)]
pub struct BrowserLeg {
    inner: WebRtcLeg,
    negotiated: Negotiated,
    /// RTP clock of the negotiated telephone-event (it need not be the codec's).
    dtmf_clock: u32,
    out: OutboundStream,
    rx: ReceiveStats,
    tx: SendStats,
    drops: DropCounters,
    pending_tx: VecDeque<Transmit>,
    pending_rtp: VecDeque<RtpPacket>,
    deadline: Option<Instant>,
    remote_ssrc: Option<u32>,
    ssrc_changed: bool,
    last_activity: Option<Instant>,
    origin: Option<Instant>,
    connected: bool,
}

impl BrowserLeg {
    /// Wraps a WebRTC leg whose offer/answer is complete. `ssrc`, `initial_seq` and
    /// `initial_ts` seed our outbound stream.
    pub fn new(
        inner: WebRtcLeg,
        ssrc: u32,
        initial_seq: u16,
        initial_ts: u32,
        now: Instant,
    ) -> Result<Self> {
        let audio = inner
            .negotiation()
            .ok_or(MediaError::ApiMisuse("WebRTC leg has no negotiated codec"))?;
        let codec = audio.codec;
        let negotiated = negotiated_from(&audio, inner.local());
        let mut leg = Self {
            out: OutboundStream::new(ssrc, initial_seq, initial_ts, codec.rtp_clock()),
            inner,
            negotiated,
            dtmf_clock: audio.dtmf.map_or(codec.rtp_clock(), |(_, clock)| clock),
            rx: ReceiveStats::default(),
            tx: SendStats::default(),
            drops: DropCounters::default(),
            pending_tx: VecDeque::new(),
            pending_rtp: VecDeque::new(),
            deadline: None,
            remote_ssrc: None,
            ssrc_changed: false,
            last_activity: None,
            origin: None,
            connected: false,
        };
        leg.pump(now)?;
        Ok(leg)
    }

    /// Whether ICE and DTLS completed.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Answers a further offer from the browser (hold, resume, a codec change) and adopts what
    /// it negotiated. The outbound stream keeps its SSRC and numbering; only a change of RTP
    /// clock restarts its timestamps in the new clock.
    pub fn accept_offer(&mut self, offer: &str, now: Instant) -> Result<String> {
        let answer = self.inner.accept_offer(offer)?;
        let audio = self.inner.negotiation().ok_or(MediaError::NoCommonCodec)?;
        let clock = audio.codec.rtp_clock();
        if clock != self.out.clock() {
            let (seq, ts) = self
                .out
                .last_sent()
                .map_or((0, 0), |(seq, ts, _)| (seq.wrapping_add(1), ts));
            self.out = OutboundStream::new(self.out.ssrc(), seq, ts, clock);
        }
        self.dtmf_clock = audio.dtmf.map_or(clock, |(_, c)| c);
        self.negotiated = negotiated_from(&audio, self.inner.local());
        self.pump(now)?;
        Ok(answer)
    }

    fn pump(&mut self, now: Instant) -> Result<()> {
        loop {
            match self.inner.poll_output()? {
                WebRtcOutput::Transmit(t) => self.pending_tx.push_back(t),
                WebRtcOutput::Connected => self.connected = true,
                WebRtcOutput::Rtp(p) => {
                    if p.pt != self.negotiated.codec_pt && Some(p.pt) != self.negotiated.dtmf_pt {
                        self.drops.unknown_payload_type += 1;
                        continue;
                    }
                    if !self.negotiated.direction.receives() {
                        self.drops.while_held += 1;
                        continue;
                    }
                    if self.remote_ssrc.is_some_and(|s| s != p.ssrc) {
                        self.ssrc_changed = true;
                        self.rx.restart();
                    }
                    self.remote_ssrc = Some(p.ssrc);
                    let origin = *self.origin.get_or_insert(now);
                    let arrival = crate::rewrite::duration_to_clock(
                        now.saturating_duration_since(origin),
                        self.negotiated.codec.rtp_clock(),
                    );
                    self.rx
                        .record(p.seq, p.ts, p.payload().len(), u64::from(arrival), now);
                    self.last_activity = Some(now);
                    self.pending_rtp.push_back(p);
                }
                WebRtcOutput::Timeout(t) => {
                    self.deadline = Some(t);
                    return Ok(());
                }
            }
        }
    }
}

fn negotiated_from(audio: &AudioNegotiation, local: SocketAddr) -> Negotiated {
    Negotiated {
        remote: local,
        codec: audio.codec,
        codec_pt: audio.codec_pt,
        dtmf_pt: audio.dtmf.map(|(pt, _)| pt),
        cn_pt: None,
        ptime: 20,
        srtp: None,
        direction: audio.direction,
        rtcp_mux: true,
    }
}

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
            Self::WebRtc(l) => {
                if l.inner
                    .receive(from, data, now)
                    .and_then(|()| l.pump(now))
                    .is_err()
                {
                    l.drops.malformed += 1;
                    return Inbound::Dropped;
                }
                l.pending_rtp
                    .pop_front()
                    .map_or(Inbound::Rtcp, Inbound::Rtp)
            }
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
            Self::WebRtc(l) => {
                if !l.connected || !l.negotiated.direction.sends() {
                    return None;
                }
                let sent = l.inner.send_rtp(
                    packet.pt,
                    packet.marker,
                    packet.seq,
                    packet.ts,
                    packet.payload(),
                    now,
                );
                if sent.is_ok() {
                    l.tx.packets += 1;
                    l.tx.bytes += packet.payload().len() as u64;
                }
                let _ = l.pump(now);
                l.pending_tx.pop_front()
            }
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
        if let Self::WebRtc(l) = self
            && l.deadline.is_some_and(|d| d <= now)
            && l.inner
                .handle_timeout(now)
                .and_then(|()| l.pump(now))
                .is_err()
        {
            l.deadline = Some(now + Duration::from_millis(100));
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
            Self::WebRtc(l) => {
                let clock = f64::from(l.negotiated.codec.rtp_clock());
                let lost = l.rx.cumulative_lost();
                let expected = l.rx.packets + lost;
                let loss_ratio = if expected == 0 {
                    0.0
                } else {
                    lost as f64 / expected as f64
                };
                let jitter = Duration::from_secs_f64(f64::from(l.rx.jitter()) / clock);
                let rtt = l.inner.rtt();
                let one_way = rtt.map_or(Duration::ZERO, |r| r / 2) + extra_delay + jitter * 2;
                LegStats {
                    packets_received: l.rx.packets,
                    bytes_received: l.rx.bytes,
                    packets_sent: l.tx.packets,
                    bytes_sent: l.tx.bytes,
                    packets_lost: lost,
                    loss_ratio,
                    jitter,
                    rtt,
                    remote_loss: None,
                    mos: e_model_mos(l.negotiated.codec, one_way, loss_ratio),
                    drops: l.drops,
                }
            }
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
                "renegotiate a WebRTC leg through its SDP API",
            )),
        }
    }
}
