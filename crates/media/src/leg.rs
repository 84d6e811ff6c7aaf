//! The SIP/RTP leg: symmetric-RTP latching with strict source checks (the latched address, and
//! the latched SSRC or those the peer declared with `a=ssrc`), SDES-SRTP or plain RTP,
//! rtcp-mux, statistics and RTCP generation. Sans-IO: datagrams and time in, datagrams out.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc_rtcp::reception_report::ReceptionReport;

use crate::buffers::BufferPool;
use crate::clock::{WallClock, ntp_mid, to_compact};
use crate::error::Result;
use crate::packet::{RtpPacket, is_rtcp};
use crate::rewrite::OutboundStream;
use crate::rtcp::{self, ReportSpec, SenderInfo};
use crate::sdp::{DeclaredSsrcs, Direction, Negotiated};
use crate::srtp::{SrtpSession, UnprotectError};
use crate::stats::{DropCounters, LegStats, ReceiveStats, SendStats, e_model_mos};

/// How the leg decides where the peer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatchMode {
    /// Latch onto the source of the first packet that passes every check (SRTP auth
    /// included), then accept that source only (symmetric RTP through NAT).
    #[default]
    FirstValidPacket,
    /// Accept only the address from SDP.
    SdpAddressOnly,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Local address (socket) to send from.
    pub from: SocketAddr,
    /// Destination.
    pub to: SocketAddr,
    /// Bytes on the wire.
    pub payload: Bytes,
}

/// What an inbound datagram turned out to be.
#[derive(Debug)]
pub enum Inbound {
    /// An accepted RTP packet, decrypted.
    Rtp(RtpPacket),
    /// An accepted RTCP packet (already folded into the leg's statistics).
    Rtcp,
    /// Dropped and counted.
    Dropped,
}

/// Where an outbound stream starts: its SSRC, first sequence number and first timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStart {
    /// The SSRC.
    pub ssrc: u32,
    /// The first sequence number.
    pub seq: u16,
    /// The first timestamp.
    pub ts: u32,
}

impl StreamStart {
    /// All three random, as RFC 3550 (§5.1, §8.1) asks of a new stream: a known start helps
    /// a known-plaintext attack on SRTP, and a fixed SSRC collides more often.
    pub fn random() -> Self {
        Self {
            ssrc: rand::random(),
            seq: rand::random(),
            ts: rand::random(),
        }
    }
}

/// Static settings of one RTP leg.
#[derive(Debug, Clone)]
pub struct RtpLegConfig {
    /// Our socket address for this leg.
    pub local: SocketAddr,
    /// The offer/answer result.
    pub negotiated: Negotiated,
    /// Latching policy.
    pub latch: LatchMode,
    /// Our outbound SSRC.
    pub ssrc: u32,
    /// RTCP CNAME.
    pub cname: String,
    /// First outbound sequence number.
    pub initial_seq: u16,
    /// First outbound timestamp.
    pub initial_ts: u32,
}

/// How long an old SSRC is refused after the peer switched away from it.
const OLD_SSRC_QUARANTINE: Duration = Duration::from_millis(500);

/// One SIP/RTP leg.
#[derive(Debug)]
pub struct RtpLeg {
    cfg: RtpLegConfig,
    srtp: Option<SrtpSession>,
    remote: SocketAddr,
    latched: bool,
    remote_ssrc: Option<u32>,
    previous_ssrc: Option<(u32, Instant)>,
    /// SSRCs the peer declared in SDP; when non-empty, the only ones besides the latched one.
    declared: DeclaredSsrcs,
    rx: ReceiveStats,
    tx: SendStats,
    drops: DropCounters,
    out: OutboundStream,
    rtt: Option<Duration>,
    remote_fraction_lost: Option<u8>,
    sent_since_report: bool,
    last_activity: Option<Instant>,
    ssrc_changed: bool,
    wall: Option<WallClock>,
    /// Origin for arrival times in jitter computation.
    origin: Option<Instant>,
}

impl RtpLeg {
    /// A leg keyed and addressed from its negotiation.
    pub fn new(cfg: RtpLegConfig) -> Result<Self> {
        let srtp = match &cfg.negotiated.srtp {
            Some((ours, theirs)) => Some(SrtpSession::new(ours, theirs)?),
            None => None,
        };
        let clock = cfg.negotiated.codec.rtp_clock();
        Ok(Self {
            srtp,
            remote: cfg.negotiated.remote,
            latched: false,
            remote_ssrc: None,
            previous_ssrc: None,
            declared: DeclaredSsrcs::default(),
            rx: ReceiveStats::default(),
            tx: SendStats::default(),
            drops: DropCounters::default(),
            out: OutboundStream::new(cfg.ssrc, cfg.initial_seq, cfg.initial_ts, clock),
            rtt: None,
            remote_fraction_lost: None,
            sent_since_report: false,
            last_activity: None,
            ssrc_changed: false,
            wall: None,
            origin: None,
            cfg,
        })
    }

    /// Our local socket address.
    pub fn local(&self) -> SocketAddr {
        self.cfg.local
    }

    /// Where we currently send.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The negotiation in force.
    pub fn negotiated(&self) -> &Negotiated {
        &self.cfg.negotiated
    }

    /// Our outbound stream (SSRC/sequence/timestamp state).
    pub fn outbound(&mut self) -> &mut OutboundStream {
        &mut self.out
    }

    /// When the peer was last heard (RTP or RTCP).
    pub fn last_activity(&self) -> Option<Instant> {
        self.last_activity
    }

    /// When the peer last sent RTP.
    pub fn last_rtp(&self) -> Option<Instant> {
        self.rx.last_arrival
    }

    /// Whether the last accepted packet started a new inbound SSRC; clears the flag.
    pub fn take_ssrc_changed(&mut self) -> bool {
        std::mem::take(&mut self.ssrc_changed)
    }

    /// Sets the SSRCs the peer declared in its SDP ([`crate::sdp::remote_ssrcs`]), replacing
    /// any earlier set. With a non-empty set, RTP from any other SSRC than these and the one
    /// currently latched is dropped and counted as `wrong_ssrc`; an empty set accepts any.
    pub fn set_declared_ssrcs(&mut self, declared: DeclaredSsrcs) {
        self.declared = declared;
    }

    /// The SSRCs the peer declared, if any.
    pub fn declared_ssrcs(&self) -> &DeclaredSsrcs {
        &self.declared
    }

    /// Applies a re-INVITE: new address, keys, codec or direction. Outbound numbering continues.
    pub fn renegotiate(&mut self, negotiated: Negotiated) -> Result<()> {
        let keys_changed = negotiated.srtp != self.cfg.negotiated.srtp;
        if keys_changed {
            self.srtp = match &negotiated.srtp {
                Some((ours, theirs)) => Some(SrtpSession::new(ours, theirs)?),
                None => None,
            };
        }
        if negotiated.remote != self.cfg.negotiated.remote || keys_changed {
            self.remote = negotiated.remote;
            self.latched = false;
            self.remote_ssrc = None;
        }
        self.out.reanchor();
        self.cfg.negotiated = negotiated;
        Ok(())
    }

    /// Handles one datagram that arrived on this leg's socket.
    pub fn receive(&mut self, from: SocketAddr, data: &[u8], now: Instant) -> Inbound {
        self.receive_with(from, data, &mut BufferPool::default(), now)
    }

    /// Handles one datagram, taking the packet buffer from `pool` and returning it there when
    /// the datagram is dropped (the bridge's allocation-free path).
    pub fn receive_with(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        pool: &mut BufferPool,
        now: Instant,
    ) -> Inbound {
        if !self.source_allowed(from) {
            self.drops.wrong_source += 1;
            return Inbound::Dropped;
        }
        if is_rtcp(data) {
            return self.receive_rtcp(from, data, now);
        }
        // SRTP is unprotected in the pooled buffer too, so the packet is never copied again.
        let mut buf = pool.take();
        buf.extend_from_slice(data);
        if let Some(s) = &mut self.srtp
            && let Err(e) = s.unprotect_rtp_in_place(&mut buf)
        {
            pool.give(buf);
            self.count_unprotect(e);
            return Inbound::Dropped;
        }
        match self.check(from, buf, now) {
            Ok(packet) => Inbound::Rtp(packet),
            Err(buf) => {
                pool.give(buf);
                Inbound::Dropped
            }
        }
    }

    /// Parses and runs the strict checks on a plaintext packet; accounts for it if accepted,
    /// else counts the drop and hands the buffer back.
    fn check(
        &mut self,
        from: SocketAddr,
        plain: BytesMut,
        now: Instant,
    ) -> std::result::Result<RtpPacket, BytesMut> {
        let packet = match RtpPacket::try_parse(plain) {
            Ok(packet) => packet,
            Err(buf) => {
                self.drops.malformed += 1;
                return Err(buf);
            }
        };
        let n = &self.cfg.negotiated;
        let known_pt =
            packet.pt == n.codec_pt || Some(packet.pt) == n.dtmf_pt || Some(packet.pt) == n.cn_pt;
        if !known_pt {
            self.drops.unknown_payload_type += 1;
            return Err(packet.into_buffer());
        }
        let receives = n.direction.receives();
        let clock = n.codec.rtp_clock();
        if !self.ssrc_allowed(packet.ssrc, now) {
            self.drops.wrong_ssrc += 1;
            return Err(packet.into_buffer());
        }
        if !receives {
            // The peer keeps sending while we put it on hold: account, do not forward.
            self.drops.while_held += 1;
            self.last_activity = Some(now);
            return Err(packet.into_buffer());
        }
        self.latch(from);
        let origin = self.epoch(now);
        let arrival =
            crate::rewrite::duration_to_clock(now.saturating_duration_since(origin), clock);
        self.rx.record(
            packet.seq,
            packet.ts,
            packet.payload().len(),
            u64::from(arrival),
            now,
        );
        self.last_activity = Some(now);
        Ok(packet)
    }

    fn epoch(&mut self, now: Instant) -> Instant {
        // Jitter only needs a consistent origin for arrival times; the first one serves.
        *self.origin.get_or_insert(now)
    }

    fn receive_rtcp(&mut self, from: SocketAddr, data: &[u8], now: Instant) -> Inbound {
        let plain = match &mut self.srtp {
            Some(s) => match s.unprotect_rtcp(data) {
                Ok(p) => p,
                Err(e) => {
                    self.count_unprotect(e);
                    return Inbound::Dropped;
                }
            },
            None => BytesMut::from(data),
        };
        let Some(summary) = rtcp::parse(&plain, self.out.ssrc()) else {
            self.drops.malformed += 1;
            return Inbound::Dropped;
        };
        self.latch(from);
        self.last_activity = Some(now);
        if let Some((_, mid)) = summary.sender_report {
            self.rx.last_sr = Some((mid, now));
        }
        if let Some((fraction, lsr, dlsr)) = summary.about_us {
            self.remote_fraction_lost = Some(fraction);
            if let Some(wall) = self.wall {
                let now_mid = ntp_mid(wall.ntp(now));
                if let Some(rtt) = rtcp::round_trip(now_mid, lsr, dlsr) {
                    self.rtt = Some(rtt);
                }
            }
        }
        Inbound::Rtcp
    }

    fn count_unprotect(&mut self, e: UnprotectError) {
        match e {
            UnprotectError::Auth => self.drops.auth_failed += 1,
            UnprotectError::Replay => self.drops.replayed += 1,
        }
    }

    fn source_allowed(&self, from: SocketAddr) -> bool {
        if self.latched || self.cfg.latch == LatchMode::SdpAddressOnly {
            from == self.remote
        } else {
            true
        }
    }

    fn latch(&mut self, from: SocketAddr) {
        if !self.latched {
            self.latched = true;
            self.remote = from;
        }
    }

    fn ssrc_allowed(&mut self, ssrc: u32, now: Instant) -> bool {
        let declared = self.declared.is_empty() || self.declared.contains(ssrc);
        match self.remote_ssrc {
            Some(current) if current == ssrc => true,
            // The peer told us which streams it sends: anything else is someone else's.
            _ if !declared => false,
            None => {
                self.remote_ssrc = Some(ssrc);
                true
            }
            Some(current) => {
                // A switch back to an SSRC the peer just left is a stale or duplicated stream.
                if let Some((old, at)) = self.previous_ssrc
                    && old == ssrc
                    && now.saturating_duration_since(at) < OLD_SSRC_QUARANTINE
                {
                    return false;
                }
                self.previous_ssrc = Some((current, now));
                self.remote_ssrc = Some(ssrc);
                self.rx.restart();
                self.ssrc_changed = true;
                true
            }
        }
    }

    /// Protects an outbound packet (header already final) into a datagram for the peer.
    ///
    /// Returns `None` while the leg must not send (hold) or if protection fails.
    pub fn send_rtp(&mut self, packet: &RtpPacket) -> Option<Transmit> {
        if !self.cfg.negotiated.direction.sends() {
            return None;
        }
        let payload = match &mut self.srtp {
            Some(s) => s.protect_rtp(packet.as_bytes()).ok()?.freeze(),
            None => Bytes::copy_from_slice(packet.as_bytes()),
        };
        Some(self.sent(packet.payload().len(), payload))
    }

    /// [`RtpLeg::send_rtp`] for a packet we own (the passthrough path): it goes out in its own
    /// buffer, SRTP protected in place, and a buffer that is not sent goes back to `pool`.
    pub fn send_rtp_owned(&mut self, packet: RtpPacket, pool: &mut BufferPool) -> Option<Transmit> {
        if !self.cfg.negotiated.direction.sends() {
            pool.give(packet.into_buffer());
            return None;
        }
        let payload_len = packet.payload().len();
        let mut buf = packet.into_buffer();
        if let Some(s) = &mut self.srtp
            && s.protect_rtp_in_place(&mut buf).is_err()
        {
            pool.give(buf);
            return None;
        }
        Some(self.sent(payload_len, buf.freeze()))
    }

    fn sent(&mut self, payload_len: usize, payload: Bytes) -> Transmit {
        self.tx.packets += 1;
        self.tx.bytes += payload_len as u64;
        self.sent_since_report = true;
        Transmit {
            from: self.cfg.local,
            to: self.remote,
            payload,
        }
    }

    /// Builds this leg's periodic RTCP report (SR if we sent since the last one, else RR).
    pub fn build_report(&mut self, now: Instant, bye: bool) -> Option<Transmit> {
        let wall = self.wall?;
        let ntp = wall.ntp(now);
        let sender = if self.sent_since_report {
            let (_, ts, at) = self.out.last_sent()?;
            // The RTP time "now": last timestamp plus the wall time since it was sent.
            let rtp_ts = ts.wrapping_add(crate::rewrite::duration_to_clock(
                now.saturating_duration_since(at),
                self.out.clock(),
            ));
            Some(SenderInfo {
                ntp,
                rtp_ts,
                packets: self.tx.packets as u32,
                octets: self.tx.bytes as u32,
            })
        } else {
            None
        };
        self.sent_since_report = false;
        let reception = self.remote_ssrc.map(|ssrc| {
            let (lsr, dlsr) = match self.rx.last_sr {
                Some((mid, at)) => (mid, to_compact(now.saturating_duration_since(at))),
                None => (0, 0),
            };
            ReceptionReport {
                ssrc,
                fraction_lost: self.rx.take_fraction_lost(),
                total_lost: (self.rx.cumulative_lost() as u32).min(0x00FF_FFFF),
                last_sequence_number: self.rx.extended_max(),
                jitter: self.rx.jitter(),
                last_sender_report: lsr,
                delay: dlsr,
            }
        });
        let spec = ReportSpec {
            ssrc: self.out.ssrc(),
            cname: &self.cfg.cname,
            sender,
            reception,
            bye,
        };
        let plain = rtcp::build(&spec)?;
        let payload = match &mut self.srtp {
            Some(s) => s.protect_rtcp(&plain).ok()?.freeze(),
            None => plain.freeze(),
        };
        Some(Transmit {
            from: self.cfg.local,
            to: self.remote,
            payload,
        })
    }

    /// Sets the wall-clock anchor used for NTP timestamps in reports.
    pub fn set_wall_clock(&mut self, wall: WallClock) {
        self.wall = Some(wall);
        self.origin = Some(wall.at);
    }

    /// A statistics snapshot. `extra_delay` is what we add ourselves (jitter buffer).
    pub fn stats(&self, extra_delay: Duration) -> LegStats {
        let clock = f64::from(self.cfg.negotiated.codec.rtp_clock());
        let lost = self.rx.cumulative_lost();
        let expected = self.rx.packets + lost;
        let loss_ratio = if expected == 0 {
            0.0
        } else {
            lost as f64 / expected as f64
        };
        let jitter = Duration::from_secs_f64(f64::from(self.rx.jitter()) / clock);
        let one_way = self.rtt.map_or(Duration::ZERO, |r| r / 2) + extra_delay + jitter * 2;
        LegStats {
            packets_received: self.rx.packets,
            bytes_received: self.rx.bytes,
            packets_sent: self.tx.packets,
            bytes_sent: self.tx.bytes,
            packets_lost: lost,
            loss_ratio,
            jitter,
            rtt: self.rtt,
            remote_loss: self.remote_fraction_lost.map(|f| f64::from(f) / 256.0),
            mos: e_model_mos(self.cfg.negotiated.codec, one_way, loss_ratio),
            drops: self.drops,
        }
    }

    /// Counts a packet the bridge dropped as late.
    pub fn count_late(&mut self) {
        self.drops.late += 1;
    }

    /// Whether the peer is expected to send to us (not on hold towards us).
    pub fn expects_media(&self) -> bool {
        self.cfg.negotiated.direction.receives()
    }

    /// Our direction on this leg.
    pub fn direction(&self) -> Direction {
        self.cfg.negotiated.direction
    }
}
