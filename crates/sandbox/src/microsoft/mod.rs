//! A faithful local Microsoft side: Entra ID, Graph (users, presence, subscriptions), the Bot
//! Connector and the Teams Direct Routing SIP proxy with virtual users' phones.
//!
//! The wire formats follow the shared references `teams-graph.md` and
//! `sip-direct-routing.md`; section numbers are cited next to each behaviour. Design notes and
//! the endpoint list are in the crate's `README.md`.
//!
//! Entry points: [`MicrosoftSandbox::start`] for a bound sandbox (tests, demo), [`router`] for
//! `oneshot` tests over a [`MicrosoftState`], and [`serve_standalone`] for the CLI.

mod accessors;
mod bot;
mod client;
mod control;
mod directory;
mod entra;
mod error;
mod faults;
mod graph;
mod jwt;
pub mod phone;
mod seed;
mod server;
mod sip;
mod state;
mod telephony;

use axum::Router;

pub use accessors::ShownPresence;
pub use bot::{BotMessage, BotReply};
pub use error::SandboxError;
pub use graph::{DeliveryOutcome, DeliveryRecord, PresenceState};
pub use phone::behaviour::{Answer, CallDirection, CallRecord, Echo, PhoneBehaviour};
pub use phone::codec::Codec;
pub use phone::media::{AudioSource, MediaHandle, MediaReport};
pub use seed::{AppSeed, MicrosoftSeed, TenantSeed, UserSeed};
pub use server::{MicrosoftConfig, MicrosoftSandbox, RunningMicrosoftSandbox, serve_standalone};
pub use sip::SipProxyAddrs;
pub use sip::tls::IssuedCertificate;
pub use state::{MicrosoftState, Tunables};

use crate::control::{apply_faults, control_router};

/// Every HTTP route of the sandbox (Entra, Graph, control), with fault injection applied.
pub fn router(state: MicrosoftState) -> Router {
    let clock = state.clock();
    let faults = state.faults();
    Router::new()
        .merge(entra::routes())
        .merge(graph::routes())
        .merge(bot::routes())
        .merge(client::routes())
        .merge(control::routes())
        .with_state(state)
        .merge(control_router(clock, faults.clone()))
        .layer(axum::middleware::from_fn_with_state(faults, apply_faults))
}
