//! Virtual-time test harness: two fake peers, the bridge in between, an impaired network.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod audio;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use callbridge_media::bridge::{Bridge, BridgeConfig, Input, Output, PathPolicy};
use callbridge_media::clock::WallClock;
use callbridge_media::codec::Codec;
use callbridge_media::dtmf::TelephoneEvent;
use callbridge_media::event::{MediaEvent, Side};
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::packet::{RtpPacket, is_rtcp};
use callbridge_media::sdp::{self, DeclaredSsrcs, Direction, LocalMedia, Negotiated};
use callbridge_media::srtp::SrtpSession;
use callbridge_media::transcode::codecs::Encoder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// An arbitrary origin for virtual time.
#[allow(clippy::disallowed_methods)] // Tests need one real Instant to offset from; nothing waits on it.
pub fn epoch() -> Instant {
    Instant::now()
}

pub const MS20: Duration = Duration::from_millis(20);

/// Network impairment on the peer → bridge path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Netem {
    pub loss: f64,
    pub jitter: Duration,
}

/// A fake far end: sends a tone (or DTMF), receives whatever the bridge sends.
pub struct Peer {
    pub addr: SocketAddr,
    pub bridge_addr: SocketAddr,
    pub negotiated: Negotiated,
    pub srtp: Option<SrtpSession>,
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    pub encoder: Encoder,
    pub tone_hz: f64,
    sample_index: u64,
    pub sending: bool,
    pub received: Vec<(Instant, RtpPacket)>,
    pub rtcp_received: usize,
    pub auth_failures: usize,
    scratch: Vec<i16>,
    payload: Vec<u8>,
}

impl Peer {
    pub fn codec(&self) -> Codec {
        self.negotiated.codec
    }

    fn frame_samples(&self) -> usize {
        (self.codec().sample_rate() as usize * self.negotiated.ptime as usize) / 1000
    }

    fn frame_ts(&self) -> u32 {
        self.codec().rtp_clock() * self.negotiated.ptime / 1000
    }

    /// Encodes and protects the next tone frame.
    pub fn next_audio(&mut self) -> Vec<u8> {
        let n = self.frame_samples();
        let rate = f64::from(self.codec().sample_rate());
        self.scratch.clear();
        for _ in 0..n {
            let t = self.sample_index as f64 / rate;
            self.scratch
                .push((8000.0 * (2.0 * std::f64::consts::PI * self.tone_hz * t).sin()) as i16);
            self.sample_index += 1;
        }
        self.encoder
            .encode(&self.scratch, &mut self.payload)
            .expect("encode");
        let payload = std::mem::take(&mut self.payload);
        let wire = self.packetize(self.negotiated.codec_pt, false, self.ts, &payload);
        self.payload = payload;
        self.ts = self.ts.wrapping_add(self.frame_ts());
        wire
    }

    /// Skips one frame of audio time without sending (DTX, hold).
    pub fn skip_frame(&mut self) {
        self.sample_index += self.frame_samples() as u64;
        self.ts = self.ts.wrapping_add(self.frame_ts());
    }

    pub fn packetize(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let p = RtpPacket::build(pt, marker, self.seq, ts, self.ssrc, payload);
        self.seq = self.seq.wrapping_add(1);
        match &mut self.srtp {
            Some(s) => s.protect_rtp(p.as_bytes()).expect("protect").to_vec(),
            None => p.as_bytes().to_vec(),
        }
    }

    fn deliver(&mut self, data: &[u8], now: Instant) {
        if is_rtcp(data) {
            let ok = match &mut self.srtp {
                Some(s) => s.unprotect_rtcp(data).is_ok(),
                None => true,
            };
            if ok {
                self.rtcp_received += 1;
            } else {
                self.auth_failures += 1;
            }
            return;
        }
        let plain = match &mut self.srtp {
            Some(s) => match s.unprotect_rtp(data) {
                Ok(p) => p,
                Err(_) => {
                    self.auth_failures += 1;
                    return;
                }
            },
            None => BytesMut::from(data),
        };
        let p = RtpPacket::parse(plain).expect("bridge sends valid RTP");
        self.received.push((now, p));
    }

    /// Audio packets received, in arrival order.
    pub fn audio(&self) -> Vec<&RtpPacket> {
        self.received
            .iter()
            .map(|(_, p)| p)
            .filter(|p| p.pt == self.negotiated.codec_pt)
            .collect()
    }

    /// DTMF packets received.
    pub fn dtmf(&self) -> Vec<(&RtpPacket, TelephoneEvent)> {
        self.received
            .iter()
            .filter(|(_, p)| Some(p.pt) == self.negotiated.dtmf_pt)
            .filter_map(|(_, p)| TelephoneEvent::parse(p.payload()).map(|e| (p, e)))
            .collect()
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    order: u64,
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

/// The whole simulated call.
pub struct Sim {
    pub bridge: Bridge,
    pub peers: [Peer; 2],
    pub now: Instant,
    pub start: Instant,
    pub netem: [Netem; 2],
    pub events: Vec<(Instant, MediaEvent)>,
    net: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    rng: StdRng,
    next_send: [Instant; 2],
    deadline: Instant,
    pub bridge_transmits: u64,
}

/// Options for building a simulation.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    pub codecs: [Codec; 2],
    pub srtp: bool,
    pub policy: PathPolicy,
    pub seed: u64,
}

impl SimOptions {
    pub fn new(a: Codec, b: Codec) -> Self {
        Self {
            codecs: [a, b],
            srtp: true,
            policy: PathPolicy::PassthroughFirst,
            seed: 1,
        }
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// A SIP leg at `local` from its negotiation, latching on the first valid packet.
pub fn rtp_leg(local: SocketAddr, negotiated: Negotiated, ssrc: u32) -> RtpLeg {
    RtpLeg::new(RtpLegConfig {
        local,
        negotiated,
        latch: LatchMode::FirstValidPacket,
        ssrc,
        cname: "bridge".into(),
        initial_seq: 1,
        initial_ts: 0,
    })
    .expect("leg")
}

/// Bridges two SIP legs (A then B) at `now`, with default settings and a fixed wall clock.
pub fn bridge_of(legs: [RtpLeg; 2], now: Instant) -> Bridge {
    let [a, b] = legs;
    let wall = WallClock {
        at: now,
        unix: Duration::from_secs(1_790_000_000),
    };
    Bridge::new(a, b, BridgeConfig::new(wall), now).expect("bridge")
}

/// Negotiates one leg through real SDP: the peer offers, the bridge answers.
fn negotiate(peer_media: &LocalMedia, bridge_media: &LocalMedia) -> (Negotiated, Negotiated) {
    let offer = sdp::create_offer(peer_media, 1);
    let (answer, at_bridge) = sdp::answer_offer(&offer, bridge_media, 2).expect("answer");
    let at_peer = sdp::apply_answer(&answer, peer_media).expect("apply answer");
    (at_peer, at_bridge)
}

impl Sim {
    pub fn new(opts: SimOptions) -> Self {
        let start = epoch();
        let bridge_addrs = [addr("10.0.0.1:40000"), addr("10.0.0.1:40002")];
        let peer_addrs = [addr("192.0.2.10:5000"), addr("198.51.100.20:6000")];
        let mut legs = Vec::new();
        let mut peers = Vec::new();
        for i in 0..2 {
            let codec = opts.codecs[i];
            let mut pm = LocalMedia::new(peer_addrs[i].ip(), peer_addrs[i].port(), vec![codec]);
            let mut bm = LocalMedia::new(bridge_addrs[i].ip(), bridge_addrs[i].port(), vec![codec]);
            if opts.srtp {
                pm = pm.with_fresh_srtp();
                bm = bm.with_fresh_srtp();
            }
            let (at_peer, at_bridge) = negotiate(&pm, &bm);
            let leg = RtpLeg::new(RtpLegConfig {
                local: bridge_addrs[i],
                negotiated: at_bridge,
                latch: LatchMode::FirstValidPacket,
                ssrc: 0x1000 + i as u32,
                cname: "bridge".into(),
                initial_seq: 65_000,
                initial_ts: 1_000,
            })
            .expect("leg");
            legs.push(leg);
            let srtp = at_peer
                .srtp
                .as_ref()
                .map(|(ours, theirs)| SrtpSession::new(ours, theirs).expect("keys"));
            peers.push(Peer {
                addr: peer_addrs[i],
                bridge_addr: bridge_addrs[i],
                encoder: Encoder::new(codec, codec.sample_rate(), 5).expect("encoder"),
                negotiated: at_peer,
                srtp,
                ssrc: 0xA000 + i as u32,
                seq: 65_500,
                ts: 4_000_000_000,
                tone_hz: if i == 0 { 440.0 } else { 660.0 },
                sample_index: 0,
                sending: true,
                received: Vec::new(),
                rtcp_received: 0,
                auth_failures: 0,
                scratch: Vec::new(),
                payload: Vec::new(),
            });
        }
        let mut cfg = BridgeConfig::new(WallClock {
            at: start,
            unix: Duration::from_secs(1_790_000_000),
        });
        cfg.policy = opts.policy;
        let b = legs.pop().expect("b");
        let a = legs.pop().expect("a");
        let bridge = Bridge::new(a, b, cfg, start).expect("bridge");
        let pb = peers.pop().expect("b");
        let pa = peers.pop().expect("a");
        Self {
            bridge,
            peers: [pa, pb],
            now: start,
            start,
            netem: [Netem::default(); 2],
            events: Vec::new(),
            net: BinaryHeap::new(),
            order: 0,
            rng: StdRng::seed_from_u64(opts.seed),
            next_send: [start, start + Duration::from_millis(7)],
            deadline: start,
            bridge_transmits: 0,
        }
    }

    /// Sends raw bytes from `from` to the bridge leg `leg` right now (no impairment).
    pub fn inject(&mut self, leg: Side, from: SocketAddr, data: &[u8]) {
        let to = self.peers[leg.index()].bridge_addr;
        self.bridge
            .handle_input(Input::Receive { from, to, data }, self.now)
            .expect("input");
        self.drain();
    }

    fn send_from_peer(&mut self, i: usize, data: Vec<u8>) {
        let n = self.netem[i];
        if n.loss > 0.0 && self.rng.random_bool(n.loss) {
            return;
        }
        let delay = if n.jitter.is_zero() {
            Duration::ZERO
        } else {
            n.jitter.mul_f64(self.rng.random::<f64>())
        };
        self.order += 1;
        self.net.push(Reverse(InFlight {
            at: self.now + delay,
            order: self.order,
            from: self.peers[i].addr,
            to: self.peers[i].bridge_addr,
            data,
        }));
    }

    fn drain(&mut self) {
        loop {
            match self.bridge.poll_output() {
                Output::Transmit(t) => {
                    self.bridge_transmits += 1;
                    let now = self.now;
                    if let Some(p) = self.peers.iter_mut().find(|p| p.addr == t.to) {
                        p.deliver(&t.payload, now);
                    }
                }
                Output::Event(e) => self.events.push((self.now, e)),
                Output::Timeout(t) => {
                    self.deadline = t;
                    return;
                }
            }
        }
    }

    /// Runs the call for `d` of virtual time; peers that are `sending` emit one frame per ptime.
    pub fn run_for(&mut self, d: Duration) {
        self.run_with(d, |_, _| None);
    }

    /// Like [`Sim::run_for`] but `hook(peer, sim_time)` may replace a peer's frame with other
    /// bytes (for DTMF and tampering); returning `Some(vec![])` sends nothing.
    pub fn run_with(
        &mut self,
        d: Duration,
        mut hook: impl FnMut(usize, &mut Peer) -> Option<Vec<Vec<u8>>>,
    ) {
        let end = self.now + d;
        self.drain();
        loop {
            let net_next = self.net.peek().map(|Reverse(f)| f.at);
            let mut next = self.deadline.min(self.next_send[0]).min(self.next_send[1]);
            if let Some(n) = net_next {
                next = next.min(n);
            }
            if next > end {
                self.now = end;
                return;
            }
            self.now = self.now.max(next);
            if let Some(Reverse(f)) = self.net.peek()
                && f.at <= self.now
            {
                let Some(Reverse(f)) = self.net.pop() else {
                    continue;
                };
                self.bridge
                    .handle_input(
                        Input::Receive {
                            from: f.from,
                            to: f.to,
                            data: &f.data,
                        },
                        self.now,
                    )
                    .expect("input");
                self.drain();
                continue;
            }
            for i in 0..2 {
                if self.next_send[i] <= self.now {
                    let ptime = Duration::from_millis(u64::from(self.peers[i].negotiated.ptime));
                    self.next_send[i] += ptime;
                    let frames = match hook(i, &mut self.peers[i]) {
                        Some(frames) => frames,
                        None if self.peers[i].sending => vec![self.peers[i].next_audio()],
                        None => {
                            self.peers[i].skip_frame();
                            Vec::new()
                        }
                    };
                    for f in frames {
                        self.send_from_peer(i, f);
                    }
                }
            }
            if self.deadline <= self.now {
                self.bridge
                    .handle_input(Input::Timeout, self.now)
                    .expect("timeout");
                self.drain();
            }
        }
    }

    pub fn has_event(&self, pred: impl Fn(&MediaEvent) -> bool) -> bool {
        self.events.iter().any(|(_, e)| pred(e))
    }

    /// Re-INVITE on leg `id`: new direction and/or new peer address, same keys and codec.
    pub fn reinvite(&mut self, id: Side, direction: Direction, new_peer_addr: Option<SocketAddr>) {
        let i = id.index();
        let mut n = self.bridge.leg(id).negotiated().clone();
        n.direction = direction;
        if let Some(a) = new_peer_addr {
            n.remote = a;
            self.peers[i].addr = a;
        }
        self.peers[i].negotiated.direction = direction.reversed();
        self.bridge
            .renegotiate(id, n, DeclaredSsrcs::default(), self.now)
            .expect("renegotiate");
        self.drain();
    }
}

pub use rand;
