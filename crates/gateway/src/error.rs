//! What can stop the gateway from starting or running.

use std::net::SocketAddr;

use callbridge_store::StoreError;

use crate::config::ConfigError;

/// A gateway failure, sorted by whose fault it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The operator's configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store cannot be opened or migrated.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The listen address cannot be bound (in use, or not ours).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A platform adapter cannot start with this configuration.
    #[error("platform adapter: {0}")]
    Platform(#[from] callbridge_adapter::AdapterError),
    /// The Direct Routing trunk cannot start.
    #[error("SIP trunk: {0}")]
    Trunk(#[from] callbridge_sip::SipError),
    /// A part of the gateway could not start (the media core, its randomness).
    #[error("cannot start: {0}")]
    Startup(String),
    /// An I/O failure while doing something named.
    #[error("I/O error {0}: {1}")]
    Io(&'static str, #[source] std::io::Error),
}
