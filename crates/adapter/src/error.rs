//! One error type for every adapter, sorted by whose fault it is so the gateway can decide what
//! to answer, what to retry and whom to tell, without knowing the platform.

use std::time::Duration;

/// Whose fault an [`AdapterError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The inbound request was unauthenticated or malformed: the sender's fault.
    Sender,
    /// The platform refused what we asked, for a reason it gave.
    Platform,
    /// The platform could not answer now; trying again later may work.
    Unavailable,
    /// The platform answered something that breaks its own documentation.
    Misbehaved,
    /// The operator's configuration or installation needs a person.
    Operator,
    /// Ours.
    Bug,
}

/// What went wrong in an adapter. Messages name methods and reasons, never tokens, bodies or
/// personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// The inbound request failed authentication (signature, JWT, client state).
    #[error("unauthenticated request: {0}")]
    Unauthenticated(&'static str),
    /// The inbound request is malformed.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The platform refused the call with an error it documents.
    #[error("{method} rejected by the platform: {error}")]
    PlatformRejected {
        /// The API method or operation.
        method: String,
        /// The platform's error code.
        error: String,
    },
    /// The platform is unavailable or rate limited us; retryable.
    #[error("{method} unavailable: {reason}")]
    PlatformUnavailable {
        /// The API method or operation.
        method: String,
        /// Why (status, timeout, connection failure).
        reason: String,
        /// How long the platform asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The platform answered outside its documented shape.
    #[error("{method}: the platform misbehaved: {detail}")]
    PlatformMisbehaved {
        /// The API method or operation.
        method: String,
        /// What was wrong with the answer.
        detail: String,
    },
    /// The installation's authorisation is gone (revoked, `invalid_grant`); a person must
    /// reconnect it.
    #[error("installation {installation} must be reconnected")]
    ReconnectRequired {
        /// The workspace or tenant id.
        installation: String,
    },
    /// The adapter's configuration is wrong or incomplete.
    #[error("misconfigured: {0}")]
    Misconfigured(String),
    /// A host service (token vault, inbox) failed.
    #[error("host service failed: {0}")]
    Host(String),
    /// A bug in callbridge.
    #[error("bug: {0}")]
    Bug(String),
}

impl AdapterError {
    /// Whose fault this is.
    pub const fn fault(&self) -> Fault {
        match self {
            Self::Unauthenticated(_) | Self::Malformed(_) => Fault::Sender,
            Self::PlatformRejected { .. } => Fault::Platform,
            Self::PlatformUnavailable { .. } | Self::Host(_) => Fault::Unavailable,
            Self::PlatformMisbehaved { .. } => Fault::Misbehaved,
            Self::ReconnectRequired { .. } | Self::Misconfigured(_) => Fault::Operator,
            Self::Bug(_) => Fault::Bug,
        }
    }

    /// Whether the same request may succeed later (for idempotent operations only).
    pub const fn is_retryable(&self) -> bool {
        matches!(self.fault(), Fault::Unavailable)
    }

    /// A short stable label for metrics.
    pub const fn label(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Malformed(_) => "malformed",
            Self::PlatformRejected { .. } => "rejected",
            Self::PlatformUnavailable { .. } => "unavailable",
            Self::PlatformMisbehaved { .. } => "misbehaved",
            Self::ReconnectRequired { .. } => "reconnect_required",
            Self::Misconfigured(_) => "misconfigured",
            Self::Host(_) => "host",
            Self::Bug(_) => "bug",
        }
    }
}
