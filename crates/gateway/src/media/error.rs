//! The media service's error type, sorted by whose fault a failure is.

use callbridge_media::MediaError;

/// Why a media request failed. The text never carries SDP or addresses.
#[derive(Debug, thiserror::Error)]
pub enum MediaServiceError {
    // --- The far end sent something we cannot use. ---
    /// The far end's offer or answer could not be negotiated (malformed SDP, no common codec,
    /// unusable keys).
    #[error("media negotiation failed: {0}")]
    Negotiation(String),

    // --- We are at capacity. ---
    /// Admission control refused the call, or no RTP port is free.
    #[error("media capacity refused the call")]
    CapacityRefused,

    // --- The caller asked about something we do not hold. ---
    /// No media state for this call (never prepared, or already released), or the request
    /// does not fit the call's state.
    #[error("no media for this call")]
    UnknownCall,

    // --- Internal failures. ---
    /// A socket, a worker or the media core failed.
    #[error("media internal error: {0}")]
    Internal(String),
}

impl From<MediaError> for MediaServiceError {
    fn from(e: MediaError) -> Self {
        // Peer-supplied text (parser messages may quote SDP lines) is replaced by a fixed
        // description, so that no address or key reaches a log through this error.
        match e {
            MediaError::PeerSdp(_) => Self::Negotiation("unusable SDP".into()),
            MediaError::NoCommonCodec => Self::Negotiation("no common codec".into()),
            MediaError::PeerCrypto(_) => Self::Negotiation("unusable SRTP keying".into()),
            MediaError::AtCapacity(_) | MediaError::PortsExhausted => Self::CapacityRefused,
            other => Self::Internal(other.to_string()),
        }
    }
}
