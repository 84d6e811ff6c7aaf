//! RTCP compound parsing must never panic.
#![no_main]

use callbridge_media::rtcp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(summary) = rtcp::parse(data, 0x1234_5678) {
        // Anything parsed can be used for an RTT computation without overflow panics.
        if let Some((_, lsr, dlsr)) = summary.about_us {
            let _ = rtcp::round_trip(u32::MAX, lsr, dlsr);
        }
    }
});
