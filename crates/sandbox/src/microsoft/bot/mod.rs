//! The Bot Connector (reference `teams-graph.md` §5): signed activities to the bot's messaging
//! endpoint, its OpenID metadata and JWKS, and the `{serviceUrl}/v3/conversations` REST API
//! with Teams' reply rate limits.

mod activity;
mod connector;
mod rate;

use std::collections::HashMap;

use axum::Router;
use axum::routing::{get, post};
use serde::Serialize;

pub use activity::BotReply;
pub(crate) use activity::{card_action, send_message, set_installed, submit_card};
use rate::RateBook;

use super::MicrosoftSeed;
use super::state::MicrosoftState;

/// The path prefix of `serviceUrl` (a regional Teams prefix, as in `smba…/amer/`).
pub(crate) const SERVICE_PATH: &str = "/amer/";

/// A message the bot posted into a Teams conversation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BotMessage {
    /// The conversation (`a:…`).
    pub conversation_id: String,
    /// The Teams user the conversation is with.
    pub user_id: String,
    /// The activity id the connector assigned.
    pub activity_id: String,
    /// The activity as posted (text, attachments, …), updated by PUT.
    pub activity: serde_json::Value,
    /// Whether the bot deleted it.
    pub deleted: bool,
}

/// Conversations, messages and rate counters.
#[derive(Debug, Default)]
pub(crate) struct BotBook {
    /// Conversation id → (user id, bot app id).
    pub(crate) conversations: HashMap<String, (String, String)>,
    /// Messaging endpoints set at run time, by app id.
    pub(crate) endpoints: HashMap<String, String>,
    pub(crate) messages: Vec<BotMessage>,
    pub(crate) rates: RateBook,
    /// The last activity id handed out (milliseconds, as Teams' ids look, §5.1).
    last_activity_id: i64,
}

impl BotBook {
    pub(crate) fn from_seed(seed: &MicrosoftSeed) -> Self {
        let mut book = Self::default();
        for app in seed.tenants.iter().flat_map(|t| t.apps.iter()) {
            if let Some(endpoint) = &app.messaging_endpoint {
                book.endpoints
                    .insert(app.client_id.clone(), endpoint.clone());
            }
        }
        book
    }

    /// A fresh activity id: the sandbox time in milliseconds, like Teams' own (§5.1), but
    /// never repeated, so two activities under a frozen clock stay two (bots deduplicate
    /// redeliveries by this id).
    pub(crate) fn next_activity_id(&mut self, now_millis: i64) -> String {
        self.last_activity_id = now_millis.max(self.last_activity_id + 1);
        self.last_activity_id.to_string()
    }

    /// The personal conversation between `user_id` and the bot, created on first use.
    pub(crate) fn conversation(&mut self, user_id: &str, app_id: &str) -> String {
        if let Some((id, _)) = self
            .conversations
            .iter()
            .find(|(_, (u, a))| u == user_id && a == app_id)
        {
            return id.clone();
        }
        let id = format!("a:1{}", hex::encode(rand::random::<[u8; 24]>()));
        self.conversations
            .insert(id.clone(), (user_id.to_owned(), app_id.to_owned()));
        id
    }
}

/// Connector routes under the `serviceUrl` path, plus the Bot Framework OpenID metadata.
pub(crate) fn routes() -> Router<MicrosoftState> {
    Router::new()
        .route(
            "/v1/.well-known/openidconfiguration",
            get(connector::openid_configuration),
        )
        .route("/v1/.well-known/keys", get(connector::keys))
        .route(
            "/amer/v3/conversations",
            post(connector::create_conversation),
        )
        .route(
            "/amer/v3/conversations/{conversation}/activities",
            post(connector::send_activity),
        )
        .route(
            "/amer/v3/conversations/{conversation}/activities/{activity}",
            post(connector::reply_activity)
                .put(connector::update_activity)
                .delete(connector::delete_activity),
        )
        .route(
            "/amer/v3/conversations/{conversation}/members",
            get(connector::members),
        )
}
