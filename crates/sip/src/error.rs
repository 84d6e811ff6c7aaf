//! The trunk's errors, sorted by whose fault they are: the caller's, the configuration's, the
//! far end's, or the network's.

use std::path::PathBuf;

/// Why a trunk operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SipError {
    // --- the caller's fault ---
    /// The leg is unknown or already ended.
    #[error("no live leg {0}")]
    UnknownLeg(String),
    /// The leg exists but cannot do this now (e.g. answering an outbound leg).
    #[error("leg {leg} cannot {action} in its current state")]
    WrongState {
        /// The leg.
        leg: String,
        /// What was asked.
        action: &'static str,
    },
    /// The leg id is already in use.
    #[error("leg {0} already exists")]
    DuplicateLeg(String),
    /// The SDP handed in is not an audio offer/answer.
    #[error("invalid SDP: {0}")]
    InvalidSdp(String),
    /// A status code outside 300–699 was given to reject a call.
    #[error("status {0} cannot reject a call")]
    InvalidStatus(u16),
    /// The trunk is draining and takes no new calls.
    #[error("the trunk is draining")]
    Draining,

    // --- the configuration's fault ---
    /// A certificate, key or CA file could not be read or used.
    #[error("certificate material in {path:?}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Something else in the configuration is unusable.
    #[error("misconfigured trunk: {0}")]
    Misconfigured(String),

    // --- the far end's fault ---
    /// Every proxy refused or failed the request.
    #[error("no proxy accepted the request: {0}")]
    AllProxiesFailed(String),
    /// The far end answered a request with a final status that is neither success nor one
    /// the operation accepts.
    #[error("{method} refused with {status}")]
    Refused {
        /// The request.
        method: &'static str,
        /// Its final status.
        status: u16,
    },

    // --- the network's or the stack's fault ---
    /// A socket could not be bound, connected or written.
    #[error("SIP transport: {0}")]
    Transport(String),
    /// A request got no final response in time.
    #[error("no final response to {0}")]
    NoResponse(&'static str),
    /// The SIP stack refused a message we built (a bug on our side).
    #[error("SIP stack: {0}")]
    Stack(String),
    /// The trunk has stopped.
    #[error("the trunk has stopped")]
    Stopped,
}

impl From<rsipstack::Error> for SipError {
    fn from(error: rsipstack::Error) -> Self {
        match error {
            rsipstack::Error::TransportLayerError(reason, _) => Self::Transport(reason),
            other => Self::Stack(other.to_string()),
        }
    }
}

impl From<std::io::Error> for SipError {
    fn from(error: std::io::Error) -> Self {
        Self::Transport(error.to_string())
    }
}
