//! The test kit every end-to-end test shares instead of rewriting it per file: one
//! [`eventually`], a throwaway store ([`TestStore`]), and (as the adapters land) a builder that
//! starts the sandboxes and a gateway wired to them.
//!
//! Dev-only: used as a dev-dependency, never by product code. May depend on any workspace crate.

mod browser;
mod call_world;
mod calls;
mod eventually;
mod gateway;
mod presence_world;
mod process;
mod store;
mod teams_world;
mod world;

pub use browser::{BrowserError, BrowserStandIn};
pub use call_world::{CallWorld, SBC_FQDN, SLACK_NUMBERS_FROM};
pub use calls::{
    card_join_url, connected_call, first_phone_call, grant_slack_user_token, hears_tone, patience,
    phone, phone_reaches, slack_message, slash_call, the_one_cdr,
};
pub use eventually::{Patience, eventually};
pub use presence_world::{PresencePair, PresenceWorld};
pub use store::TestStore;
pub use teams_world::{TeamsWorld, demo_teams};
pub use world::{SlackWorld, demo_slack};
