//! Narrow storage traits with one SQL implementation that runs on SQLite (the embedded default,
//! a WAL-mode file in the data directory) and PostgreSQL (for several nodes) from the same
//! statements and migrations. OAuth tokens, signing secrets and SRTP keys are sealed with
//! AES-256-GCM under a key kept outside the database.
//!
//! The traits ([`CallStore`], [`InstallationStore`], [`UserLinkStore`], [`SecretStore`],
//! [`EventInbox`], [`PresenceMirrorStore`], [`LeaseStore`]) each serve one collaborator.
//! [`SqlStore`] implements them all.
//!
//! May depend on: `callbridge-model`, sqlx, aws-lc-rs. Never on the gateway, the engine, the
//! media core or an adapter.

mod error;
mod records;
pub mod secret;
mod sql;
mod traits;

pub use error::StoreError;
pub use records::{
    InboxClaim, Installation, Lease, MirrorState, OAuthToken, PendingEvent, TokenOwner, UserLink,
};
pub use secret::{KeyId, Keyring, SecretKey, SecretString};
pub use sql::{Backend, SqlStore};
pub use traits::{
    CallStore, EventInbox, InstallationStore, LeaseStore, PresenceMirrorStore, SecretStore,
    UserLinkStore,
};
