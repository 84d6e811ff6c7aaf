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
