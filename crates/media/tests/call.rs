//! Whole-call scenarios in virtual time: a one-hour call, SSRC changes and sequence wrap,
//! a 30-minute hold and a re-INVITE to a new address, one-way audio and media timeouts.

mod common;

use std::time::Duration;

use callbridge_media::bridge::Path;
use callbridge_media::codec::Codec;
use callbridge_media::event::{MediaEvent, Side};
use callbridge_media::packet::RtpPacket;
use callbridge_media::sdp::{DeclaredSsrcs, Direction};
use common::{Sim, SimOptions};

/// Asserts that consecutive packets have consecutive sequence numbers (wrap included) and
/// timestamps that never go backwards.
fn assert_continuous(packets: &[&RtpPacket], what: &str) {
    for w in packets.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "{what}: sequence gap {} -> {}",
            w[0].seq,
            w[1].seq
        );
        let dts = w[1].ts.wrapping_sub(w[0].ts);
        assert!(
            dts > 0 && dts < 0x8000_0000,
            "{what}: timestamp regressed {} -> {}",
            w[0].ts,
            w[1].ts
        );
        assert_eq!(w[1].ssrc, w[0].ssrc, "{what}: outbound SSRC changed");
    }
}

/// Plain RTP keeps the hour cheap in unoptimised test builds; SRTP across sequence wraps (ROC)
/// is covered by the next test.
#[test]
fn one_hour_passthrough_call_runs_in_virtual_time() {
    let mut sim = Sim::new(SimOptions {
        srtp: false,
        ..SimOptions::new(Codec::Pcmu, Codec::Pcmu)
    });
    assert_eq!(sim.bridge.path(), Path::Passthrough);
    sim.run_for(Duration::from_secs(3600));
    for (i, peer) in sim.peers.iter().enumerate() {
        let audio = peer.audio();
        // 50 packets/s for an hour, minus the few still in flight at the end.
        assert!(
            audio.len() >= 179_990,
            "peer {i} got {} packets",
            audio.len()
        );
        assert_continuous(&audio, "one hour");
        // RTCP every 5 s on each leg.
        assert!(
            (700..=725).contains(&peer.rtcp_received),
            "peer {i} got {} RTCP",
            peer.rtcp_received
        );
        assert_eq!(peer.auth_failures, 0);
    }
    assert!(
        sim.events.is_empty(),
        "no alarms in a healthy call: {:?}",
        sim.events
    );
    for id in [Side::A, Side::B] {
        let s = sim.bridge.stats(id);
        assert_eq!(s.packets_lost, 0);
        assert_eq!(s.drops.total(), 0);
        assert!(s.mos > 4.0, "MOS {}", s.mos);
    }
}

#[test]
fn srtp_survives_sequence_wraps_in_both_directions() {
    let mut sim = Sim::new(SimOptions::new(Codec::Pcmu, Codec::Pcmu));
    // Peers start 6 packets before their wrap, the bridge's outbound streams 536 packets before
    // theirs: every SRTP context (peer and bridge, both ways) has to move its ROC.
    sim.peers[0].seq = 65_530;
    sim.peers[1].seq = 65_530;
    sim.run_for(Duration::from_secs(60));
    for (i, peer) in sim.peers.iter().enumerate() {
        assert_eq!(peer.auth_failures, 0, "peer {i}");
        let audio = peer.audio();
        assert!(audio.len() >= 2_990, "peer {i}: {}", audio.len());
        assert_continuous(&audio, "wraps");
    }
}

#[test]
fn ssrc_change_and_sequence_wrap_leave_no_gap() {
    let mut sim = Sim::new(SimOptions::new(Codec::Pcmu, Codec::Pcmu));
    // Peer A's sequence starts at 65500, so it wraps within the first second.
    sim.run_for(Duration::from_secs(1));
    sim.peers[0].ssrc = 0xBEEF;
    sim.peers[0].seq = 12;
    sim.peers[0].ts = 777;
    sim.run_for(Duration::from_secs(1));
    let audio = sim.peers[1].audio();
    assert!(audio.len() >= 95, "{}", audio.len());
    assert_continuous(&audio, "ssrc change");
    // Timestamps advance by exactly one frame across the switch (20 ms of wall time).
    for w in audio.windows(2) {
        assert_eq!(w[1].ts.wrapping_sub(w[0].ts), 160);
    }
    assert!(sim.has_event(|e| *e == MediaEvent::SourceChanged { leg: Side::A }));
    assert!(!sim.has_event(|e| matches!(e, MediaEvent::OneWayAudio { .. })));
}

#[test]
fn thirty_minute_hold_then_reinvite_to_a_new_address() {
    let mut sim = Sim::new(SimOptions::new(Codec::G722, Codec::Opus));
    assert_eq!(sim.bridge.path(), Path::Transcode);
    sim.run_for(Duration::from_secs(2));
    let before = [sim.peers[0].audio().len(), sim.peers[1].audio().len()];
    assert!(before.iter().all(|&n| n > 80), "{before:?}");

    // Hold both legs (the engine mirrors a hold to the other side); peers go quiet.
    sim.reinvite(Side::A, Direction::Inactive, None);
    sim.reinvite(Side::B, Direction::Inactive, None);
    sim.peers[0].sending = false;
    sim.peers[1].sending = false;
    sim.run_for(Duration::from_secs(30 * 60));
    assert!(
        !sim.has_event(|e| matches!(
            e,
            MediaEvent::MediaTimeout { .. } | MediaEvent::OneWayAudio { .. }
        )),
        "false alarm during hold: {:?}",
        sim.events
    );

    // Resume; peer B comes back from a new address (re-INVITE with a new c= line).
    let new_b = "198.51.100.99:7000".parse().expect("addr");
    sim.reinvite(Side::A, Direction::SendRecv, None);
    sim.reinvite(Side::B, Direction::SendRecv, Some(new_b));
    sim.peers[0].sending = true;
    sim.peers[1].sending = true;
    sim.run_for(Duration::from_secs(3));
    for (i, peer) in sim.peers.iter().enumerate() {
        let audio = peer.audio();
        assert!(
            audio.len() > before[i] + 120,
            "peer {i}: audio resumed ({} packets)",
            audio.len()
        );
        assert_continuous(&audio, "hold and resume");
    }
    assert_eq!(sim.bridge.leg(Side::B).remote(), new_b);
    assert!(
        !sim.has_event(|e| matches!(e, MediaEvent::OneWayAudio { .. })),
        "{:?}",
        sim.events
    );
}

#[test]
fn one_way_audio_alarm_then_media_timeout_then_recovery() {
    let mut sim = Sim::new(SimOptions::new(Codec::Pcma, Codec::Pcma));
    sim.run_for(Duration::from_secs(2));
    sim.peers[1].sending = false;
    sim.run_for(Duration::from_secs(6));
    assert!(
        sim.has_event(|e| *e == MediaEvent::OneWayAudio { silent: Side::B }),
        "{:?}",
        sim.events
    );
    assert!(!sim.has_event(|e| matches!(e, MediaEvent::MediaTimeout { .. })));
    sim.run_for(Duration::from_secs(25));
    assert!(sim.has_event(|e| *e
        == MediaEvent::MediaTimeout {
            leg: Side::B,
            held: false
        }));
    assert!(!sim.has_event(|e| *e
        == MediaEvent::MediaTimeout {
            leg: Side::A,
            held: false
        }));
    sim.peers[1].sending = true;
    sim.run_for(Duration::from_secs(2));
    assert!(sim.has_event(|e| *e == MediaEvent::OneWayAudioCleared { leg: Side::B }));
}

#[test]
fn reinvite_with_new_sdes_keys_keeps_audio_flowing_both_ways() {
    use callbridge_media::srtp::{CryptoAttribute, SrtpSession, SrtpSuite};
    let mut sim = Sim::new(SimOptions::new(Codec::Pcmu, Codec::Pcmu));
    sim.run_for(Duration::from_secs(1));
    let before = [sim.peers[0].audio().len(), sim.peers[1].audio().len()];
    // Leg B re-keys (the pjproject #5085 class: unhold with a fresh key).
    let ours = CryptoAttribute::random(1, SrtpSuite::AesCm128HmacSha1_32);
    let theirs = CryptoAttribute::random(1, SrtpSuite::AesCm128HmacSha1_32);
    let mut n = sim.bridge.leg(Side::B).negotiated().clone();
    n.srtp = Some((ours.clone(), theirs.clone()));
    sim.bridge
        .renegotiate(Side::B, n, DeclaredSsrcs::default(), sim.now)
        .expect("renegotiate");
    sim.peers[1].srtp = Some(SrtpSession::new(&theirs, &ours).expect("peer keys"));
    sim.run_for(Duration::from_secs(1));
    for (i, peer) in sim.peers.iter().enumerate() {
        let audio = peer.audio();
        assert!(
            audio.len() >= before[i] + 45,
            "peer {i}: {} -> {}",
            before[i],
            audio.len()
        );
        assert_continuous(&audio, "re-key");
    }
    assert!(
        sim.peers[1].auth_failures <= 2,
        "at most the packets in flight at the switch"
    );
}
