//! A browser (str0m playing Chrome: full ICE, DTLS-SRTP, Opus) bridged to a SIP peer (SDES-SRTP,
//! G.722): ICE/DTLS complete through the bridge and a tone crosses in both directions.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use callbridge_media::bridge::{Bridge, BridgeConfig, Input, Output, Path};
use callbridge_media::clock::WallClock;
use callbridge_media::codec::Codec;
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::media_leg::BrowserLeg;
use callbridge_media::packet::RtpPacket;
use callbridge_media::sdp::{self, LocalMedia};
use callbridge_media::srtp::SrtpSession;
use callbridge_media::transcode::codecs::{Decoder, Encoder};
use callbridge_media::webrtc::{WebRtcLeg, WebRtcLegConfig};
use common::audio::analyse;
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input as RtcInput, Output as RtcOutput, Rtc};

fn tone(rate: u32, n: usize, offset: usize, hz: f64) -> Vec<i16> {
    (0..n)
        .map(|i| {
            (8000.0
                * (2.0 * std::f64::consts::PI * hz * (offset + i) as f64 / f64::from(rate)).sin())
                as i16
        })
        .collect()
}

#[test]
fn browser_and_sip_peer_hear_each_other_through_the_bridge() {
    let start = common::epoch();
    let mut now = start;
    let browser_addr: SocketAddr = "192.0.2.50:9000".parse().expect("addr");
    let public: SocketAddr = "203.0.113.10:40000".parse().expect("addr");
    let sip_local: SocketAddr = "203.0.113.10:40002".parse().expect("addr");
    let sip_peer: SocketAddr = "52.114.1.1:49152".parse().expect("addr");

    // Browser side: offer, our answer.
    let mut browser = Rtc::builder()
        .set_rtp_mode(true)
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs()
        .enable_opus(true, false)
        .build(now);
    browser.add_local_candidate(Candidate::host(browser_addr, "udp").expect("candidate"));
    let mut api = browser.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = api.apply().expect("offer");
    let mut web = WebRtcLeg::new(
        &WebRtcLegConfig {
            public_addr: public,
            codecs: vec![Codec::Opus],
        },
        now,
    )
    .expect("leg");
    let answer = web.accept_offer(&offer.to_sdp_string()).expect("answer");
    browser
        .sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).expect("sdp"))
        .expect("accept");
    let browser_leg = BrowserLeg::new(web, 0x1111, 100, 5000, now).expect("browser leg");

    // SIP side: the Teams-like peer offers SRTP G.722.
    let pm = LocalMedia::new(sip_peer.ip(), sip_peer.port(), vec![Codec::G722]).with_fresh_srtp();
    let bm = LocalMedia::new(sip_local.ip(), sip_local.port(), vec![Codec::G722]).with_fresh_srtp();
    let (sdp_answer, at_bridge) =
        sdp::answer_offer(&sdp::create_offer(&pm, 1), &bm, 2).expect("answer");
    let at_peer = sdp::apply_answer(&sdp_answer, &pm).expect("apply");
    let (o, t) = at_peer.srtp.expect("keys");
    let mut peer_srtp = SrtpSession::new(&o, &t).expect("srtp");
    let sip_leg = RtpLeg::new(RtpLegConfig {
        local: sip_local,
        negotiated: at_bridge,
        latch: LatchMode::FirstValidPacket,
        ssrc: 0x2222,
        cname: "bridge".into(),
        initial_seq: 1,
        initial_ts: 1,
    })
    .expect("sip leg");

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
            opus.encode(&tone(48_000, 960, frame * 960, 440.0), &mut payload)
                .expect("opus");
            let ts = (frame * 960) as u32;
            let seq = (frame + 1) as u64;
            let mut api = browser.direct_api();
            let stream = api.stream_tx_by_mid(mid, None).expect("stream");
            stream.write_rtp(RtpWrite::new(111.into(), seq.into(), ts, now, &payload[..]));
            g722.encode(&tone(16_000, 320, frame * 320, 660.0), &mut payload)
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
