//! `a=ssrc` in the SIP leg's strict source checks: declared SSRCs (and the latched one) pass,
//! anything else is dropped and counted, and a new SDP replaces the declared set.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use callbridge_media::bridge::{Bridge, Input, Output};
use callbridge_media::codec::Codec;
use callbridge_media::event::Side;
use callbridge_media::leg::RtpLeg;
use callbridge_media::packet::RtpPacket;
use callbridge_media::sdp::{self, DeclaredSsrcs, LocalMedia};

const PEER_A: &str = "192.0.2.10:5000";
const PEER_B: &str = "198.51.100.20:6000";
const BRIDGE_A: &str = "10.0.0.1:40000";
const BRIDGE_B: &str = "10.0.0.1:40002";
const MS20: Duration = Duration::from_millis(20);

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// A plain-RTP PCMU offer from `peer`, with one `a=ssrc` line per declared SSRC.
fn offer(peer: &str, ssrcs: &[u32]) -> String {
    let a = addr(peer);
    let mut text = sdp::create_offer(&LocalMedia::new(a.ip(), a.port(), vec![Codec::Pcmu]), 1);
    for s in ssrcs {
        text.push_str(&format!("a=ssrc:{s} cname:peer\r\n"));
    }
    text
}

/// Leg A declares `ssrcs` in its offer; leg B declares nothing.
struct Call {
    bridge: Bridge,
    now: Instant,
    seq: u16,
}

impl Call {
    fn new(ssrcs: &[u32]) -> Self {
        let now = common::epoch();
        let mut legs = Vec::new();
        for (i, (peer, local, declared)) in [(PEER_A, BRIDGE_A, ssrcs), (PEER_B, BRIDGE_B, &[])]
            .into_iter()
            .enumerate()
        {
            let l = addr(local);
            let offer = offer(peer, declared);
            let bm = LocalMedia::new(l.ip(), l.port(), vec![Codec::Pcmu]);
            let (_, negotiated) = sdp::answer_offer(&offer, &bm, 2).expect("answer");
            let mut leg = common::rtp_leg(l, negotiated, 0x100 + i as u32);
            leg.set_declared_ssrcs(sdp::remote_ssrcs(&offer).expect("a=ssrc"));
            legs.push(leg);
        }
        let legs: [RtpLeg; 2] = legs.try_into().expect("two legs");
        Self {
            bridge: common::bridge_of(legs, now),
            now,
            seq: 0,
        }
    }

    /// Sends one packet from peer A with `ssrc`; returns whether the bridge forwarded it to B.
    fn send(&mut self, ssrc: u32) -> bool {
        self.now += MS20;
        self.seq = self.seq.wrapping_add(1);
        let p = RtpPacket::build(
            0,
            false,
            self.seq,
            u32::from(self.seq) * 160,
            ssrc,
            &[0xD5; 160],
        );
        let input = Input::Receive {
            from: addr(PEER_A),
            to: addr(BRIDGE_A),
            data: p.as_bytes(),
        };
        self.bridge.handle_input(input, self.now).expect("input");
        let mut forwarded = false;
        loop {
            match self.bridge.poll_output() {
                Output::Transmit(t) => forwarded |= t.to == addr(PEER_B),
                Output::Event(_) => {}
                Output::Timeout(_) => return forwarded,
            }
        }
    }

    fn wrong_ssrc(&self) -> u64 {
        self.bridge.stats(Side::A).drops.wrong_ssrc
    }
}

#[test]
fn undeclared_ssrc_is_dropped_and_counted() {
    let mut call = Call::new(&[1111, 2222]);
    assert!(!call.send(9999), "undeclared SSRC before latching");
    assert_eq!(call.wrong_ssrc(), 1);
    assert!(call.send(1111));
    assert!(!call.send(9999), "undeclared SSRC after latching");
    assert!(!call.send(3333));
    assert_eq!(call.wrong_ssrc(), 3);
    assert!(call.send(1111), "the latched stream is unaffected");
    assert_eq!(call.bridge.stats(Side::A).packets_received, 2);
}

#[test]
fn switch_to_a_declared_ssrc_has_no_gap() {
    let mut call = Call::new(&[1111, 2222]);
    for _ in 0..10 {
        assert!(call.send(1111));
    }
    // The peer moves to its second declared stream: the very first packet goes through.
    for _ in 0..10 {
        assert!(call.send(2222));
    }
    assert_eq!(call.wrong_ssrc(), 0);
    assert_eq!(call.bridge.stats(Side::A).packets_received, 20);
}

#[test]
fn without_declarations_any_ssrc_change_is_accepted() {
    let mut call = Call::new(&[]);
    for ssrc in [1, 2, 3, 4] {
        assert!(call.send(ssrc), "SSRC {ssrc}");
        assert!(call.send(ssrc));
    }
    assert_eq!(call.wrong_ssrc(), 0);
}

#[test]
fn a_new_sdp_replaces_the_declared_set() {
    let mut call = Call::new(&[1111]);
    assert!(call.send(1111));
    assert!(!call.send(4444));
    // Re-INVITE: same address and codec, the peer now declares 4444 only.
    let reoffer = offer(PEER_A, &[4444]);
    let bm = LocalMedia::new(
        addr(BRIDGE_A).ip(),
        addr(BRIDGE_A).port(),
        vec![Codec::Pcmu],
    );
    let (_, negotiated) = sdp::answer_offer(&reoffer, &bm, 3).expect("answer");
    let ssrcs = sdp::remote_ssrcs(&reoffer).expect("a=ssrc");
    assert_eq!(ssrcs, DeclaredSsrcs::new([4444]));
    call.bridge
        .renegotiate(Side::A, negotiated, ssrcs, call.now)
        .expect("renegotiate");
    assert!(call.send(1111), "still the latched stream");
    assert!(call.send(4444), "newly declared");
    assert!(!call.send(1111), "neither declared nor latched any more");
    assert_eq!(call.wrong_ssrc(), 2);
    // A re-INVITE without a=ssrc lifts the restriction.
    let plain = offer(PEER_A, &[]);
    let (_, negotiated) = sdp::answer_offer(&plain, &bm, 4).expect("answer");
    call.bridge
        .renegotiate(
            Side::A,
            negotiated,
            sdp::remote_ssrcs(&plain).expect("none"),
            call.now,
        )
        .expect("renegotiate");
    assert!(call.send(5555));
    assert_eq!(call.wrong_ssrc(), 2);
}
