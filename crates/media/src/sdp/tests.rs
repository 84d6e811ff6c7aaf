use super::*;
use proptest::prelude::*;

const TEAMS_OFFER: &str = "v=0\r\n\
o=- 1 1 IN IP4 52.114.1.1\r\n\
s=-\r\n\
c=IN IP4 52.114.1.1\r\n\
t=0 0\r\n\
m=audio 49152 RTP/SAVP 104 9 0 8 101 13\r\n\
a=rtpmap:104 SILK/16000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=rtpmap:13 CN/8000\r\n\
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e|2^31\r\n\
a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e|2^31\r\n\
a=rtcp-mux\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

fn local() -> LocalMedia {
    LocalMedia::new(
        "203.0.113.5".parse().expect("ip"),
        40_000,
        vec![Codec::G722, Codec::Pcmu],
    )
    .with_fresh_srtp()
}

#[test]
fn answers_a_teams_style_offer() {
    let (answer, n) = answer_offer(TEAMS_OFFER, &local(), 7).expect("answer");
    assert_eq!(n.codec, Codec::G722);
    assert_eq!(n.codec_pt, 9);
    assert_eq!(n.dtmf_pt, Some(101));
    assert_eq!(n.cn_pt, Some(13));
    assert_eq!(n.remote, "52.114.1.1:49152".parse().expect("addr"));
    assert!(n.rtcp_mux);
    let (ours, theirs) = n.srtp.expect("srtp");
    // The offerer's first supported suite wins and our answer reuses its tag.
    assert_eq!(theirs.suite, SrtpSuite::AesCm128HmacSha1_32);
    assert_eq!(ours.tag, 2);
    assert!(
        answer.contains("m=audio 40000 RTP/SAVP 9 101 13"),
        "{answer}"
    );
    assert!(answer.contains("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"));
    assert!(answer.contains("a=rtcp-mux"));
    assert!(answer.contains("c=IN IP4 203.0.113.5"));
}

#[test]
fn offer_answer_round_trip_between_two_instances() {
    let alice = local();
    let bob = LocalMedia::new(
        "198.51.100.7".parse().expect("ip"),
        50_000,
        vec![Codec::Pcmu],
    )
    .with_fresh_srtp();
    let offer = create_offer(&alice, 1);
    let (answer, at_bob) = answer_offer(&offer, &bob, 2).expect("answer");
    let at_alice = apply_answer(&answer, &alice).expect("apply");
    assert_eq!(at_bob.codec, Codec::Pcmu);
    assert_eq!(at_alice.codec, Codec::Pcmu);
    assert_eq!(at_alice.remote.port(), 50_000);
    assert_eq!(at_bob.remote.port(), 40_000);
    let (a_ours, a_theirs) = at_alice.srtp.expect("alice keys");
    let (b_ours, b_theirs) = at_bob.srtp.expect("bob keys");
    assert!(a_ours == b_theirs && a_theirs == b_ours, "keys cross over");
}

#[test]
fn plain_rtp_offer_gets_plain_answer_and_opus_keeps_its_pt() {
    let offer_side = LocalMedia::new("127.0.0.1".parse().expect("ip"), 4000, vec![Codec::Opus]);
    let offer = create_offer(&offer_side, 1);
    assert!(offer.contains("RTP/AVP 111 101"), "{offer}");
    assert!(
        offer.contains("a=rtpmap:101 telephone-event/48000"),
        "{offer}"
    );
    let answerer = LocalMedia::new(
        "127.0.0.1".parse().expect("ip"),
        5000,
        vec![Codec::Opus, Codec::G722],
    );
    let (answer, n) = answer_offer(&offer, &answerer, 2).expect("answer");
    assert_eq!(
        (n.codec, n.codec_pt, n.dtmf_pt, n.cn_pt),
        (Codec::Opus, 111, Some(101), None)
    );
    assert!(n.srtp.is_none());
    assert!(answer.contains("RTP/AVP 111 101"), "{answer}");
}

#[test]
fn hold_offer_is_answered_recvonly() {
    let mut holder = local();
    holder.direction = Direction::SendOnly;
    let (_, n) = answer_offer(&create_offer(&holder, 1), &local(), 2).expect("answer");
    assert_eq!(n.direction, Direction::RecvOnly);
    holder.direction = Direction::Inactive;
    let (answer, n) = answer_offer(&create_offer(&holder, 1), &local(), 2).expect("answer");
    assert_eq!(n.direction, Direction::Inactive);
    assert!(answer.contains("a=inactive"));
}

#[test]
fn refuses_unusable_offers() {
    let srtp_required = TEAMS_OFFER
        .replace(
            "a=crypto:2 AES_CM_128_HMAC_SHA1_32",
            "a=crypto:2 F8_128_HMAC_SHA1_80",
        )
        .replace(
            "a=crypto:3 AES_CM_128_HMAC_SHA1_80",
            "a=crypto:3 F8_128_HMAC_SHA1_80",
        );
    assert!(matches!(
        answer_offer(&srtp_required, &local(), 1),
        Err(MediaError::PeerCrypto(_))
    ));
    let no_codec = TEAMS_OFFER.replace("104 9 0 8 101 13", "104 101");
    assert!(matches!(
        answer_offer(&no_codec, &local(), 1),
        Err(MediaError::NoCommonCodec)
    ));
    let plain_local = LocalMedia::new("127.0.0.1".parse().expect("ip"), 1, vec![Codec::G722]);
    assert!(
        answer_offer(TEAMS_OFFER, &plain_local, 1).is_err(),
        "SAVP offer needs local keys"
    );
    assert!(answer_offer("v=0\r\nthis is not sdp", &local(), 1).is_err());
}

#[test]
fn reads_declared_ssrcs_of_the_audio_line_only() {
    assert!(remote_ssrcs(TEAMS_OFFER).expect("no a=ssrc").is_empty());
    let with = format!(
        "{TEAMS_OFFER}a=ssrc:2222 cname:x\r\na=ssrc:1111 msid:a b\r\na=ssrc:2222 label:y\r\n\
         m=video 0 RTP/SAVP 96\r\na=ssrc:3333 cname:v\r\n"
    );
    let set = remote_ssrcs(&with).expect("a=ssrc");
    assert_eq!(set.as_slice(), &[1111, 2222]);
    assert!(set.contains(2222) && !set.contains(3333));
}

#[test]
fn refuses_malformed_or_excessive_ssrc_lines() {
    for bad in [
        "a=ssrc:abc cname:x",
        "a=ssrc:4294967296 cname:x",
        "a=ssrc:-1",
        "a=ssrc:",
    ] {
        let text = format!("{TEAMS_OFFER}{bad}\r\n");
        assert!(
            matches!(remote_ssrcs(&text), Err(MediaError::PeerSdp(_))),
            "{bad}"
        );
    }
    let many: String = (1..=17)
        .map(|s| format!("a=ssrc:{s} cname:x\r\n"))
        .collect();
    assert!(remote_ssrcs(&format!("{TEAMS_OFFER}{many}")).is_err());
    let enough: String = (1..=16)
        .map(|s| format!("a=ssrc:{s} cname:x\r\n"))
        .collect();
    assert_eq!(
        remote_ssrcs(&format!("{TEAMS_OFFER}{enough}"))
            .expect("16 is fine")
            .as_slice()
            .len(),
        16
    );
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        prop_assert!(answer_offer(&text, &local(), 1).is_err());
        prop_assert!(remote_ssrcs(&text).is_err());
    }

    #[test]
    fn mutated_offer_never_panics(cut in 0usize..TEAMS_OFFER.len(), junk in "[ -~]{0,20}") {
        let mut text = TEAMS_OFFER[..cut].to_owned();
        text.push_str(&junk);
        text.push_str(&TEAMS_OFFER[cut..]);
        // Whatever happens it is a value, never a panic, and a success is a real negotiation.
        if let Ok((_, n)) = answer_offer(&text, &local(), 1) {
            prop_assert!(matches!(n.codec, Codec::G722 | Codec::Pcmu));
        }
        prop_assert!(remote_ssrcs(&text).map_or(true, |s| s.as_slice().len() <= 16));
    }
}
