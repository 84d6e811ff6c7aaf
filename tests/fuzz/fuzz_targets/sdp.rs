//! SDP offer handling for the SIP leg (the negotiation and the declared `a=ssrc` set) must never
//! panic, whatever the text.
#![no_main]

use callbridge_media::codec::Codec;
use callbridge_media::sdp::{LocalMedia, answer_offer, apply_answer, remote_ssrcs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let local = LocalMedia::new([127, 0, 0, 1].into(), 4000, vec![Codec::G722, Codec::Pcmu, Codec::Opus])
        .with_fresh_srtp();
    let _ = answer_offer(text, &local, 1);
    let _ = apply_answer(text, &local);
    let _ = remote_ssrcs(text);
});
