//! The WebRTC leg against a second str0m instance playing the browser: offer/answer, ICE
//! (browser full ICE, us ICE-lite), DTLS-SRTP, then RTP both ways — all in virtual time.

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callbridge_media::codec::Codec;
use callbridge_media::dtmf::TelephoneEvent;
use callbridge_media::packet::RtpPacket;
use callbridge_media::webrtc::{WebRtcLeg, WebRtcLegConfig, WebRtcOutput};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, Frequency, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc};

struct Browser {
    rtc: Rtc,
    addr: SocketAddr,
    mid: Mid,
    connected: bool,
    received: Vec<(u8, u16, Vec<u8>)>,
}

/// A browser offering Opus and PCMU, as Chrome does, and telephone-event at each of `events`
/// (payload type, rate). str0m answers an event type only next to a codec of its clock.
fn browser(
    now: Instant,
    addr: SocketAddr,
    events: &[(u8, Frequency)],
) -> (Browser, String, str0m::change::SdpPendingOffer) {
    let mut cfg = Rtc::builder()
        .set_rtp_mode(true)
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs()
        .enable_opus(true, false)
        .enable_pcmu(true, false);
    for &(pt, rate) in events {
        let format = str0m::format::FormatParams::parse_line("0-16");
        let tele = str0m::format::Codec::Tele;
        cfg.codec_config()
            .add_config(pt.into(), None, tele, rate, None, format);
    }
    let mut rtc = cfg.build(now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").expect("candidate"));
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = api.apply().expect("offer");
    (
        Browser {
            rtc,
            addr,
            mid,
            connected: false,
            received: Vec::new(),
        },
        offer.to_sdp_string(),
        pending,
    )
}

/// Runs both sides until `until` says stop or a minute of virtual time passes.
fn drive(
    b: &mut Browser,
    leg: &mut WebRtcLeg,
    now: &mut Instant,
    mut until: impl FnMut(&Browser, bool) -> bool,
) -> bool {
    let mut leg_connected = false;
    let end = *now + Duration::from_secs(60);
    // Datagrams in flight. One is delivered to each side per round, and each side is drained
    // after it: str0m in RTP mode holds a single received packet for the next poll.
    let mut to_leg = VecDeque::new();
    let mut to_browser = VecDeque::new();
    while *now < end {
        let t_b = loop {
            match b.rtc.poll_output().expect("browser poll") {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => to_leg.push_back((t.source, t.contents.to_vec())),
                Output::Event(Event::Connected) => b.connected = true,
                Output::Event(Event::RtpPacket(p)) => {
                    b.received.push((
                        *p.header.payload_type,
                        p.header.sequence_number,
                        p.payload.to_vec(),
                    ));
                }
                Output::Event(_) => {}
            }
        };
        let t_l = loop {
            match leg.poll_output().expect("leg poll") {
                WebRtcOutput::Timeout(t) => break t,
                WebRtcOutput::Transmit(t) => to_browser.push_back((t.from, t.payload.to_vec())),
                WebRtcOutput::Connected => leg_connected = true,
                WebRtcOutput::Rtp(_) => {}
            }
        };
        let moved = !to_leg.is_empty() || !to_browser.is_empty();
        if let Some((from, data)) = to_leg.pop_front() {
            leg.receive(from, &data, *now).expect("leg receive");
        }
        if let Some((from, data)) = to_browser.pop_front() {
            let input = Input::Receive(
                *now,
                Receive {
                    proto: Protocol::Udp,
                    source: from,
                    destination: b.addr,
                    contents: data.as_slice().try_into().expect("contents"),
                },
            );
            b.rtc.handle_input(input).expect("browser input");
        }
        if !moved && until(b, leg_connected) {
            return true;
        }
        if !moved {
            *now = t_b.min(t_l).max(*now + Duration::from_micros(100));
            b.rtc
                .handle_input(Input::Timeout(*now))
                .expect("browser timeout");
            leg.handle_timeout(*now).expect("leg timeout");
        }
    }
    false
}

/// The browser writes one packet (payload type, extended sequence, timestamp); returns what
/// the leg yielded 20 ms later.
fn browser_writes(
    b: &mut Browser,
    leg: &mut WebRtcLeg,
    now: &mut Instant,
    (pt, seq, ts): (u8, u64, u32),
    payload: &[u8],
) -> Vec<RtpPacket> {
    let mut api = b.rtc.direct_api();
    let stream = api.stream_tx_by_mid(b.mid, None).expect("browser stream");
    stream.write_rtp(RtpWrite::new(pt.into(), seq.into(), ts, *now, payload));
    *now += Duration::from_millis(20);
    b.rtc.handle_input(Input::Timeout(*now)).expect("timeout");
    let mut got = Vec::new();
    loop {
        match b.rtc.poll_output().expect("poll") {
            Output::Transmit(t) => {
                leg.receive(t.source, &t.contents, *now).expect("receive");
                loop {
                    match leg.poll_output().expect("poll") {
                        WebRtcOutput::Rtp(p) => got.push(p),
                        WebRtcOutput::Timeout(_) => break,
                        _ => {}
                    }
                }
            }
            Output::Timeout(_) => return got,
            Output::Event(_) => {}
        }
    }
}

#[test]
fn browser_connects_with_ice_lite_dtls_srtp_and_audio_flows_both_ways() {
    let mut now = common::epoch();
    let browser_addr: SocketAddr = "192.0.2.50:9000".parse().expect("addr");
    let public: SocketAddr = "203.0.113.10:40000".parse().expect("addr");
    let (mut b, offer, pending) = browser(now, browser_addr, &[]);
    let mut leg = WebRtcLeg::new(
        &WebRtcLegConfig {
            public_addr: public,
            codecs: vec![Codec::Opus, Codec::G722, Codec::Pcmu],
        },
        now,
    )
    .expect("leg");
    let answer = leg.accept_offer(&offer).expect("answer");
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert!(
        answer.contains("203.0.113.10 40000"),
        "our public candidate: {answer}"
    );
    b.rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).expect("parse"))
        .expect("accept");
    let (codec, pt) = leg.negotiated_codec().expect("codec");
    assert_eq!(codec, Codec::Opus);

    assert!(
        drive(&mut b, &mut leg, &mut now, |b, l| b.connected && l),
        "ICE + DTLS completed"
    );

    // Leg -> browser: 50 packets of 20 ms, across a sequence wrap.
    for i in 0..50u16 {
        let seq = 65_510u16.wrapping_add(i);
        leg.send_rtp(pt, i == 0, seq, u32::from(i) * 960, &[i as u8; 40], now)
            .expect("send");
        now += Duration::from_millis(20);
        drive(&mut b, &mut leg, &mut now, |_, _| true);
        leg.handle_timeout(now).expect("timeout");
    }
    assert!(
        drive(&mut b, &mut leg, &mut now, |b, _| b.received.len() >= 50),
        "browser got {}",
        b.received.len()
    );
    assert!(b.received.iter().all(|(p, _, _)| *p == pt));
    assert_eq!(b.received[49].2, vec![49u8; 40]);

    // Browser -> leg: the browser writes on the stream its offer announced (a=ssrc); the leg
    // yields decrypted RTP.
    let mut got = Vec::new();
    for i in 0..20u16 {
        let write = (pt, u64::from(i + 1), u32::from(i) * 960);
        got.extend(browser_writes(
            &mut b, &mut leg, &mut now, write, &[7u8; 30],
        ));
    }
    assert!(got.len() >= 18, "leg received {} packets", got.len());
    assert!(got.iter().all(|p| p.pt == pt && p.payload() == [7u8; 30]));
}

#[test]
fn telephone_event_offered_by_the_browser_is_negotiated_on_its_payload_type() {
    let now = common::epoch();
    let browser_addr: SocketAddr = "192.0.2.50:9000".parse().expect("addr");
    let (_, offer, _) = browser(now, browser_addr, &[(126, Frequency::FORTY_EIGHT_KHZ)]);
    let public: SocketAddr = "203.0.113.10:40000".parse().expect("addr");
    let mut leg = WebRtcLeg::new(
        &WebRtcLegConfig {
            public_addr: public,
            codecs: vec![Codec::Opus],
        },
        now,
    )
    .expect("leg");
    let answer = leg.accept_offer(&offer).expect("answer");
    assert!(answer.contains("telephone-event/48000"), "{answer}");
    assert_eq!(leg.negotiated_dtmf(48_000), Some(126));
}

#[test]
fn chrome_numbered_telephone_events_are_answered_and_carried_both_ways() {
    let mut now = common::epoch();
    let browser_addr: SocketAddr = "192.0.2.50:9000".parse().expect("addr");
    let events = [
        (110, Frequency::FORTY_EIGHT_KHZ),
        (126, Frequency::EIGHT_KHZ),
    ];
    let (mut b, offer, pending) = browser(now, browser_addr, &events);
    let mut leg = WebRtcLeg::new(
        &WebRtcLegConfig {
            public_addr: "203.0.113.10:40000".parse().expect("addr"),
            codecs: vec![Codec::Opus, Codec::G722, Codec::Pcmu],
        },
        now,
    )
    .expect("leg");
    let answer = leg.accept_offer(&offer).expect("answer");
    assert!(
        answer.contains("a=rtpmap:110 telephone-event/48000"),
        "{answer}"
    );
    assert!(
        answer.contains("a=rtpmap:126 telephone-event/8000"),
        "{answer}"
    );
    let negotiated = leg.negotiation().expect("negotiated");
    assert_eq!(
        negotiated.dtmf,
        Some((110, 48_000)),
        "the one at Opus's clock"
    );
    assert_eq!(leg.negotiated_dtmf(8_000), None, "one event type is used");
    b.rtc
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).expect("parse"))
        .expect("accept");
    assert!(drive(&mut b, &mut leg, &mut now, |b, l| b.connected && l));

    // An event '1' of 5 updates, the last an End: leg -> browser keeps PT and payload.
    let event = |i: u8| {
        TelephoneEvent {
            event: 1,
            end: i == 4,
            volume: 10,
            duration: 960 * u16::from(i + 1),
        }
        .to_bytes()
    };
    for i in 0..5u8 {
        let payload = event(i);
        leg.send_rtp(110, i == 0, 300 + u16::from(i), 96_000, &payload, now)
            .expect("send");
        now += Duration::from_millis(20);
        drive(&mut b, &mut leg, &mut now, |_, _| true);
        leg.handle_timeout(now).expect("timeout");
    }
    assert!(drive(&mut b, &mut leg, &mut now, |b, _| b.received.len() >= 5));
    let sent: Vec<_> = (0..5).map(|i| (110u8, event(i).to_vec())).collect();
    let received: Vec<_> = b
        .received
        .iter()
        .map(|(pt, _, p)| (*pt, p.clone()))
        .collect();
    assert_eq!(received, sent);

    // Browser -> leg: the same at the browser's numbering.
    let mut got = Vec::new();
    for i in 0..5u8 {
        let write = (110, 50 + u64::from(i), 48_000);
        got.extend(browser_writes(&mut b, &mut leg, &mut now, write, &event(i)));
    }
    let got: Vec<_> = got.iter().map(|p| (p.pt, p.payload().to_vec())).collect();
    assert_eq!(got, sent);
}
