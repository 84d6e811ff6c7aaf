//! A browser (str0m playing Chrome: full ICE, DTLS-SRTP, Opus) bridged to a SIP peer, in
//! virtual time: a tone crosses in both directions (SDES-SRTP G.722 peer); RFC 4733 events
//! cross in both directions with their clocks rescaled; the browser holds and resumes by
//! re-offering; RTT is measured over a delayed path.

mod common;
#[path = "browser_bridge/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use callbridge_media::MediaError;
use callbridge_media::bridge::{Bridge, BridgeConfig, Input, Output, Path, Timeouts};
use callbridge_media::clock::WallClock;
use callbridge_media::codec::Codec;
use callbridge_media::dtmf::TelephoneEvent;
use callbridge_media::event::{MediaEvent, Side};
use callbridge_media::packet::RtpPacket;
use callbridge_media::sdp::{self, LocalMedia};
use callbridge_media::srtp::SrtpSession;
use callbridge_media::transcode::codecs::{Decoder, Encoder};
use common::audio::analyse;
use harness::Call;
use str0m::media::Direction;
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Event, Input as RtcInput, Output as RtcOutput};

#[test]
fn browser_and_sip_peer_hear_each_other_through_the_bridge() {
    let start = common::epoch();
    let mut now = start;
    let browser_addr: SocketAddr = "192.0.2.50:9000".parse().expect("addr");
    let sip_local: SocketAddr = "203.0.113.10:40002".parse().expect("addr");
    let sip_peer: SocketAddr = "52.114.1.1:49152".parse().expect("addr");

    let (mut browser, mid, browser_leg) = harness::browser_joins(start, &[], vec![Codec::Opus]);

    // SIP side: the Teams-like peer offers SRTP G.722.
    let pm = LocalMedia::new(sip_peer.ip(), sip_peer.port(), vec![Codec::G722]).with_fresh_srtp();
    let bm = LocalMedia::new(sip_local.ip(), sip_local.port(), vec![Codec::G722]).with_fresh_srtp();
    let (sdp_answer, at_bridge) =
        sdp::answer_offer(&sdp::create_offer(&pm, 1), &bm, 2).expect("answer");
    let at_peer = sdp::apply_answer(&sdp_answer, &pm).expect("apply");
    let (o, t) = at_peer.srtp.expect("keys");
    let mut peer_srtp = SrtpSession::new(&o, &t).expect("srtp");
    let sip_leg = harness::sip_leg(sip_local, at_bridge);

    let cfg = BridgeConfig::new(WallClock {
        at: start,
        unix: Duration::from_secs(1_790_000_000),
    });
    let mut bridge = Bridge::new(browser_leg, sip_leg, cfg, now).expect("bridge");
    assert_eq!(bridge.path(), Path::Transcode);

    let mut opus = Encoder::new(Codec::Opus, 48_000, 5).expect("opus");
    let mut g722 = Encoder::new(Codec::G722, 16_000, 5).expect("g722");
    let mut browser_connected = false;
    let mut browser_rx: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut sip_rx: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut frame = 0usize;
    let mut next_frame = start + Duration::from_millis(500);
    let mut bridge_deadline: Instant;
    let end = start + Duration::from_secs(4);
    let mut sip_seq = 7u16;
    let mut payload = Vec::new();
    while now < end {
        // Browser outputs.
        let browser_deadline = loop {
            match browser.poll_output().expect("browser poll") {
                RtcOutput::Timeout(t) => break t,
                RtcOutput::Transmit(t) => {
                    let input = Input::Receive {
                        from: t.source,
                        to: t.destination,
                        data: &t.contents,
                    };
                    bridge.handle_input(input, now).expect("bridge input");
                }
                RtcOutput::Event(Event::Connected) => browser_connected = true,
                RtcOutput::Event(Event::RtpPacket(p)) => {
                    browser_rx.push((p.header.sequence_number, p.payload.to_vec()))
                }
                RtcOutput::Event(_) => {}
            }
        };
        // Bridge outputs.
        loop {
            match bridge.poll_output() {
                Output::Transmit(t) if t.to == browser_addr => {
                    let contents = t.payload.as_ref().try_into().expect("contents");
                    let rcv = Receive {
                        proto: Protocol::Udp,
                        source: t.from,
                        destination: browser_addr,
                        contents,
                    };
                    browser
                        .handle_input(RtcInput::Receive(now, rcv))
                        .expect("browser input");
                }
                Output::Transmit(t) if t.to == sip_peer => {
                    if t.payload.len() > 1 && (192..=223).contains(&t.payload[1]) {
                        continue;
                    }
                    let plain = peer_srtp.unprotect_rtp(&t.payload).expect("peer unprotect");
                    let p = RtpPacket::parse(BytesMut::from(&plain[..])).expect("rtp");
                    sip_rx.push((p.seq, p.payload().to_vec()));
                }
                Output::Transmit(t) => panic!("unexpected destination {}", t.to),
                Output::Event(_) => {}
                Output::Timeout(t) => {
                    bridge_deadline = t;
                    break;
                }
            }
        }
        // Media from both ends every 20 ms once the browser is connected.
        if browser_connected && now >= next_frame {
            next_frame += Duration::from_millis(20);
            opus.encode(
                &harness::tone(48_000, 960, frame * 960, 440.0),
                &mut payload,
            )
            .expect("opus");
            let ts = (frame * 960) as u32;
            let seq = (frame + 1) as u64;
            let mut api = browser.direct_api();
            let stream = api.stream_tx_by_mid(mid, None).expect("stream");
            stream.write_rtp(RtpWrite::new(111.into(), seq.into(), ts, now, &payload[..]));
            g722.encode(
                &harness::tone(16_000, 320, frame * 320, 660.0),
                &mut payload,
            )
            .expect("g722");
            let p = RtpPacket::build(9, false, sip_seq, (frame * 160) as u32, 0xCAFE, &payload);
            sip_seq = sip_seq.wrapping_add(1);
            let wire = peer_srtp.protect_rtp(p.as_bytes()).expect("protect");
            bridge
                .handle_input(
                    Input::Receive {
                        from: sip_peer,
                        to: sip_local,
                        data: &wire,
                    },
                    now,
                )
                .expect("input");
            frame += 1;
            browser
                .handle_input(RtcInput::Timeout(now))
                .expect("timeout");
            continue;
        }
        let next = browser_deadline
            .min(bridge_deadline)
            .min(if browser_connected { next_frame } else { end });
        now = next.max(now + Duration::from_micros(50)).min(end);
        browser
            .handle_input(RtcInput::Timeout(now))
            .expect("browser timeout");
        bridge
            .handle_input(Input::Timeout, now)
            .expect("bridge timeout");
    }
    assert!(
        browser_connected,
        "ICE and DTLS completed through the bridge"
    );
    assert!(
        sip_rx.len() > 100 && browser_rx.len() > 100,
        "sip {} browser {}",
        sip_rx.len(),
        browser_rx.len()
    );

    let decode = |codec: Codec, rate: u32, mut packets: Vec<(u16, Vec<u8>)>| -> Vec<i16> {
        packets.sort_by_key(|(s, _)| *s);
        let mut d = Decoder::new(codec, rate).expect("decoder");
        let mut pcm = Vec::new();
        for (_, p) in &packets {
            d.decode(p, (rate / 50) as usize, &mut pcm);
        }
        pcm
    };
    let (f, snr) = analyse(&decode(Codec::G722, 16_000, sip_rx), 16_000, 0.5, 2.0);
    assert!(
        (f - 440.0).abs() < 5.0 && snr > 15.0,
        "browser -> SIP: {f} Hz, {snr} dB"
    );
    let (f, snr) = analyse(&decode(Codec::Opus, 48_000, browser_rx), 48_000, 0.5, 2.0);
    assert!(
        (f - 660.0).abs() < 5.0 && snr > 15.0,
        "SIP -> browser: {f} Hz, {snr} dB"
    );
}

/// Digits of RFC 4733 End packets as one end received them: (digit, duration, packets).
fn ends(rx: &[harness::Received], pt: u8) -> Vec<(char, u16, usize)> {
    let mut out: Vec<(u32, char, u16, usize)> = Vec::new();
    for p in rx.iter().filter(|p| p.pt == pt) {
        let Some(ev) = p.event().filter(|e| e.end) else {
            continue;
        };
        match out.last_mut() {
            Some(last) if last.0 == p.ts => last.3 += 1,
            _ => out.push((p.ts, ev.digit().expect("digit"), ev.duration, 1)),
        }
    }
    out.into_iter().map(|(_, d, dur, n)| (d, dur, n)).collect()
}

#[test]
fn dtmf_crosses_both_ways_with_durations_rescaled_between_48_and_8_khz() {
    // Chrome's numbering: telephone-event/48000 at 110, telephone-event/8000 at 126.
    let mut call = Call::connect(
        Codec::Pcmu,
        &[(110, 48_000), (126, 8_000)],
        Duration::ZERO,
        Timeouts::default(),
    );
    call.run_for(Duration::from_millis(500));

    // Browser -> SIP: '5' for 100 ms at 48 kHz must arrive at PT 101 lasting 800 units.
    call.browser_sends_event(110, 48_000, 5, Duration::from_millis(100));
    call.run_for(Duration::from_millis(300));
    assert_eq!(ends(&call.sip_rx, harness::SIP_DTMF_PT), [('5', 800, 3)]);
    let first = call
        .sip_rx
        .iter()
        .find(|p| p.pt == harness::SIP_DTMF_PT)
        .expect("event");
    assert!(first.marker, "the first event packet carries the marker");
    assert!(call.events.contains(&MediaEvent::Dtmf {
        from: Side::A,
        digit: '5',
        duration: Duration::from_millis(100),
    }));

    // SIP -> browser: '9' for 100 ms at 8 kHz must arrive at PT 110 lasting 4800 units, its
    // timestamp in the browser stream's 48 kHz timeline next to the audio around it.
    call.sip_sends_event(9, Duration::from_millis(100));
    call.run_for(Duration::from_millis(300));
    assert_eq!(ends(&call.browser_rx, 110), [('9', 4800, 3)]);
    let event_ts = call
        .browser_rx
        .iter()
        .find(|p| p.pt == 110)
        .expect("event")
        .ts;
    let audio_before = call
        .browser_rx
        .iter()
        .take_while(|p| p.pt != 110)
        .last()
        .expect("audio before the event")
        .ts;
    let gap = event_ts.wrapping_sub(audio_before);
    assert!(
        gap > 0 && gap <= 3 * 960,
        "event starts {gap} units after audio"
    );
    assert!(call.events.contains(&MediaEvent::Dtmf {
        from: Side::B,
        digit: '9',
        duration: Duration::from_millis(100),
    }));
}

#[test]
fn dtmf_to_a_browser_that_negotiated_only_8_khz_events_keeps_8_khz_durations() {
    let mut call = Call::connect(
        Codec::Pcmu,
        &[(126, 8_000)],
        Duration::ZERO,
        Timeouts::default(),
    );
    call.run_for(Duration::from_millis(500));
    call.sip_sends_event(11, Duration::from_millis(100));
    call.run_for(Duration::from_millis(300));
    assert_eq!(ends(&call.browser_rx, 126), [('#', 800, 3)]);
    call.browser_sends_event(126, 8_000, 1, Duration::from_millis(60));
    call.run_for(Duration::from_millis(300));
    assert_eq!(ends(&call.sip_rx, harness::SIP_DTMF_PT), [('1', 480, 3)]);
}

#[test]
fn browser_hold_and_resume_by_reoffer_keeps_the_sip_stream_continuous() {
    let timeouts = Timeouts {
        active: Duration::from_secs(3),
        ..Timeouts::default()
    };
    let mut call = Call::connect(Codec::Pcmu, &[(110, 48_000)], Duration::ZERO, timeouts);
    call.run_for(Duration::from_secs(1));
    let sent_to_browser = |c: &Call| c.bridge.stats(Side::A).packets_sent;

    // Hold, music-on-hold style: the browser keeps sending, receives nothing.
    let answer = call.browser_reoffers(Direction::SendOnly);
    assert!(answer.contains("a=recvonly"), "{answer}");
    call.run_for(Duration::from_millis(100));
    let (to_browser, to_sip) = (sent_to_browser(&call), call.sip_rx.len());
    call.run_for(Duration::from_secs(1));
    assert_eq!(
        sent_to_browser(&call),
        to_browser,
        "nothing sent to a held browser"
    );
    assert!(
        call.sip_rx.len() >= to_sip + 45,
        "the browser still reaches SIP"
    );

    // Full hold: no media either way for longer than the active-leg timeout.
    let answer = call.browser_reoffers(Direction::Inactive);
    assert!(answer.contains("a=inactive"), "{answer}");
    call.browser_sends = false;
    call.run_for(Duration::from_secs(10));
    let timed_out = |c: &Call| {
        c.events
            .iter()
            .any(|e| matches!(e, MediaEvent::MediaTimeout { leg: Side::A, .. }))
    };
    assert!(
        !timed_out(&call),
        "hold is not a dead leg: {:?}",
        call.events
    );

    // Resume: audio flows both ways again.
    let answer = call.browser_reoffers(Direction::SendRecv);
    assert!(answer.contains("a=sendrecv"), "{answer}");
    call.browser_sends = true;
    let (to_browser, to_sip, heard) = (
        sent_to_browser(&call),
        call.sip_rx.len(),
        call.browser_rx.len(),
    );
    call.run_for(Duration::from_secs(1));
    assert!(sent_to_browser(&call) >= to_browser + 45);
    assert!(
        call.browser_rx.len() >= heard + 45,
        "browser hears SIP again"
    );
    assert!(
        call.sip_rx.len() >= to_sip + 45,
        "SIP hears the browser again"
    );
    assert!(!timed_out(&call));

    // Towards SIP: one SSRC, consecutive sequence numbers, timestamps that follow the clock.
    let rx = &call.sip_rx;
    assert!(rx.iter().all(|p| p.ssrc == rx[0].ssrc));
    for w in rx.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "{:?} -> {:?}",
            w[0],
            w[1]
        );
        let elapsed = w[1].at.duration_since(w[0].at).as_micros() as i64 * 8 / 1000;
        let advanced = i64::from(w[1].ts.wrapping_sub(w[0].ts) as i32);
        assert!(
            (advanced - elapsed).abs() <= 320,
            "timestamp advanced {advanced} over {elapsed} units of time at seq {}",
            w[1].seq
        );
    }
}

#[test]
fn rtt_of_the_browser_leg_comes_from_rtcp_and_lowers_the_mos() {
    // str0m reports on audio every 5 s: by 12 s the browser has answered our first SR.
    let one_way = Duration::from_millis(50);
    let mut call = Call::connect(Codec::Pcmu, &[(110, 48_000)], one_way, Timeouts::default());
    call.run_for(Duration::from_secs(12));
    let stats = call.bridge.stats(Side::A);
    let rtt = stats.rtt.expect("RTT from the browser's reception reports");
    assert!(
        (rtt.as_secs_f64() - 0.100).abs() < 0.010,
        "RTT {rtt:?} over a 50 ms one-way path"
    );
    assert_eq!(
        stats.remote_loss,
        Some(0.0),
        "the browser's reports on what we send"
    );
    let near_path = Duration::from_millis(5);
    let mut near = Call::connect(
        Codec::Pcmu,
        &[(110, 48_000)],
        near_path,
        Timeouts::default(),
    );
    near.run_for(Duration::from_secs(12));
    let near = near.bridge.stats(Side::A);
    assert!(
        near.rtt.expect("rtt") < Duration::from_millis(20),
        "{:?}",
        near.rtt
    );
    assert!(stats.mos < near.mos, "{} vs {}", stats.mos, near.mos);
}

#[test]
fn dtmf_on_the_opus_passthrough_path_is_rescaled_between_event_clocks() {
    // Both legs run Opus (passthrough), but the browser negotiated only 8 kHz events while
    // the SIP peer's events run at Opus's 48 kHz.
    let mut call = Call::connect(
        Codec::Opus,
        &[(126, 8_000)],
        Duration::ZERO,
        Timeouts::default(),
    );
    assert_eq!(call.bridge.path(), Path::Passthrough);
    call.run_for(Duration::from_millis(500));
    call.sip_sends_event(4, Duration::from_millis(100));
    call.run_for(Duration::from_millis(300));
    assert_eq!(ends(&call.browser_rx, 126), [('4', 800, 3)]);
    call.browser_sends_event(126, 8_000, 7, Duration::from_millis(100));
    call.run_for(Duration::from_millis(300));
    assert_eq!(ends(&call.sip_rx, harness::SIP_DTMF_PT), [('7', 4800, 3)]);
}

#[test]
fn a_bad_reoffer_is_refused_with_an_error_and_the_call_goes_on() {
    let mut call = Call::connect(
        Codec::Pcmu,
        &[(110, 48_000)],
        Duration::ZERO,
        Timeouts::default(),
    );
    call.run_for(Duration::from_secs(1));
    let now = call.now;
    let err = call
        .bridge
        .renegotiate_webrtc(Side::A, "v=0\r\nnot an offer\r\n", now)
        .expect_err("garbage is refused");
    assert!(
        matches!(err, MediaError::PeerSdp(_)) && err.is_peer_fault(),
        "{err}"
    );
    let err = call
        .bridge
        .renegotiate_webrtc(Side::B, "v=0\r\n", now)
        .expect_err("the SIP leg takes no browser offer");
    assert!(matches!(err, MediaError::ApiMisuse(_)), "{err}");
    let (heard, to_sip) = (call.browser_rx.len(), call.sip_rx.len());
    call.run_for(Duration::from_secs(1));
    assert!(
        call.browser_rx.len() >= heard + 45,
        "browser still hears SIP"
    );
    assert!(
        call.sip_rx.len() >= to_sip + 45,
        "SIP still hears the browser"
    );
}

#[test]
fn end_packets_sent_back_to_back_all_reach_the_browser() {
    // Many SIP stacks send the three End packets in one burst; each must cross.
    let mut call = Call::connect(
        Codec::Pcmu,
        &[(110, 48_000)],
        Duration::ZERO,
        Timeouts::default(),
    );
    call.run_for(Duration::from_millis(500));
    call.sip_sends = false;
    let ts = 80_000;
    for (duration, end) in [(400, false), (800, true), (800, true), (800, true)] {
        let ev = TelephoneEvent {
            event: 3,
            end,
            volume: 10,
            duration,
        };
        call.sip_sends_packet(harness::SIP_DTMF_PT, duration == 400, ts, &ev.to_bytes());
    }
    call.run_for(Duration::from_millis(200));
    assert_eq!(ends(&call.browser_rx, 110), [('3', 4800, 3)]);
}
