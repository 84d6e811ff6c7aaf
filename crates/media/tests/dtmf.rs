//! RFC 4733 digits cross every codec pair with rescaled durations and End redundancy kept.

mod common;

use std::time::Duration;

use callbridge_media::codec::Codec;
use callbridge_media::dtmf::TelephoneEvent;
use callbridge_media::event::{MediaEvent, Side};
use common::{Sim, SimOptions};

/// Sends digit `event` lasting `ms` from peer A (updates every 20 ms, then 3 End packets).
fn send_digit(sim: &mut Sim, event: u8, ms: u32) {
    let clock = sim.peers[0].codec().rtp_clock();
    let pt = sim.peers[0].negotiated.dtmf_pt.expect("dtmf negotiated");
    let step = clock / 50;
    let total = clock * ms / 1000;
    let mut duration = 0u32;
    let mut event_ts = None;
    let mut ends_sent = 0;
    let updates = ms / 20;
    sim.run_with(
        Duration::from_millis(u64::from(updates + 3) * 20 + 10),
        |i, peer| {
            if i != 0 || ends_sent == 3 {
                return None;
            }
            let ts = *event_ts.get_or_insert(peer.ts);
            let marker = duration == 0;
            duration = (duration + step).min(total);
            let end = duration == total;
            if end {
                ends_sent += 1;
            }
            let ev = TelephoneEvent {
                event,
                end,
                volume: 10,
                duration: duration as u16,
            };
            let wire = peer.packetize(pt, marker, ts, &ev.to_bytes());
            peer.skip_frame();
            Some(vec![wire])
        },
    );
}

#[test]
fn digits_survive_every_codec_pair_with_correct_durations() {
    let mut failures = Vec::new();
    for a in Codec::ALL {
        for b in Codec::ALL {
            let mut sim = Sim::new(SimOptions::new(a, b));
            sim.run_for(Duration::from_millis(500));
            send_digit(&mut sim, 7, 200);
            sim.run_for(Duration::from_millis(300));
            let rx = sim.peers[1].dtmf();
            let out_clock = b.rtp_clock();
            let ends: Vec<_> = rx.iter().filter(|(_, e)| e.end).collect();
            let last = rx.last().map(|(_, e)| *e);
            let ok = !rx.is_empty()
                && rx.iter().all(|(p, e)| e.event == 7 && p.ts == rx[0].0.ts)
                && rx[0].0.marker
                && ends.len() == 3
                && last.map(|e| u32::from(e.duration)) == Some(out_clock / 5)
                && sim.has_event(|e| {
                    *e == MediaEvent::Dtmf {
                        from: Side::A,
                        digit: '7',
                        duration: Duration::from_millis(200),
                    }
                });
            if !ok {
                failures.push(format!(
                    "{a:?}->{b:?}: {} packets, {} ends, last {last:?}",
                    rx.len(),
                    ends.len()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
