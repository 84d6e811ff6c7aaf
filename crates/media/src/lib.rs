//! Sans-IO media core: legs, bridge, SRTP, rewriting, jitter buffer, codecs, DTMF, RTCP, stats,
//! plus the thin UDP worker shell that drives it.
//!
//! # What it owns
//!
//! Everything between two media legs of a bridged call:
//! - legs ([`media_leg::MediaLeg`]): the SIP/RTP leg ([`leg`]: plain RTP or SDES-SRTP via
//!   [`srtp`], offer/answer in [`sdp`], symmetric-RTP latching with strict source checks) and
//!   the WebRTC leg ([`webrtc`]: str0m in RTP mode, ICE-lite, DTLS-SRTP);
//! - the passthrough path ([`rewrite`]: SSRC/sequence/timestamp continuity, payload-type
//!   mapping, re-protection with the other leg's keys), on buffers recycled through
//!   [`buffers`] so that forwarding plain RTP allocates nothing per packet;
//! - the transcode path ([`transcode`]: [`jitter`] buffer, decode with [`plc`] or Opus FEC,
//!   [`resample`] where no native rate exists, encode, steady packetizer; [`g711`] in-house);
//! - RFC 4733 relay ([`dtmf`], [`dtmf_relay`]), RTCP ([`rtcp`]), statistics and MOS
//!   ([`stats`]), events ([`event`]);
//! - the I/O shell ([`shell`]): worker threads, batched UDP, ports, admission control.
//!
//! The core (everything but [`shell`]) never reads the clock, opens sockets or spawns tasks;
//! time is an input and [`clock::WallClock`] is a reading the shell hands in.
//!
//! May depend on: media crates (str0m, rtc-*, rtp-types, opus, ezk-g722) and, for the I/O shell
//! only, `mio`, `quinn-udp` and `nix` (thread pinning, the worker's timer). No async runtime,
//! HTTP, database or adapter.
//!
//! # Run loop
//!
//! 1. Build each leg from its negotiation ([`sdp`] → [`leg::RtpLeg`], or
//!    [`webrtc::WebRtcLeg::accept_offer`] → [`media_leg::BrowserLeg`]), then a
//!    [`bridge::Bridge`] from the two legs and a [`clock::WallClock`] reading.
//! 2. Feed exactly one input: a received datagram ([`bridge::Input::Receive`]) or, when the
//!    last deadline passed, [`bridge::Input::Timeout`], always with the current `now`.
//! 3. Drain [`bridge::Bridge::poll_output`]: send every `Transmit` and hand it back with
//!    [`bridge::Bridge::recycle`], forward every `Event`, until it returns `Timeout(deadline)`.
//! 4. Sleep until the earliest deadline or the next datagram, then go to 2.

pub mod bridge;
pub mod buffers;
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
pub use event::{MediaEvent, Side};

#[cfg(test)]
mod test_support {
    /// An arbitrary origin for virtual time in unit tests.
    #[allow(clippy::disallowed_methods)] // Tests need one real Instant to offset from; nothing waits on it.
    pub(crate) fn epoch() -> std::time::Instant {
        std::time::Instant::now()
    }
}
