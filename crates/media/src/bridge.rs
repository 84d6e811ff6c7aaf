//! The bridge: two legs and the path between them, driven by inputs and time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::buffers::BufferPool;
use crate::clock::WallClock;
use crate::dtmf_relay::DtmfRelay;
use crate::error::{MediaError, Result};
use crate::event::{MediaEvent, Side};
use crate::jitter::Push;
use crate::leg::{Inbound, Transmit};
use crate::media_leg::MediaLeg;
use crate::packet::RtpPacket;
use crate::rewrite::InHeader;
use crate::sdp::{DeclaredSsrcs, Negotiated};
use crate::transcode::{TranscodeConfig, TranscodeDirection};

/// How the bridge chooses between passthrough and transcoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathPolicy {
    /// Pass packets through when both legs negotiated the same codec, else transcode.
    #[default]
    PassthroughFirst,
    /// Always decode and re-encode (for testing or level normalisation).
    AlwaysTranscode,
}

/// The path in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Rewrite and re-protect only.
    Passthrough,
    /// Jitter buffer, decode, encode.
    Transcode,
}

/// Media timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// No RTP/RTCP for this long on a leg that should be sending: media timeout.
    pub active: Duration,
    /// The same for a leg on hold (RTCP may be all there is).
    pub held: Duration,
    /// A leg silent this long while the other flows: one-way audio.
    pub one_way: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            active: Duration::from_secs(30),
            held: Duration::from_secs(2 * 3600),
            one_way: Duration::from_secs(5),
        }
    }
}

/// Bridge settings.
#[derive(Debug, Clone, Copy)]
pub struct BridgeConfig {
    /// Path policy.
    pub policy: PathPolicy,
    /// Transcoding settings.
    pub transcode: TranscodeConfig,
    /// Media timeouts.
    pub timeouts: Timeouts,
    /// Interval between RTCP reports on each leg.
    pub rtcp_interval: Duration,
    /// Wall-clock anchor for RTCP.
    pub wall: WallClock,
}

impl BridgeConfig {
    /// Defaults around a wall-clock reading.
    pub fn new(wall: WallClock) -> Self {
        Self {
            policy: PathPolicy::default(),
            transcode: TranscodeConfig::default(),
            timeouts: Timeouts::default(),
            rtcp_interval: Duration::from_secs(5),
            wall,
        }
    }
}

/// An input to the bridge.
#[derive(Debug)]
pub enum Input<'a> {
    /// A datagram arrived on local address `to` from `from`.
    Receive {
        /// The sender.
        from: SocketAddr,
        /// Our socket that received it.
        to: SocketAddr,
        /// The bytes.
        data: &'a [u8],
    },
    /// The deadline last returned by [`Bridge::poll_output`] was reached.
    Timeout,
}

/// What the bridge wants done.
#[derive(Debug)]
pub enum Output {
    /// Send a datagram.
    Transmit(Transmit),
    /// Report an event.
    Event(MediaEvent),
    /// Nothing more now; call [`Bridge::handle_input`] with [`Input::Timeout`] at this instant.
    Timeout(Instant),
}

const HOUSEKEEPING: Duration = Duration::from_millis(500);

/// Two legs bridged.
#[derive(Debug)]
pub struct Bridge {
    legs: [MediaLeg; 2],
    cfg: BridgeConfig,
    path: Path,
    transcoders: Option<[TranscodeDirection; 2]>,
    dtmf: [DtmfRelay; 2],
    queue: VecDeque<Output>,
    /// Packet buffers recycled between received datagrams and sent payloads.
    buffers: BufferPool,
    now: Instant,
    started: Instant,
    next_rtcp: [Instant; 2],
    next_housekeeping: Instant,
    one_way: [bool; 2],
    timed_out: [bool; 2],
}

impl Bridge {
    /// Bridges two legs from `now`.
    pub fn new(
        a: impl Into<MediaLeg>,
        b: impl Into<MediaLeg>,
        cfg: BridgeConfig,
        now: Instant,
    ) -> Result<Self> {
        let mut legs = [a.into(), b.into()];
        for leg in &mut legs {
            leg.set_wall_clock(cfg.wall);
        }
        let mut bridge = Self {
            legs,
            cfg,
            path: Path::Passthrough,
            transcoders: None,
            dtmf: Default::default(),
            queue: VecDeque::new(),
            buffers: BufferPool::default(),
            now,
            started: now,
            next_rtcp: [now + cfg.rtcp_interval / 2, now + cfg.rtcp_interval / 2],
            next_housekeeping: now + HOUSEKEEPING,
            one_way: [false; 2],
            timed_out: [false; 2],
        };
        bridge.choose_path()?;
        Ok(bridge)
    }

    fn choose_path(&mut self) -> Result<()> {
        let (na, nb) = (self.legs[0].negotiated(), self.legs[1].negotiated());
        let same = na.codec == nb.codec && na.ptime == nb.ptime;
        self.path = if same && self.cfg.policy == PathPolicy::PassthroughFirst {
            Path::Passthrough
        } else {
            Path::Transcode
        };
        self.transcoders = match self.path {
            Path::Passthrough => None,
            Path::Transcode => {
                let ms = |n: &Negotiated| Duration::from_millis(u64::from(n.ptime));
                let t = self.cfg.transcode;
                Some([
                    TranscodeDirection::new(na.codec, ms(na), nb.codec, ms(nb), t)?,
                    TranscodeDirection::new(nb.codec, ms(nb), na.codec, ms(na), t)?,
                ])
            }
        };
        Ok(())
    }

    /// The path in use.
    pub fn path(&self) -> Path {
        self.path
    }

    /// A leg, for inspection.
    pub fn leg(&self, id: Side) -> &MediaLeg {
        &self.legs[id.index()]
    }

    /// Statistics of a leg, including our jitter buffer delay towards the *other* leg.
    pub fn stats(&self, id: Side) -> crate::stats::LegStats {
        let jb = self
            .transcoders
            .as_ref()
            .map_or(Duration::ZERO, |t| t[id.index()].buffer_delay());
        self.legs[id.index()].stats(jb)
    }

    /// Whether `to` is one of this bridge's local addresses (for demultiplexing in the shell).
    pub fn accepts(&self, to: SocketAddr) -> bool {
        self.legs.iter().any(|l| l.local() == to)
    }

    /// Applies a re-INVITE (address, keys, codec or hold) to one SIP leg, with the SSRCs the new
    /// SDP declares ([`crate::sdp::remote_ssrcs`]), which replace the leg's earlier set.
    pub fn renegotiate(
        &mut self,
        id: Side,
        negotiated: Negotiated,
        ssrcs: DeclaredSsrcs,
        now: Instant,
    ) -> Result<()> {
        self.now = now;
        let before = self.codec_of(id);
        self.legs[id.index()].renegotiate(negotiated)?;
        if let MediaLeg::Rtp(leg) = &mut self.legs[id.index()] {
            leg.set_declared_ssrcs(ssrcs);
        }
        self.after_renegotiation(id, before)
    }

    /// Answers a further SDP offer from the browser on a WebRTC leg (hold with `sendonly` or
    /// `inactive`, resume, a codec change); returns our answer. Hold and resume take effect
    /// exactly as a SIP re-INVITE does.
    pub fn renegotiate_webrtc(&mut self, id: Side, offer: &str, now: Instant) -> Result<String> {
        self.now = now;
        let before = self.codec_of(id);
        let answer = self.legs[id.index()].accept_offer(offer, now)?;
        self.after_renegotiation(id, before)?;
        Ok(answer)
    }

    fn codec_of(&self, id: Side) -> (crate::codec::Codec, u32) {
        let n = self.legs[id.index()].negotiated();
        (n.codec, n.ptime)
    }

    /// What every renegotiation implies for the path: the other leg's numbering continues
    /// from a fresh anchor, the timeout is re-armed, and the path follows a codec change.
    fn after_renegotiation(&mut self, id: Side, before: (crate::codec::Codec, u32)) -> Result<()> {
        self.legs[id.other().index()].outbound().reanchor();
        self.timed_out[id.index()] = false;
        if self.codec_of(id) != before {
            self.choose_path()?;
        } else if let Some(t) = &mut self.transcoders {
            t[id.index()].reset_input();
        }
        Ok(())
    }

    /// Feeds one input. Afterwards, drain [`Bridge::poll_output`] until it returns a timeout.
    #[allow(clippy::needless_pass_by_value)] // Inputs are consumed by value by convention (str0m style).
    pub fn handle_input(&mut self, input: Input<'_>, now: Instant) -> Result<()> {
        self.now = now;
        match input {
            Input::Receive { from, to, data } => {
                let id = match self.legs.iter().position(|l| l.local() == to) {
                    Some(0) => Side::A,
                    Some(_) => Side::B,
                    None => return Err(MediaError::ApiMisuse("datagram for another bridge")),
                };
                self.receive(id, from, data, now);
            }
            Input::Timeout => self.on_timeout(now),
        }
        Ok(())
    }

    /// The next thing to do; ends with [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.queue.pop_front() {
            return o;
        }
        for leg in &mut self.legs {
            if let Some(t) = leg.take_transmit() {
                return Output::Transmit(t);
            }
        }
        let mut next = self
            .next_housekeeping
            .min(self.next_rtcp[0])
            .min(self.next_rtcp[1]);
        if let Some(t) = &self.transcoders {
            for d in t.iter().filter_map(TranscodeDirection::deadline) {
                next = next.min(d);
            }
        }
        for d in self.legs.iter().filter_map(MediaLeg::deadline) {
            next = next.min(d);
        }
        Output::Timeout(next)
    }

    /// Ends the call: a final RTCP report with BYE on each leg.
    pub fn close(&mut self, now: Instant) {
        for leg in &mut self.legs {
            if let Some(t) = leg.build_report(now, true) {
                self.queue.push_back(Output::Transmit(t));
            }
        }
    }

    /// Takes back a payload the shell has sent (or given up on), for reuse by the next
    /// received datagram. Optional, but without it every passthrough packet allocates.
    pub fn recycle(&mut self, transmit: Transmit) {
        self.buffers.reclaim(transmit.payload);
    }

    fn receive(&mut self, id: Side, from: SocketAddr, data: &[u8], now: Instant) {
        let inbound = match &mut self.legs[id.index()] {
            MediaLeg::Rtp(leg) => leg.receive_with(from, data, &mut self.buffers, now),
            other => other.receive(from, data, now),
        };
        let mut next = match inbound {
            Inbound::Rtp(p) => Some(p),
            Inbound::Rtcp | Inbound::Dropped => None,
        };
        while let Some(packet) = next {
            self.route(id, packet, now);
            next = self.legs[id.index()].next_rtp();
        }
    }

    fn route(&mut self, id: Side, packet: RtpPacket, now: Instant) {
        if self.legs[id.index()].take_ssrc_changed() && self.legs[id.index()].last_rtp().is_some() {
            self.queue
                .push_back(Output::Event(MediaEvent::SourceChanged { leg: id }));
            if let Some(t) = &mut self.transcoders {
                t[id.index()].reset_input();
            }
        }
        match self.path {
            Path::Passthrough => self.forward(id, packet, now),
            Path::Transcode => {
                self.transcode_in(id, &packet, now);
                self.buffers.give(packet.into_buffer());
            }
        }
    }

    /// Passthrough: map the payload type, rewrite identity, re-protect.
    fn forward(&mut self, id: Side, mut packet: RtpPacket, now: Instant) {
        let (src, dst) = (id.index(), id.other().index());
        let n_in = self.legs[src].negotiated();
        let n_out = self.legs[dst].negotiated();
        let pt = if packet.pt == n_in.codec_pt {
            Some(n_out.codec_pt)
        } else if Some(packet.pt) == n_in.dtmf_pt {
            n_out.dtmf_pt
        } else {
            n_out.cn_pt
        };
        let Some(pt) = pt else {
            // The other leg did not negotiate this kind of payload.
            self.buffers.give(packet.into_buffer());
            return;
        };
        if let Some(dtmf) = n_in.dtmf_pt
            && packet.pt == dtmf
            && let Some(ev) = crate::dtmf::TelephoneEvent::parse(packet.payload())
        {
            let (in_clock, out_clock) = (self.legs[src].dtmf_clock(), self.legs[dst].dtmf_clock());
            if ev.end {
                self.note_dtmf_end(id, packet.ts, ev, in_clock);
            }
            if in_clock != out_clock {
                // Same codec, different event clocks (a browser that negotiated only 8 kHz
                // events next to Opus): the duration field must follow the clock.
                let mut payload = packet.payload().to_vec();
                // `parse` accepted it, so the payload holds at least the 4-byte event.
                payload[..4].copy_from_slice(&ev.rescaled(in_clock, out_clock).to_bytes());
                packet = RtpPacket::build(
                    packet.pt,
                    packet.marker,
                    packet.seq,
                    packet.ts,
                    packet.ssrc,
                    &payload,
                );
            }
        }
        let out = self.legs[dst].outbound().rewrite(
            InHeader {
                ssrc: packet.ssrc,
                seq: packet.seq,
                ts: packet.ts,
            },
            now,
        );
        packet.rewrite(pt, out.seq, out.ts, out.ssrc);
        let sent = match &mut self.legs[dst] {
            MediaLeg::Rtp(leg) => leg.send_rtp_owned(packet, &mut self.buffers),
            other => {
                let sent = other.send_rtp(&packet, now);
                self.buffers.give(packet.into_buffer());
                sent
            }
        };
        if let Some(t) = sent {
            self.queue.push_back(Output::Transmit(t));
        }
    }

    fn note_dtmf_end(&mut self, id: Side, ts: u32, ev: crate::dtmf::TelephoneEvent, clock: u32) {
        // Reuse the relay only for End-reporting bookkeeping on the passthrough path.
        if let Some(r) = self.dtmf[id.index()].relay(ts, &ev.to_bytes(), clock, clock, || ts)
            && let Some((digit, duration)) = r.completed
        {
            self.queue.push_back(Output::Event(MediaEvent::Dtmf {
                from: id,
                digit,
                duration,
            }));
        }
    }

    fn transcode_in(&mut self, id: Side, packet: &RtpPacket, now: Instant) {
        let src = id.index();
        let n_in = self.legs[src].negotiated().clone();
        if Some(packet.pt) == n_in.dtmf_pt {
            self.relay_dtmf(id, packet, now);
            return;
        }
        let comfort_noise = Some(packet.pt) == n_in.cn_pt;
        let Some(t) = &mut self.transcoders else {
            return;
        };
        if t[src].push(packet.ts, packet.payload(), comfort_noise, now) == Push::Late {
            self.legs[src].count_late();
        }
    }

    fn relay_dtmf(&mut self, id: Side, packet: &RtpPacket, now: Instant) {
        let (src, dst) = (id.index(), id.other().index());
        let n_out = self.legs[dst].negotiated();
        let Some(out_pt) = n_out.dtmf_pt else { return };
        let (in_clock, out_clock) = (self.legs[src].dtmf_clock(), self.legs[dst].dtmf_clock());
        let next_audio_ts = self.transcoders.as_ref().and_then(|t| t[src].next_out_ts());
        let leg_out = &mut self.legs[dst];
        let fallback = leg_out.outbound().continuation_ts(now, 1);
        let Some(ev) =
            self.dtmf[src].relay(packet.ts, packet.payload(), in_clock, out_clock, || {
                next_audio_ts.unwrap_or(fallback)
            })
        else {
            return;
        };
        let header = leg_out.outbound().generate(ev.ts, now);
        let out = RtpPacket::build(
            out_pt,
            ev.marker,
            header.seq,
            header.ts,
            header.ssrc,
            &ev.payload,
        );
        if let Some(t) = leg_out.send_rtp(&out, now) {
            self.queue.push_back(Output::Transmit(t));
        }
        if let Some((digit, duration)) = ev.completed {
            self.queue.push_back(Output::Event(MediaEvent::Dtmf {
                from: id,
                digit,
                duration,
            }));
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        for leg in &mut self.legs {
            leg.handle_timeout(now);
        }
        self.run_transcoders(now);
        for i in 0..2 {
            if now >= self.next_rtcp[i] {
                self.next_rtcp[i] = now + self.cfg.rtcp_interval;
                if let Some(t) = self.legs[i].build_report(now, false) {
                    self.queue.push_back(Output::Transmit(t));
                }
            }
        }
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING;
            self.check_liveness(now);
        }
    }

    fn run_transcoders(&mut self, now: Instant) {
        let Some(transcoders) = &mut self.transcoders else {
            return;
        };
        for (src, dst) in [(0usize, 1usize), (1, 0)] {
            // Catch up on every frame that is due (the shell may wake us late).
            loop {
                let leg = &mut self.legs[dst];
                let clock_step = leg.outbound().clock() / 50;
                let first = leg.outbound().continuation_ts(now, clock_step);
                let Ok(Some(frame)) = transcoders[src].tick(now, || first) else {
                    break;
                };
                let n_out = leg.negotiated();
                let pt = n_out.codec_pt;
                let header = leg.outbound().generate(frame.ts, now);
                let packet = RtpPacket::build(
                    pt,
                    frame.marker,
                    header.seq,
                    header.ts,
                    header.ssrc,
                    frame.payload,
                );
                if let Some(t) = leg.send_rtp(&packet, now) {
                    self.queue.push_back(Output::Transmit(t));
                }
            }
        }
    }

    fn check_liveness(&mut self, now: Instant) {
        let t = self.cfg.timeouts;
        let heard_within = |leg: &MediaLeg, d: Duration| {
            leg.last_rtp()
                .is_some_and(|at| now.saturating_duration_since(at) < d)
        };
        for id in [Side::A, Side::B] {
            let (i, o) = (id.index(), id.other().index());
            // One-way audio: this leg should send, has been quiet, while the other flows.
            let expected = self.legs[i].expects_media() && self.legs[o].direction().sends();
            let quiet = !heard_within(&self.legs[i], t.one_way)
                && now.saturating_duration_since(self.started) >= t.one_way;
            let other_flows = heard_within(&self.legs[o], t.one_way);
            let alarm = expected && quiet && other_flows;
            if alarm != self.one_way[i] {
                self.one_way[i] = alarm;
                let event = if alarm {
                    MediaEvent::OneWayAudio { silent: id }
                } else {
                    MediaEvent::OneWayAudioCleared { leg: id }
                };
                self.queue.push_back(Output::Event(event));
            }
            // Media timeout: nothing at all (RTP or RTCP) for the applicable period.
            let held = !self.legs[i].expects_media();
            let limit = if held { t.held } else { t.active };
            let last = self.legs[i].last_activity().unwrap_or(self.started);
            if !self.timed_out[i] && now.saturating_duration_since(last) >= limit {
                self.timed_out[i] = true;
                self.queue
                    .push_back(Output::Event(MediaEvent::MediaTimeout { leg: id, held }));
            }
        }
    }
}
