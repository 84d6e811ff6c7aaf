//! SRTP and SRTCP unprotect with fixed keys must never panic on arbitrary input, and a refused
//! SRTP packet is left as it arrived.
#![no_main]

use bytes::BytesMut;
use callbridge_media::srtp::{CryptoAttribute, SrtpSession, SrtpSuite};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else { return };
    let suite = if selector & 1 == 0 { SrtpSuite::AesCm128HmacSha1_80 } else { SrtpSuite::AesCm128HmacSha1_32 };
    let key = |b: u8| CryptoAttribute { tag: 1, suite, key_salt: [b; 30] };
    let Ok(mut session) = SrtpSession::new(&key(1), &key(2)) else { return };
    let mut buf = BytesMut::from(packet);
    if session.unprotect_rtp_in_place(&mut buf).is_err() {
        assert_eq!(&buf[..], packet);
    }
    let _ = session.unprotect_rtcp(packet);
});
