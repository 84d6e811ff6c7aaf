//! Heap allocations on the passthrough path in steady state, counted per thread: none, for plain
//! RTP and for SDES-SRTP (unprotected, rewritten and protected again in the one pooled buffer),
//! CSRCs and header extensions included.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use callbridge_media::bridge::{Bridge, Input, Output, Path};
use callbridge_media::codec::Codec;
use callbridge_media::leg::RtpLeg;
use callbridge_media::packet::RtpPacket;
use callbridge_media::sdp::{self, LocalMedia};
use callbridge_media::srtp::SrtpSession;

const PEERS: [&str; 2] = ["192.0.2.1:5000", "192.0.2.2:5000"];
const LOCALS: [&str; 2] = ["10.0.0.1:4000", "10.0.0.1:4002"];
const WARM_UP: usize = 200;
const MEASURED: usize = 4_000;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// A PCMU passthrough bridge, and the peers' keys (if SRTP) for producing their packets.
fn rig(srtp: bool, now: Instant) -> (Bridge, Vec<Option<SrtpSession>>) {
    let mut legs = Vec::new();
    let mut peers = Vec::new();
    for i in 0..2 {
        let (p, l) = (addr(PEERS[i]), addr(LOCALS[i]));
        let mut pm = LocalMedia::new(p.ip(), p.port(), vec![Codec::Pcmu]);
        let mut bm = LocalMedia::new(l.ip(), l.port(), vec![Codec::Pcmu]);
        if srtp {
            pm = pm.with_fresh_srtp();
            bm = bm.with_fresh_srtp();
        }
        let offer = sdp::create_offer(&pm, 1);
        let (answer, at_bridge) = sdp::answer_offer(&offer, &bm, 2).expect("answer");
        let at_peer = sdp::apply_answer(&answer, &pm).expect("apply");
        peers.push(
            at_peer
                .srtp
                .map(|(o, t)| SrtpSession::new(&o, &t).expect("peer keys")),
        );
        legs.push(common::rtp_leg(l, at_bridge, 0x10 + i as u32));
    }
    let legs: [RtpLeg; 2] = legs.try_into().expect("two legs");
    let bridge = common::bridge_of(legs, now);
    assert_eq!(bridge.path(), Path::Passthrough);
    (bridge, peers)
}

/// A PCMU packet; with `extras`, every other one carries a CSRC and a one-byte header
/// extension, which a header parser that collects them into lists would allocate for.
fn packet(seq: u16, ssrc: u32, extras: bool) -> Vec<u8> {
    let p = RtpPacket::build(0, false, seq, u32::from(seq) * 160, ssrc, &[0xD5; 160]);
    let mut wire = p.as_bytes().to_vec();
    if extras && seq % 2 == 1 {
        wire[0] |= 0x10 | 1; // X bit, CC = 1
        let extras = [
            0, 0, 0x12, 0x34, // CSRC
            0xBE, 0xDE, 0, 1, // one-byte extension profile, one word
            0x10, 0x7F, 0, 0, // id 1, len 1 (audio level), padding
        ];
        wire.splice(12..12, extras);
    }
    wire
}

/// The datagrams both peers send, alternating directions: (arrival leg index, bytes).
fn traffic(peers: &mut [Option<SrtpSession>], count: usize, extras: bool) -> Vec<(usize, Vec<u8>)> {
    (0..count)
        .map(|k| {
            let side = k % 2;
            let p = packet((k / 2) as u16, 0xA0 + side as u32, extras);
            let wire = match &mut peers[side] {
                Some(s) => s.protect_rtp(&p).expect("protect").to_vec(),
                None => p,
            };
            (side, wire)
        })
        .collect()
}

/// Feeds every datagram, 10 ms apart, drains the bridge and hands every payload back the way
/// the shell does after sending. Returns the number of datagrams the bridge emitted.
fn forward(bridge: &mut Bridge, packets: &[(usize, Vec<u8>)], now: &mut Instant) -> usize {
    let mut sent = 0;
    for (side, wire) in packets {
        *now += Duration::from_millis(10);
        let input = Input::Receive {
            from: addr(PEERS[*side]),
            to: addr(LOCALS[*side]),
            data: wire,
        };
        bridge.handle_input(input, *now).expect("input");
        loop {
            match bridge.poll_output() {
                Output::Transmit(t) => {
                    assert_eq!(t.to, addr(PEERS[1 - side]));
                    sent += 1;
                    bridge.recycle(t);
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
    }
    sent
}

/// Allocations (count) made while forwarding `MEASURED` packets after a warm-up.
fn steady_state_allocations(srtp: bool, extras: bool) -> u64 {
    let mut now = common::epoch();
    let (mut bridge, mut peers) = rig(srtp, now);
    let packets = traffic(&mut peers, WARM_UP + MEASURED, extras);
    let (warm, measured) = packets.split_at(WARM_UP);
    assert_eq!(forward(&mut bridge, warm, &mut now), WARM_UP);
    let mut sent = 0;
    let info = allocation_counter::measure(|| {
        sent = forward(&mut bridge, measured, &mut now);
    });
    assert_eq!(sent, MEASURED, "every packet forwarded");
    info.count_total
}

#[test]
fn plain_rtp_passthrough_allocates_nothing() {
    assert_eq!(steady_state_allocations(false, true), 0);
}

#[test]
fn srtp_passthrough_allocates_nothing() {
    assert_eq!(steady_state_allocations(true, false), 0);
}

#[test]
fn srtp_passthrough_with_csrcs_and_extensions_allocates_nothing() {
    assert_eq!(steady_state_allocations(true, true), 0);
}
