//! The common vocabulary of callbridge.
//!
//! Owns the data every other crate speaks: newtype ids that parse rather than validate
//! ([`ids`]), who is called ([`user`]), calls, legs and call detail records ([`call`]),
//! presence with ownership fingerprints ([`presence`]), SDP carried opaquely ([`media`]), and
//! the [`PlatformEvent`] / [`PlatformCommand`] pair that adapters translate to and from.
//! Data only: serde and schemars derives, no I/O, no async. The JSON Schemas in `schemas/` are
//! generated from these types (see [`schema`]).
//!
//! May depend on: serde, schemars, thiserror, uuid, chrono, url. Nothing else in the workspace.

pub mod call;
pub mod command;
mod error;
pub mod event;
pub mod ids;
pub mod media;
pub mod presence;
pub mod schema;
mod text_serde;
pub mod user;

pub use call::{Call, CallState, Cdr, Direction, Leg, LegState, TerminationCause};
pub use command::{Notice, PlatformCommand};
pub use error::ParseError;
pub use event::PlatformEvent;
pub use ids::{
    AadObjectId, CallId, Email, EventId, LegId, PhoneNumber, SlackTeamId, SlackUserId,
    TeamsTenantId, TenantId,
};
pub use media::{MediaAnswer, MediaOffer, MediaTransport, Sdp};
pub use presence::{
    Activity, Availability, OwnershipFingerprint, Presence, PresenceOrigin, PresenceSource,
    StatusText,
};
pub use user::{CallTarget, Platform, UserRef};
