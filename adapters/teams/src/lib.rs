//! Teams platform adapter: Entra OAuth, Graph presence and subscriptions, Bot Framework, and the
//! Direct Routing trunk (through `callbridge-sip`), translated into the common model.
//!
//! May depend on: `callbridge-adapter`, `callbridge-model`, `callbridge-sip` and HTTP/OAuth
//! libraries. Never on the gateway, the store, the engine or another adapter.

mod adapter;
pub mod bot;
pub mod config;
pub mod directory;
pub mod entra;
pub mod graph;
pub mod manifest;
mod trunk;

pub use adapter::TeamsAdapter;
pub use config::{
    NotificationCertificate, NumberRange, PresenceTuning, SubscriberAccount, TeamsConfig,
};
