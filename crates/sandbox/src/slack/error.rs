//! The Slack sandbox's error type, sorted by whose fault it is.

use std::net::SocketAddr;

/// Why the Slack sandbox could not start, serve or act.
///
/// Errors a Slack client would see on the wire (`{"ok":false,"error":…}`) are not here: those are
/// answers, not failures of the sandbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The seed file is not valid TOML/JSON or breaks a rule (unknown ids, bad prefixes).
    #[error("invalid Slack seed: {0}")]
    Misconfigured(String),
    /// The listening socket could not be bound.
    #[error("cannot bind the Slack sandbox to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Serving stopped with an I/O error.
    #[error("the Slack sandbox stopped serving: {0}")]
    Serve(#[source] std::io::Error),
    /// A scenario act named something the sandbox does not know (a user, a message, a button).
    #[error("scenario act refused: {0}")]
    ApiMisuse(String),
    /// The app under test has no request URL configured for this kind of request.
    #[error("the app has no {0} URL configured")]
    NoAppUrl(&'static str),
    /// The outbound HTTP client could not be built.
    #[error("cannot build the outbound HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

impl SandboxError {
    /// Whether trying the same thing again may succeed (only serving hiccups qualify).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Serve(_))
    }
}
