//! The media service over real loopback sockets: two SIP far ends (played with the media
//! core's own SDP and leg types, as Teams would speak) negotiate through the service, get
//! bridged, and hear each other over SRTP; capacity, release, unknown calls and bad SDP.

use std::net::UdpSocket;
use std::time::Duration;

use callbridge::media::{MediaNotice, MediaService, MediaServiceError, MediaSettings};
use callbridge_media::Codec;
use callbridge_media::leg::{Inbound, LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::packet::{RtpPacket, is_rtcp};
use callbridge_media::sdp::{self, LocalMedia, Negotiated};
use callbridge_media::shell::admission::CallCost;
use callbridge_media::shell::worker;
use callbridge_model::{CallId, LegId, MediaAnswer, MediaOffer, MediaTransport, Sdp};

/// Settings on loopback with a port range of its own, so tests can run side by side.
fn settings(first_port: u16) -> MediaSettings {
    MediaSettings {
        ports: first_port..=first_port + 19,
        ..MediaSettings::default()
    }
}

/// A SIP far end: a socket and, once negotiated, its own SRTP leg.
struct FarEnd {
    socket: UdpSocket,
    local: LocalMedia,
    leg: Option<RtpLeg>,
}

impl FarEnd {
    fn new(codecs: Vec<Codec>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let at = socket.local_addr().expect("addr");
        let local = LocalMedia::new(at.ip(), at.port(), codecs).with_fresh_srtp();
        Self {
            socket,
            local,
            leg: None,
        }
    }

    fn offer(&self) -> MediaOffer {
        MediaOffer {
            transport: MediaTransport::SipRtp,
            sdp: Sdp::parse(&sdp::create_offer(&self.local, 7)).expect("sdp"),
        }
    }

    /// Answers the service's offer and keeps the outcome.
    fn answer(&mut self, offer: &MediaOffer) -> MediaAnswer {
        let (text, negotiated) =
            sdp::answer_offer(offer.sdp.as_str(), &self.local, 8).expect("far end answers");
        self.negotiated(negotiated);
        MediaAnswer {
            transport: MediaTransport::SipRtp,
            sdp: Sdp::parse(&text).expect("sdp"),
        }
    }

    fn negotiated(&mut self, negotiated: Negotiated) {
        self.leg = Some(
            RtpLeg::new(RtpLegConfig {
                local: self.socket.local_addr().expect("addr"),
                negotiated,
                latch: LatchMode::SdpAddressOnly,
                ssrc: 0x7000,
                cname: "far".into(),
                initial_seq: 1,
                initial_ts: 1,
            })
            .expect("far leg"),
        );
    }

    fn send(&mut self, seq: u16, payload: &[u8]) {
        let leg = self.leg.as_mut().expect("negotiated");
        let ssrc = 0x5000 + u32::from(leg.local().port());
        let p = RtpPacket::build(9, false, seq, u32::from(seq) * 160, ssrc, payload);
        let t = leg.send_rtp(&p).expect("protected");
        self.socket.send_to(&t.payload, t.to).expect("send");
    }

    /// The payload of the next RTP packet that decrypts, within 5 s.
    fn receive(&mut self) -> Vec<u8> {
        let mut buf = [0u8; 1500];
        loop {
            let (n, from) = self.socket.recv_from(&mut buf).expect("media within 5 s");
            if is_rtcp(&buf[..n]) {
                continue;
            }
            let leg = self.leg.as_mut().expect("negotiated");
            if let Inbound::Rtp(p) = leg.receive(from, &buf[..n], worker::now()) {
                return p.payload().to_vec();
            }
        }
    }
}

/// A SIP-to-SIP call through the service: the far end of leg A offers (a Teams caller), the
/// service offers to the far end of leg B (a Teams callee), then the bridge runs.
async fn bridged_call(svc: &MediaService) -> (CallId, [LegId; 2], FarEnd, FarEnd) {
    let (call, a, b) = (CallId::generate(), LegId::generate(), LegId::generate());
    let mut far_a = FarEnd::new(vec![Codec::G722, Codec::Pcmu]);
    let answer = svc
        .accept_offer(call, a, &far_a.offer())
        .await
        .expect("answer for A");
    assert!(answer.sdp.as_str().contains("RTP/SAVP"), "SRTP answered");
    let negotiated = sdp::apply_answer(answer.sdp.as_str(), &far_a.local).expect("A applies");
    assert_eq!(negotiated.codec, Codec::G722);
    far_a.negotiated(negotiated);

    let offer = svc.prepare_offer(call, b).await.expect("offer for B");
    let text = offer.sdp.as_str();
    for needle in [
        "RTP/SAVP",
        "AES_CM_128_HMAC_SHA1_80",
        "G722/8000",
        "PCMU/8000",
        "PCMA/8000",
        "telephone-event",
        "a=rtcp-mux",
        "c=IN IP4 127.0.0.1",
    ] {
        assert!(text.contains(needle), "offer lacks {needle}");
    }
    let mut far_b = FarEnd::new(vec![Codec::G722]);
    let answer = far_b.answer(&offer);
    svc.apply_answer(call, b, &answer).await.expect("B applied");
    svc.bridge(call).await.expect("bridged");
    (call, [a, b], far_a, far_b)
}

#[tokio::test]
async fn a_sip_to_sip_call_is_relayed_both_ways_over_srtp_and_released() {
    let (svc, _notices) = MediaService::start(settings(41_000)).expect("service");
    let idle = svc.snapshot();
    let (call, _, mut far_a, mut far_b) = bridged_call(&svc).await;
    let live = svc.snapshot();
    assert_eq!((live.calls, live.bridged), (1, 1));
    assert_eq!(live.calls_per_worker, vec![1]);
    assert_eq!(live.free_ports, idle.free_ports - 2);
    assert!(live.headroom_passthrough < idle.headroom_passthrough);

    for seq in 0..5u16 {
        far_a.send(seq, &[0xA5; 160]);
        assert_eq!(
            far_b.receive(),
            vec![0xA5; 160],
            "A to B, decrypted with B's keys"
        );
    }
    for seq in 0..5u16 {
        far_b.send(seq, &[0x5B; 160]);
        assert_eq!(far_a.receive(), vec![0x5B; 160], "B to A");
    }

    svc.release(call).await;
    svc.release(call).await;
    let after = svc.snapshot();
    assert_eq!(after, idle, "release returns ports and capacity");
    far_a.send(9, &[1; 160]);
    let mut buf = [0u8; 1500];
    far_b
        .socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    // The bridge's final RTCP BYE may still be in flight; media must not be.
    while let Ok((n, _)) = far_b.socket.recv_from(&mut buf) {
        assert!(is_rtcp(&buf[..n]), "no media after release");
    }
}

#[tokio::test]
async fn a_re_offer_on_a_bridged_leg_moves_its_media() {
    let (svc, _notices) = MediaService::start(settings(41_100)).expect("service");
    let (call, [_, b], mut far_a, mut far_b) = bridged_call(&svc).await;
    far_a.send(0, &[1; 160]);
    assert_eq!(far_b.receive(), vec![1; 160]);

    // B's far end re-offers from a new socket, with new keys.
    let mut moved = FarEnd::new(vec![Codec::G722]);
    let answer = svc
        .accept_offer(call, b, &moved.offer())
        .await
        .expect("re-offer answered");
    let negotiated = sdp::apply_answer(answer.sdp.as_str(), &moved.local).expect("applies");
    moved.negotiated(negotiated);
    far_a.send(1, &[2; 160]);
    assert_eq!(moved.receive(), vec![2; 160], "media follows the re-offer");
    svc.release(call).await;
}

#[tokio::test]
async fn a_bridged_call_that_hears_nothing_times_out_with_a_notice() {
    let mut s = settings(41_200);
    s.media_timeout = Some(Duration::from_millis(300));
    let (svc, mut notices) = MediaService::start(s).expect("service");
    let (call, _, _far_a, _far_b) = bridged_call(&svc).await;
    let notice = tokio::time::timeout(Duration::from_secs(5), notices.recv())
        .await
        .expect("a notice within 5 s")
        .expect("channel open");
    assert_eq!(notice, MediaNotice::Timeout { call });
    svc.release(call).await;
}

#[tokio::test]
async fn admission_refuses_the_call_that_does_not_fit_until_one_is_released() {
    let mut s = settings(41_300);
    // One transcoded call's worth of budget (0.6 of a core at 0.5 per call).
    s.call_cost = CallCost {
        passthrough_us_per_s: 100_000,
        transcode_us_per_s: 500_000,
    };
    s.max_utilization = 0.6;
    let (svc, _notices) = MediaService::start(s).expect("service");
    let idle = svc.snapshot();
    let (first, second) = (CallId::generate(), CallId::generate());
    svc.prepare_offer(first, LegId::generate())
        .await
        .expect("first call fits");
    let refused = svc.prepare_offer(second, LegId::generate()).await;
    assert!(
        matches!(refused, Err(MediaServiceError::CapacityRefused)),
        "{refused:?}"
    );
    assert_eq!(svc.snapshot().calls, 1, "the refused call holds nothing");
    assert_eq!(svc.snapshot().free_ports, idle.free_ports - 1);
    svc.release(first).await;
    assert_eq!(svc.snapshot(), idle);
    svc.prepare_offer(second, LegId::generate())
        .await
        .expect("fits after the release");
}

#[tokio::test]
async fn bad_sdp_and_unknown_calls_are_refused_without_leaking() {
    let (svc, _notices) = MediaService::start(settings(41_400)).expect("service");
    let idle = svc.snapshot();
    let (call, leg) = (CallId::generate(), LegId::generate());
    for transport in [MediaTransport::SipRtp, MediaTransport::WebRtc] {
        let junk = MediaOffer {
            transport,
            sdp: Sdp::parse("v=0\r\nm=nonsense\r\n").expect("first line is enough"),
        };
        let refused = svc.accept_offer(call, leg, &junk).await;
        assert!(
            matches!(refused, Err(MediaServiceError::Negotiation(_))),
            "{transport:?}: {refused:?}"
        );
        assert_eq!(svc.snapshot(), idle, "{transport:?}: nothing held");
    }
    // A well-formed offer with no codec in common.
    let opus_only = FarEnd::new(vec![Codec::Opus]);
    match svc.accept_offer(call, leg, &opus_only.offer()).await {
        Err(MediaServiceError::Negotiation(why)) => {
            assert_eq!(why, "no common codec");
            assert!(!why.contains("127.0.0.1"));
        }
        other => panic!("expected a negotiation failure, got {other:?}"),
    }
    assert_eq!(svc.snapshot(), idle);

    let stranger = CallId::generate();
    let answer = MediaAnswer {
        transport: MediaTransport::SipRtp,
        sdp: Sdp::parse("v=0\r\n").expect("sdp"),
    };
    assert!(matches!(
        svc.apply_answer(stranger, leg, &answer).await,
        Err(MediaServiceError::UnknownCall)
    ));
    assert!(matches!(
        svc.bridge(stranger).await,
        Err(MediaServiceError::UnknownCall)
    ));
    svc.release(stranger).await;

    // Bridging a call with one leg is refused; the call keeps what it holds until released.
    svc.prepare_offer(call, leg).await.expect("offer");
    assert!(matches!(
        svc.bridge(call).await,
        Err(MediaServiceError::UnknownCall)
    ));
    svc.release(call).await;
    assert_eq!(svc.snapshot(), idle);
}
