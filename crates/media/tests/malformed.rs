//! Malformed and hostile input is dropped and counted, never forwarded, never a panic.

mod common;

use std::time::Duration;

use callbridge_media::codec::Codec;
use callbridge_media::event::Side;
use callbridge_media::packet::RtpPacket;
use common::{Sim, SimOptions};
use proptest::prelude::*;

fn plain_sim() -> Sim {
    let mut sim = Sim::new(SimOptions {
        srtp: false,
        ..SimOptions::new(Codec::Pcmu, Codec::Pcmu)
    });
    sim.run_for(Duration::from_millis(200));
    sim
}

fn rtp_with(first: u8, ssrc: u32, extra: &[u8]) -> Vec<u8> {
    let mut v = vec![first, 0, 0, 9, 0, 0, 0, 1];
    v.extend_from_slice(&ssrc.to_be_bytes());
    v.extend_from_slice(extra);
    v
}

#[test]
fn malformed_rtp_is_dropped_with_a_counter() {
    let mut sim = plain_sim();
    let from = sim.peers[0].addr;
    let ssrc = sim.peers[0].ssrc;
    let before = sim.peers[1].received.len();
    let cases: Vec<Vec<u8>> = vec![
        rtp_with(0x8F, ssrc, &[1, 2, 3]), // CSRC count 15, none present
        rtp_with(0x90, ssrc, &[0xBE, 0xDE, 0xFF, 0xFF, 1]), // extension length overflow
        rtp_with(0x80, ssrc, &[]),        // zero payload
        rtp_with(0xA0, ssrc, &[1, 2, 200]), // padding longer than payload
        vec![0x80, 0x00, 0x01],           // truncated header
        vec![0x80, 200, 0xFF, 0xFF, 1, 2, 3, 4], // RTCP claiming a huge length
    ];
    let n = cases.len() as u64;
    for c in &cases {
        sim.inject(Side::A, from, c);
    }
    let drops = sim.bridge.stats(Side::A).drops;
    assert_eq!(drops.malformed, n, "{drops:?}");
    assert_eq!(sim.peers[1].received.len(), before, "nothing forwarded");
}

#[test]
fn wrong_source_unknown_payload_type_and_stale_ssrc_are_dropped() {
    let mut sim = plain_sim();
    let from = sim.peers[0].addr;
    let good = RtpPacket::build(0, false, 1, 1, sim.peers[0].ssrc, &[0xFF; 160]);
    sim.inject(
        Side::A,
        "203.0.113.66:5000".parse().expect("addr"),
        good.as_bytes(),
    );
    let odd_pt = RtpPacket::build(96, false, 1, 1, sim.peers[0].ssrc, &[0xFF; 160]);
    sim.inject(Side::A, from, odd_pt.as_bytes());
    // The peer switches SSRC; a packet from the old SSRC right after is a stale stream.
    let new_ssrc = RtpPacket::build(0, false, 500, 1, 0x5555, &[0xFF; 160]);
    sim.inject(Side::A, from, new_ssrc.as_bytes());
    let stale = RtpPacket::build(0, false, 2, 1, sim.peers[0].ssrc, &[0xFF; 160]);
    sim.inject(Side::A, from, stale.as_bytes());
    let d = sim.bridge.stats(Side::A).drops;
    assert_eq!(
        (d.wrong_source, d.unknown_payload_type, d.wrong_ssrc),
        (1, 1, 1),
        "{d:?}"
    );
}

#[test]
fn srtp_auth_failures_truncated_tags_and_replays_are_dropped() {
    let mut sim = Sim::new(SimOptions::new(Codec::G722, Codec::G722));
    sim.run_for(Duration::from_millis(200));
    let from = sim.peers[0].addr;
    let before = sim.peers[1].received.len();
    let wire = sim.peers[0].next_audio();
    let mut tampered = wire.clone();
    tampered[30] ^= 0x40;
    sim.inject(Side::A, from, &tampered);
    sim.inject(Side::A, from, &wire[..wire.len() - 3]); // truncated tag
    sim.inject(Side::A, from, &wire[..8]); // shorter than a header
    sim.inject(Side::A, from, &wire); // the genuine one is accepted...
    sim.inject(Side::A, from, &wire); // ...once
    let d = sim.bridge.stats(Side::A).drops;
    assert_eq!(d.auth_failed, 3, "{d:?}");
    assert_eq!(d.replayed, 1, "{d:?}");
    assert_eq!(sim.peers[1].received.len(), before + 1);
    // Plain RTP into an SRTP leg fails authentication too.
    let plain = RtpPacket::build(9, false, 1, 1, sim.peers[0].ssrc, &[0; 160]);
    sim.inject(Side::A, from, plain.as_bytes());
    assert_eq!(sim.bridge.stats(Side::A).drops.auth_failed, 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_bytes_are_never_forwarded(packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..40)) {
        let mut sim = Sim::new(SimOptions::new(Codec::Pcmu, Codec::Opus));
        sim.run_for(Duration::from_millis(100));
        let from = sim.peers[0].addr;
        let before = sim.bridge.stats(Side::A);
        for p in &packets {
            sim.inject(Side::A, from, p);
        }
        let after = sim.bridge.stats(Side::A);
        prop_assert_eq!(after.packets_received, before.packets_received);
        prop_assert_eq!(after.drops.total() - before.drops.total(), packets.len() as u64);
    }
}
