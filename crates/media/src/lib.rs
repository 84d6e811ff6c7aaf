//! Sans-IO media core: legs, bridge, SRTP, rewriting, jitter buffer, codecs, DTMF, RTCP, stats,
//! plus the thin UDP worker shell that drives it.
//!
//! # What it owns
//!
//! Everything between two media legs of a bridged call: the SIP/RTP leg (plain RTP or
//! SDES-SRTP, SDP offer/answer, symmetric-RTP latching with strict source checks), the
//! passthrough path (SSRC/sequence/timestamp/payload-type rewriting, re-protection), the
//! transcode path (jitter buffer, decode with PLC, resample, encode, steady packetizer),
//! RFC 4733 DTMF relay, RTCP generation and per-leg statistics.
//!
//! The core ([`bridge::Bridge`] and everything it uses) never reads the clock, opens sockets
//! or spawns tasks; time is an input. Only [`shell`] does I/O.
//!
//! May depend on: `callbridge-model`, media crates (str0m, rtc-*, opus, ezk-g722) and, for the
//! I/O shell only, a UDP batching crate. No async runtime, HTTP, database or adapter.
//!
//! # Run loop
//!
//! 1. Build each leg from its negotiation ([`sdp`] → [`leg::RtpLeg`]), then a
//!    [`bridge::Bridge`] from the two legs and a [`clock::WallClock`] reading.
//! 2. Feed exactly one input: a received datagram ([`bridge::Input::Receive`]) or, when the
//!    last deadline passed, [`bridge::Input::Timeout`], always with the current `now`.
//! 3. Drain [`bridge::Bridge::poll_output`]: send every `Transmit`, forward every `Event`,
//!    until it returns `Timeout(deadline)`.
//! 4. Sleep until the earliest deadline or the next datagram, then go to 2.

pub mod bridge;
pub mod clock;
pub mod codec;
pub mod dtmf;
pub mod dtmf_relay;
pub mod error;
pub mod event;
pub mod g711;
pub mod jitter;
pub mod leg;
pub mod media_leg;
pub mod packet;
pub mod plc;
pub mod resample;
pub mod rewrite;
pub mod rtcp;
pub mod sdp;
pub mod shell;
pub mod srtp;
pub mod stats;
pub mod transcode;
pub mod webrtc;

pub use bridge::{Bridge, BridgeConfig, Input, Output, Path, PathPolicy};
pub use codec::Codec;
pub use error::{MediaError, Result};
pub use event::{LegId, MediaEvent};

#[cfg(test)]
mod test_support {
    /// An arbitrary origin for virtual time in unit tests.
    #[allow(clippy::disallowed_methods)] // Tests need one real Instant to offset from; nothing waits on it.
    pub(crate) fn epoch() -> std::time::Instant {
        std::time::Instant::now()
    }
}
