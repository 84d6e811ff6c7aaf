//! The in-place SRTP transform against `rtc-srtp`: packets each side protects, the other
//! unprotects, for both SDES suites, across a sequence-number wrap (ROC 0 → 1), with CSRCs and
//! header extensions and payloads of any size; and the refusals an inbound packet can meet.

use bytes::BytesMut;
use callbridge_media::srtp::{CryptoAttribute, SrtpSession, SrtpSuite, UnprotectError};
use proptest::prelude::*;
use rtc_crypto::RTCCryptoProvider as _;
use rtc_crypto::providers::RingProvider;
use rtc_srtp::context::Context;
use rtc_srtp::option::srtp_replay_protection;
use rtc_srtp::protection_profile::ProtectionProfile;

/// An `rtc-srtp` context keyed from `attr`, with a replay window when it receives.
fn rtc_context(attr: &CryptoAttribute, receives: bool) -> Context {
    let profile = match attr.suite {
        SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
    };
    let (key, salt) = attr.key_salt.split_at(16);
    let replay = receives.then(|| srtp_replay_protection(128));
    Context::new(
        key,
        salt,
        profile,
        replay,
        None,
        RingProvider::new().crypto(),
    )
    .expect("rtc-srtp context")
}

/// An RTP packet; with `extras`, two CSRCs and a one-byte-header extension of two words.
fn rtp(seq: u16, ssrc: u32, extras: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    if extras {
        p[0] |= 0x10 | 2;
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
        p.extend_from_slice(&[0xBE, 0xDE, 0, 2, 0x10, 0x7F, 0x22, 1, 2, 3, 0, 0]);
    }
    p.extend_from_slice(payload);
    p
}

/// A session pair keyed with fresh attributes: `(ours, the attribute we send with, the one we
/// receive with)`.
fn session(suite: SrtpSuite) -> (SrtpSession, CryptoAttribute, CryptoAttribute) {
    let (send, recv) = (
        CryptoAttribute::random(1, suite),
        CryptoAttribute::random(1, suite),
    );
    let ours = SrtpSession::new(&send, &recv).expect("keys");
    (ours, send, recv)
}

fn suite_of(eighty: bool) -> SrtpSuite {
    if eighty {
        SrtpSuite::AesCm128HmacSha1_80
    } else {
        SrtpSuite::AesCm128HmacSha1_32
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// 20 packets from near the top of the sequence space, so the last ones are in ROC 1: each
    /// side must authenticate (ROC included) and decrypt what the other protected.
    #[test]
    fn interoperates_with_rtc_srtp_across_a_wrap(
        eighty in any::<bool>(),
        start in 65_516u16..=65_535,
        ssrc in any::<u32>(),
        packets in proptest::collection::vec((1usize..1200, any::<bool>(), any::<u8>()), 20),
    ) {
        let suite = suite_of(eighty);
        let (mut ours, send, recv) = session(suite);
        let mut rtc_rx = rtc_context(&send, true);
        let mut rtc_tx = rtc_context(&recv, false);
        for (k, (len, extras, fill)) in packets.into_iter().enumerate() {
            let seq = start.wrapping_add(k as u16);
            let plain = rtp(seq, ssrc, extras, &vec![fill; len]);

            let mut buf = BytesMut::with_capacity(1500);
            buf.extend_from_slice(&plain);
            ours.protect_rtp_in_place(&mut buf).expect("protect");
            prop_assert_eq!(buf.len(), plain.len() + suite.rtp_tag_len());
            let header_len = plain.len() - len;
            prop_assert_eq!(&buf[..header_len], &plain[..header_len], "header in the clear");
            let theirs = rtc_rx.decrypt_rtp(&buf).expect("rtc-srtp unprotects ours");
            prop_assert_eq!(&theirs[..], &plain[..]);

            let mut wire = BytesMut::from(&rtc_tx.encrypt_rtp(&plain).expect("rtc-srtp protects")[..]);
            ours.unprotect_rtp_in_place(&mut wire).expect("we unprotect rtc-srtp's");
            prop_assert_eq!(&wire[..], &plain[..]);
        }
    }

    /// Whatever arrives, unprotecting refuses it without panicking and leaves it untouched.
    #[test]
    fn arbitrary_datagrams_are_refused(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (mut ours, _, _) = session(SrtpSuite::AesCm128HmacSha1_80);
        let mut buf = BytesMut::from(&data[..]);
        prop_assert_eq!(ours.unprotect_rtp_in_place(&mut buf), Err(UnprotectError::Auth));
        prop_assert_eq!(&buf[..], &data[..]);
    }
}

/// Packets `rtc-srtp` protected with the key we receive with, from SSRC 7.
struct Sender {
    ctx: Context,
}

impl Sender {
    fn packet(&mut self, seq: u16) -> BytesMut {
        let wire = self
            .ctx
            .encrypt_rtp(&rtp(seq, 7, true, &[0xD5; 160]))
            .expect("protect");
        BytesMut::from(&wire[..])
    }
}

#[test]
fn tampered_truncated_replayed_and_stale_packets_are_refused() {
    for suite in [
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
    ] {
        let (mut ours, _, recv) = session(suite);
        let mut peer = Sender {
            ctx: rtc_context(&recv, false),
        };
        let refused = |ours: &mut SrtpSession, mut buf: BytesMut| {
            let before = buf.clone();
            let result = ours.unprotect_rtp_in_place(&mut buf);
            assert_eq!(buf, before, "a refused packet is left as it was");
            result
        };

        let mut tampered = peer.packet(1000);
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(refused(&mut ours, tampered), Err(UnprotectError::Auth));
        let mut tampered_payload = peer.packet(1000);
        tampered_payload[40] ^= 0x80;
        assert_eq!(
            refused(&mut ours, tampered_payload),
            Err(UnprotectError::Auth)
        );

        // Shorter than header + tag: the tag would overlap the header (or the CSRCs).
        let mut truncated = peer.packet(1001);
        truncated.truncate(12 + suite.rtp_tag_len() - 1);
        assert_eq!(refused(&mut ours, truncated), Err(UnprotectError::Auth));
        assert_eq!(
            refused(&mut ours, BytesMut::new()),
            Err(UnprotectError::Auth)
        );

        // The forgeries above moved nothing: the genuine packet 1000 is still new.
        for seq in (1000..1200).filter(|&s| s != 1050) {
            assert_eq!(ours.unprotect_rtp_in_place(&mut peer.packet(seq)), Ok(()));
        }
        assert_eq!(
            refused(&mut ours, peer.packet(1199)),
            Err(UnprotectError::Replay)
        );
        assert_eq!(
            refused(&mut ours, peer.packet(1100)),
            Err(UnprotectError::Replay)
        );
        // 1050 was never seen, but it is more than 128 packets behind 1199.
        let stale = peer.packet(1050);
        assert_eq!(refused(&mut ours, stale), Err(UnprotectError::Replay));
    }
}

#[test]
fn a_forged_packet_cannot_move_the_rollover_counter() {
    let (mut ours, _, recv) = session(SrtpSuite::AesCm128HmacSha1_80);
    let mut peer = Sender {
        ctx: rtc_context(&recv, false),
    };
    assert_eq!(
        ours.unprotect_rtp_in_place(&mut peer.packet(40_000)),
        Ok(())
    );
    // A forged packet that, were it accepted, would start the next rollover.
    let mut forged = BytesMut::from(&rtp(5, 7, false, &[0; 170])[..]);
    assert_eq!(
        ours.unprotect_rtp_in_place(&mut forged),
        Err(UnprotectError::Auth)
    );
    // Still ROC 0: the peer's packet 40 001 (ROC 0) authenticates.
    assert_eq!(
        ours.unprotect_rtp_in_place(&mut peer.packet(40_001)),
        Ok(())
    );
}

#[test]
fn the_copying_forms_agree_with_the_in_place_ones() {
    let (mut alice, a, b) = session(SrtpSuite::AesCm128HmacSha1_32);
    let mut bob = SrtpSession::new(&b, &a).expect("keys");
    let plain = rtp(9, 3, true, &[1; 33]);
    let wire = alice.protect_rtp(&plain).expect("protect");
    assert_eq!(
        &bob.unprotect_rtp(&wire).expect("unprotect")[..],
        &plain[..]
    );
    assert_eq!(bob.unprotect_rtp(&wire), Err(UnprotectError::Replay));
}
