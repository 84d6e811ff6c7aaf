//! The contract between the gateway and each platform: the object-safe [`PlatformAdapter`]
//! trait (verify and translate inbound requests into [`PlatformEvent`]s, execute
//! [`PlatformCommand`]s, report health), the [`AdapterError`] every adapter speaks, the narrow
//! host services an adapter is given ([`TokenVault`] for sealed tokens, [`Inbox`] for
//! exactly-once events), the shared outbound HTTP client layer, and one conformance suite that
//! every adapter runs against its sandbox.
//!
//! May depend on: `callbridge-model`, HTTP and runtime crates. Never on the gateway, the store,
//! the engine or an adapter.
//!
//! [`PlatformEvent`]: callbridge_model::PlatformEvent
//! [`PlatformCommand`]: callbridge_model::PlatformCommand

mod adapter;
pub mod client;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod inbound;
mod vault;

pub use adapter::{AdapterHealth, BoxFuture, CommandOutcome, HealthState, PlatformAdapter};
pub use error::{AdapterError, Fault};
pub use inbound::{Inbound, InboundReply, InboundRequest, Inbox, MemoryInbox, accept};
pub use vault::{MemoryVault, Secret, TokenKey, TokenSet, TokenVault};
