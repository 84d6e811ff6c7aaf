//! The WebRTC leg as a bridge leg: the str0m leg plus the bookkeeping every leg has (outbound
//! numbering, reception statistics, drop counters, hold state from the negotiated direction).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::error::{MediaError, Result};
use crate::leg::{Inbound, Transmit};
use crate::packet::RtpPacket;
use crate::rewrite::OutboundStream;
use crate::sdp::Negotiated;
use crate::stats::{DropCounters, LegStats, ReceiveStats, SendStats};
use crate::webrtc::{AudioNegotiation, WebRtcLeg, WebRtcOutput};

/// A WebRTC leg plus the bookkeeping the bridge expects of every leg.
#[derive(Debug)]
pub struct BrowserLeg {
    pub(super) inner: WebRtcLeg,
    pub(super) negotiated: Negotiated,
    /// RTP clock of the negotiated telephone-event (it need not be the codec's).
    pub(super) dtmf_clock: u32,
    pub(super) out: OutboundStream,
    pub(super) rx: ReceiveStats,
    tx: SendStats,
    pub(super) drops: DropCounters,
    pub(super) pending_tx: VecDeque<Transmit>,
    pub(super) pending_rtp: VecDeque<RtpPacket>,
    pub(super) deadline: Option<Instant>,
    remote_ssrc: Option<u32>,
    pub(super) ssrc_changed: bool,
    pub(super) last_activity: Option<Instant>,
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

    /// Handles a datagram for this leg: the first RTP packet it yielded, or what became of it.
    pub(super) fn receive(&mut self, from: SocketAddr, data: &[u8], now: Instant) -> Inbound {
        if self
            .inner
            .receive(from, data, now)
            .and_then(|()| self.pump(now))
            .is_err()
        {
            self.drops.malformed += 1;
            return Inbound::Dropped;
        }
        self.pending_rtp
            .pop_front()
            .map_or(Inbound::Rtcp, Inbound::Rtp)
    }

    /// Sends a packet through str0m, unless ICE/DTLS is not up or our direction does not send
    /// (held).
    pub(super) fn send_rtp(&mut self, packet: &RtpPacket, now: Instant) -> Option<Transmit> {
        if !self.connected || !self.negotiated.direction.sends() {
            return None;
        }
        let sent = self.inner.send_rtp(
            packet.pt,
            packet.marker,
            packet.seq,
            packet.ts,
            packet.payload(),
            now,
        );
        if sent.is_ok() {
            self.tx.packets += 1;
            self.tx.bytes += packet.payload().len() as u64;
        }
        let _ = self.pump(now);
        self.pending_tx.pop_front()
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| d <= now)
            && self
                .inner
                .handle_timeout(now)
                .and_then(|()| self.pump(now))
                .is_err()
        {
            // str0m refused the timeout; try again shortly rather than spin.
            self.deadline = Some(now + Duration::from_millis(100));
        }
    }

    /// A statistics snapshot; `extra_delay` is our jitter buffer towards the other leg.
    /// RTT and the loss the browser reports come from str0m's RTCP, as on SIP legs from ours.
    pub(super) fn stats(&self, extra_delay: Duration) -> LegStats {
        LegStats::from_counters(
            self.negotiated.codec,
            &self.rx,
            self.tx,
            self.drops,
            self.inner.rtt(),
            self.inner.remote_loss(),
            extra_delay,
        )
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
