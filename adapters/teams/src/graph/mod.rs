//! Microsoft Graph for the adapter (reference `teams-graph.md` §3, §4, §6): presence read and
//! write, presence subscriptions and their change notifications.

pub(crate) mod http;
pub(crate) mod notifications;
pub mod planner;
pub(crate) mod presence;
mod presence_write;
pub(crate) mod rich;
mod sessions;
pub(crate) mod subscriptions;
mod sync;
pub(crate) mod validation_tokens;

pub use sync::PresenceSync;
