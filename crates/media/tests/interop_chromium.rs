//! Interop with a real browser: Debian's headless Chromium (fake audio device fed a 440 Hz tone
//! file) joins the WebRTC leg WHIP-style, completes ICE (against our ICE-lite) and DTLS-SRTP,
//! and the bridge connects it to a SIP/RTP peer. The SIP peer must hear 440 Hz and the browser
//! must hear the SIP peer's 660 Hz. The page sends "159#" through `RTCDTMFSender` (100 ms tones
//! at 48 kHz telephone-event): the SIP peer must receive those digits as RFC 4733 events at its
//! 8 kHz payload type, each lasting 100 ms (800 units). A second run holds the call from the
//! browser (`sendonly` re-offer) and resumes it. Needs `/usr/bin/chromium` (Debian package
//! `chromium`); the tests fail without it.

mod common;
#[path = "interop_chromium/support.rs"]
mod support;

use std::sync::Mutex;

use callbridge_media::event::{MediaEvent, Side};
use callbridge_media::shell::worker::{MediaCallKey, Worker};
use common::audio::analyse;
use support::{Session, SipPacket};

/// One browser at a time: two would share the machine's two cores with the audio deadlines.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// The SIP peer's judgement of the browser's tone over the last two seconds it received (the
/// fake capture device can start late).
fn assert_sip_peer_heard_440(packets: &[SipPacket]) {
    let pcm = support::sip_audio(packets);
    let skip = (pcm.len() as f64 / 8000.0 - 2.0).max(0.5);
    let (f, snr) = analyse(&pcm, 8000, skip, 2.0);
    eprintln!(
        "SIP peer: {} packets, {f:.1} Hz, SNR {snr:.1} dB",
        packets.len()
    );
    // The frequency is the verdict; the SNR floor only rules out noise that happens to peak
    // near 440 Hz. Runs measure 19–35 dB, but Chromium's capture path (its own jitter and
    // timing on a loaded two-core machine) has dipped to 4.7 dB once, so the floor is 3 dB.
    assert!(
        (f - 440.0).abs() < 5.0 && snr > 3.0,
        "SIP peer heard {f:.1} Hz, SNR {snr:.1} dB"
    );
}

#[test]
fn headless_chromium_joins_hears_and_is_heard_and_its_dtmf_reaches_sip() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let mut session = Session::start("join", "");
    let worker = Worker::spawn("chromium-interop").expect("worker");
    let sockets = [session.web.take(), session.sip.take()];
    let mut sockets = Some(sockets.map(|s| s.expect("sockets")));
    let result = session.serve(|_, offer| {
        let (bridge, answer) = session.bridge_for(offer);
        let sockets = sockets.take().expect("one WHIP offer").into();
        worker
            .add_call(MediaCallKey(1), bridge, sockets)
            .expect("add call");
        answer
    });
    let packets = session.finish();
    let events: Vec<MediaEvent> = worker.events().try_iter().map(|(_, e)| e).collect();
    eprintln!("browser: {result}");

    assert!(!result.starts_with("error"), "browser: {result}");
    assert_sip_peer_heard_440(&packets);
    let hz = support::number(&result, "hz").expect("hz in result");
    assert!((hz - 660.0).abs() < 5.0, "browser heard {hz:.1} Hz");

    assert!(
        result.contains("\"digits\":\"159#\""),
        "browser DTMF: {result}"
    );
    let digits = support::ended_events(&packets);
    let heard: String = digits.iter().map(|(d, _)| *d).collect();
    assert_eq!(heard, "159#", "SIP peer's events: {digits:?}");
    for (digit, duration) in &digits {
        assert!(
            (640..=960).contains(duration),
            "{digit} lasted {duration} units at 8 kHz, not about 800"
        );
    }
    let reported: String = events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf {
                from: Side::A,
                digit,
                ..
            } => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(reported, "159#", "bridge events: {events:?}");
}

#[test]
fn headless_chromium_holds_with_a_sendonly_reoffer_and_resumes() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let mut session = Session::start("hold", "?hold");
    let worker = Worker::spawn("chromium-hold").expect("worker");
    let mut sockets = Some([session.web.take(), session.sip.take()].map(|s| s.expect("sockets")));
    let result = session.serve(|path, offer| {
        if path == "/whip" {
            let (bridge, answer) = session.bridge_for(offer);
            let sockets = sockets.take().expect("one WHIP offer").into();
            worker
                .add_call(MediaCallKey(1), bridge, sockets)
                .expect("add call");
            return answer;
        }
        // A re-offer reaches the running call on its worker, as the engine will send it.
        let offer = offer.to_owned();
        worker
            .with_call(MediaCallKey(1), move |bridge, now| {
                bridge.renegotiate_webrtc(Side::A, &offer, now)
            })
            .expect("the call is running")
            .expect("re-offer answered")
    });
    let packets = session.finish();
    let events: Vec<MediaEvent> = worker.events().try_iter().map(|(_, e)| e).collect();
    eprintln!("browser: {result}");

    assert!(!result.starts_with("error"), "browser: {result}");
    assert!(result.contains("\"heldAnswer\":\"recvonly\""), "{result}");
    assert!(
        result.contains("\"resumedAnswer\":\"sendrecv\""),
        "{result}"
    );
    let held = support::number(&result, "heldPackets").expect("held count");
    let resumed = support::number(&result, "resumedPackets").expect("resumed count");
    assert!(
        held <= 2.0,
        "{held} packets reached the browser while it held"
    );
    assert!(
        resumed >= 50.0,
        "only {resumed} packets in 1.5 s after resuming"
    );
    let hz = support::number(&result, "resumedHz").expect("hz after resume");
    assert!(
        (hz - 660.0).abs() < 5.0,
        "browser heard {hz:.1} Hz after resuming"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, MediaEvent::MediaTimeout { .. })),
        "{events:?}"
    );

    // Towards SIP the browser kept sending while it held: one stream, no gap, no restart.
    assert_sip_peer_heard_440(&packets);
    let ssrc = packets[0].2;
    assert!(packets.iter().all(|p| p.2 == ssrc), "one SSRC towards SIP");
    for w in packets.windows(2) {
        assert_eq!(w[1].1, w[0].1.wrapping_add(1), "sequence continues");
    }
    let audio: Vec<&SipPacket> = packets
        .iter()
        .filter(|p| p.0 == support::SIP_PCMU_PT)
        .collect();
    for w in audio.windows(2) {
        let step = w[1].3.wrapping_sub(w[0].3);
        assert!((1..8000).contains(&step), "audio timestamps step {step}");
    }
}
