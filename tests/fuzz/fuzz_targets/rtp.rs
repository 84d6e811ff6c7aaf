//! RTP parsing and in-place rewriting must never panic; a parsed packet must re-parse after
//! rewriting with the same payload.
#![no_main]

use bytes::BytesMut;
use callbridge_media::packet::RtpPacket;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(mut p) = RtpPacket::parse(BytesMut::from(data)) {
        let payload = p.payload().to_vec();
        p.rewrite(p.pt, p.seq.wrapping_add(1), p.ts.wrapping_add(160), !p.ssrc);
        let again = RtpPacket::parse(BytesMut::from(p.as_bytes())).expect("rewritten packet parses");
        assert_eq!(again.payload(), &payload[..]);
    }
});
