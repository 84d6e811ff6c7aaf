//! Slack platform adapter: Web API client, OAuth v2, request signatures, Calls API, Events API
//! and status mirroring, translated into the common model.
//!
//! The gateway mounts [`SlackAdapter`] at `/slack` and hands it every request below that:
//! `/commands`, `/interactivity`, `/events` (signed by Slack, verified here on the raw body),
//! `/install` and `/oauth/callback` (the "Add to Slack" flow). [`manifest::render`] prints the
//! app manifest an admin pastes into Slack.
//!
//! May depend on: `callbridge-adapter`, `callbridge-model` and HTTP/OAuth libraries. Never on
//! the gateway, the store, the engine or another adapter.

mod adapter;
mod blocks;
pub mod call_text;
mod cards;
mod commands;
mod config;
mod directory;
mod events;
mod form;
mod install;
mod interactivity;
pub mod manifest;
mod notices;
mod oauth_client;
mod poll;
mod replies;
pub mod signature;
mod status;
mod tokens;
mod web;

pub use adapter::{SlackAdapter, SlackOptions};
pub use blocks::{ACTION_CALL_BACK, ACTION_CANCEL, ACTION_DECLINE, ACTION_JOIN};
pub use config::{BOT_SCOPES, SigningSecrets, SlackConfig, SlackSettings, USER_SCOPES};
pub use directory::SlackPerson;
pub use form::MAX_BODY_BYTES;
pub use install::{STATE_COOKIE, STATE_LIFETIME};
pub use poll::PollOutcome;
pub use replies::{RESPONSE_URL_LIFETIME, RESPONSE_URL_MAX_USES};
pub use tokens::{Clock, REFRESH_MARGIN, bot_key, user_key};
