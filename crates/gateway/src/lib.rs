//! The callbridge gateway: HTTP edge, webhooks, OAuth callbacks, join page, dashboard, admin
//! API, metrics, per-call drivers, config, cluster and CLI.
//!
//! The only crate that wires everything together; it may depend on every workspace crate.
//! Modules: [`config`] (file + environment → validated [`config::Config`]), [`http`] (the
//! router from [`http::app`], errors, metrics, admin API, the platforms' inbound routes),
//! [`platforms`] (mounted adapters, their sealed tokens, the durable inbox and the event loop),
//! [`serve`] (binding, graceful shutdown), [`demo`] (a generated configuration for
//! `callbridge demo`).

pub mod calls;
pub mod config;
pub mod demo;
mod error;
pub mod http;
pub mod install_kit;
pub mod join;
pub mod media;
pub mod mirror;
pub mod platforms;
pub mod serve;
pub mod state;
pub mod telemetry;

pub use error::GatewayError;
