//! The test kit every end-to-end test shares instead of rewriting it per file: one
//! [`eventually`], a throwaway store ([`TestStore`]), and (as the adapters land) a builder that
//! starts the sandboxes and a gateway wired to them.
//!
//! Dev-only: used as a dev-dependency, never by product code. May depend on any workspace crate.

mod eventually;
mod gateway;
mod store;
mod teams_world;
mod world;

pub use eventually::{Patience, eventually};
pub use store::TestStore;
pub use teams_world::{TeamsWorld, demo_teams};
pub use world::{SlackWorld, demo_slack};
