//! The Microsoft sandbox's error type, sorted by whose fault it is.

use std::io;

/// Why the Microsoft sandbox could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The seed file or configuration is unusable.
    #[error("misconfigured: {0}")]
    Misconfigured(String),
    /// A socket could not be bound or served.
    #[error("network: {0}")]
    Io(#[from] io::Error),
    /// Key or certificate generation failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// A test or the demo called the sandbox in a way it cannot honour (unknown user, …).
    #[error("api misuse: {0}")]
    ApiMisuse(String),
}
