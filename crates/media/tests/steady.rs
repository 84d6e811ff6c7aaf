//! The transcode path packetizes on a steady clock: one packet per ptime out, whatever the
//! input burstiness.

mod common;

use std::time::Duration;

use callbridge_media::codec::Codec;
use common::{Netem, Sim, SimOptions};

#[test]
fn bursty_input_still_yields_one_packet_per_ptime() {
    let mut sim = Sim::new(SimOptions::new(Codec::Opus, Codec::G722));
    let bursty = Netem {
        loss: 0.0,
        jitter: Duration::from_millis(80),
    };
    sim.netem = [bursty, bursty];
    sim.run_for(Duration::from_secs(10));
    for (i, peer) in sim.peers.iter().enumerate() {
        let audio = peer.audio();
        // 10 s at 50 packets/s, minus the jitter buffer's start-up delay.
        assert!(audio.len() >= 480, "peer {i} got {} packets", audio.len());
        let frame = peer.codec().rtp_clock() / 50;
        let gaps = audio
            .windows(2)
            .filter(|w| w[1].ts.wrapping_sub(w[0].ts) != frame)
            .count();
        assert_eq!(gaps, 0, "peer {i}: timestamps advance by exactly one frame");
    }
}

#[test]
fn comfort_noise_quiets_the_output_and_speech_resumes_without_a_gap() {
    use callbridge_media::event::MediaEvent;
    let mut sim = Sim::new(SimOptions::new(Codec::Pcmu, Codec::G722));
    sim.run_for(Duration::from_secs(1));
    // Peer A stops talking: one RFC 3389 CN packet every 200 ms (noise level 60 -dBov).
    let mut k = 0u32;
    let cn_start = sim.now;
    sim.run_with(Duration::from_secs(3), |i, peer| {
        if i != 0 {
            return None;
        }
        k += 1;
        let ts = peer.ts;
        peer.skip_frame();
        if k % 10 == 1 {
            Some(vec![peer.packetize(13, false, ts, &[60])])
        } else {
            Some(Vec::new())
        }
    });
    let quiet_from = cn_start + Duration::from_millis(500);
    let during: Vec<_> = sim.peers[1]
        .received
        .iter()
        .filter(|(at, p)| *at > quiet_from && p.pt == sim.peers[1].negotiated.codec_pt)
        .collect();
    assert!(
        during.is_empty(),
        "no audio packets while the source is in comfort noise: {}",
        during.len()
    );
    assert!(
        !sim.has_event(|e| matches!(e, MediaEvent::OneWayAudio { .. })),
        "CN keeps the leg alive"
    );
    let before = sim.peers[1].audio().len();
    sim.run_for(Duration::from_secs(1));
    let audio = sim.peers[1].audio();
    assert!(
        audio.len() >= before + 40,
        "speech resumed: {} -> {}",
        before,
        audio.len()
    );
    for w in audio.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "no sequence gap across the silence"
        );
    }
}
