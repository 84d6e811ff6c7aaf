//! The media core's error type, sorted by whose fault a failure is.

use thiserror::Error;

/// Everything the media core can refuse or fail at.
///
/// Variants are grouped by fault: the remote peer, our configuration, the caller of this API,
/// or a bug/limit inside the core. Packet-level problems from a peer are not errors at all:
/// they are dropped and counted (see [`crate::stats::DropCounters`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MediaError {
    // --- The peer sent something we cannot use. ---
    /// The remote SDP could not be parsed or lacks a usable audio section.
    #[error("peer sent unusable SDP: {0}")]
    PeerSdp(String),
    /// The remote SDP offered no codec that we support.
    #[error("no common codec with the peer")]
    NoCommonCodec,
    /// The peer's `a=crypto` line is malformed or uses a suite we do not support.
    #[error("peer sent unusable SRTP keying: {0}")]
    PeerCrypto(String),

    // --- We are misconfigured. ---
    /// A configuration value is out of range or inconsistent.
    #[error("misconfigured: {0}")]
    Misconfigured(String),
    /// Admission control refused a new call: the worker is at its configured capacity.
    #[error("at capacity: {0}")]
    AtCapacity(String),
    /// The port range has no free pair left.
    #[error("no free RTP port in the configured range")]
    PortsExhausted,

    // --- The caller used the API wrongly. ---
    /// The caller broke the run-loop contract (for example fed input without draining output).
    #[error("API misuse: {0}")]
    ApiMisuse(&'static str),

    // --- Internal failures. ---
    /// A codec library failed on input we produced ourselves.
    #[error("codec failure: {0}")]
    Codec(String),
    /// The SRTP library refused keys we derived ourselves.
    #[error("SRTP setup failed: {0}")]
    Srtp(String),
    /// The WebRTC stack reported a failure.
    #[error("WebRTC leg failure: {0}")]
    WebRtc(String),
    /// Socket I/O failed in the shell.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl MediaError {
    /// Whether the remote peer caused this error (rather than us or our configuration).
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            Self::PeerSdp(_) | Self::NoCommonCodec | Self::PeerCrypto(_)
        )
    }
}

/// Shorthand for results in this crate.
pub type Result<T> = std::result::Result<T, MediaError>;
