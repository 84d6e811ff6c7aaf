//! The Bot Connector REST client (reference `teams-graph.md` §5.3, §5.6): messages, replies
//! and card updates into a user's personal chat, and creating that chat for a proactive
//! message. Every call goes through the shared client with a per-conversation budget that
//! stays inside Teams' reply limits (7/1 s, 8/2 s, 60/30 s, 1800/h per conversation): 30 a
//! minute with bursts of 5. A 429 that still happens is waited out by the shared client.

use callbridge_adapter::client::{ApiCall, ApiClient};
use callbridge_adapter::{AdapterError, Secret};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::cards::AdaptiveCard;
use super::references::ConversationReference;
use super::token::BotTokens;

/// Sends per conversation per minute: 1800/h is the binding limit (§5.6); the budget's
/// burst of a sixth (5) stays under 7/1 s and 8/2 s.
const SENDS_PER_MINUTE: u32 = 30;

/// How the bot authenticates to the connector.
#[derive(Clone, Debug)]
pub struct BotClientConfig {
    /// The bot's app id.
    pub app_id: String,
    /// The bot's client secret.
    pub app_secret: Secret,
    /// The Entra token endpoint of the bot's authority.
    pub token_url: Url,
}

impl BotClientConfig {
    /// A single-tenant bot: tokens from `{login_base}/{tenant}/oauth2/v2.0/token` (§0.7).
    pub fn single_tenant(
        login_base: &Url,
        tenant: &str,
        app_id: impl Into<String>,
        app_secret: Secret,
    ) -> Result<Self, AdapterError> {
        let text = format!(
            "{}/{tenant}/oauth2/v2.0/token",
            login_base.as_str().trim_end_matches('/')
        );
        let token_url = Url::parse(&text)
            .map_err(|error| AdapterError::Misconfigured(format!("bot token URL: {error}")))?;
        Ok(Self {
            app_id: app_id.into(),
            app_secret,
            token_url,
        })
    }
}

/// Writes into Teams conversations as the bot.
pub struct BotClient {
    app_id: String,
    tokens: BotTokens,
    client: ApiClient,
}

impl std::fmt::Debug for BotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotClient")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ResourceResponse {
    id: String,
}

/// The body a message activity from the bot carries.
enum Content<'a> {
    Text(&'a str),
    Card(&'a AdaptiveCard),
}

impl BotClient {
    /// A client sending through `client` (the adapter's shared client).
    pub fn new(config: BotClientConfig, client: &ApiClient) -> Self {
        let client = client
            .clone()
            .with_budget("bot.send", SENDS_PER_MINUTE)
            .with_budget("bot.update", SENDS_PER_MINUTE);
        Self {
            tokens: BotTokens::new(
                config.app_id.clone(),
                config.app_secret,
                config.token_url,
                client.clone(),
            ),
            app_id: config.app_id,
            client,
        }
    }

    /// Sends a card into the user's conversation; the new activity's id.
    pub async fn send_card(
        &self,
        to: &ConversationReference,
        card: &AdaptiveCard,
        now: DateTime<Utc>,
    ) -> Result<String, AdapterError> {
        self.post(to, None, &Content::Card(card), now).await
    }

    /// Sends text into the user's conversation; the new activity's id.
    pub async fn send_text(
        &self,
        to: &ConversationReference,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<String, AdapterError> {
        self.post(to, None, &Content::Text(text), now).await
    }

    /// Replies to activity `reply_to` with a card.
    pub async fn reply_card(
        &self,
        to: &ConversationReference,
        reply_to: &str,
        card: &AdaptiveCard,
        now: DateTime<Utc>,
    ) -> Result<String, AdapterError> {
        self.post(to, Some(reply_to), &Content::Card(card), now)
            .await
    }

    /// Replies to activity `reply_to` with text.
    pub async fn reply_text(
        &self,
        to: &ConversationReference,
        reply_to: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<String, AdapterError> {
        self.post(to, Some(reply_to), &Content::Text(text), now)
            .await
    }

    /// Replaces the card of activity `activity_id` (a ringing card that moved on).
    pub async fn update_card(
        &self,
        to: &ConversationReference,
        activity_id: &str,
        card: &AdaptiveCard,
        now: DateTime<Utc>,
    ) -> Result<(), AdapterError> {
        let url = conversation_url(
            &to.service_url,
            &to.conversation_id,
            &["activities", activity_id],
        )?;
        let mut body = activity(to, &Content::Card(card));
        body["id"] = json!(activity_id);
        self.call(
            "bot.update",
            &to.conversation_id,
            true,
            now,
            |http, token| http.put(url.clone()).bearer_auth(token).json(&body),
        )
        .await
        .map(drop)
    }

    /// Opens (or finds) the personal conversation with `aad_object_id` for a proactive
    /// message, where the app is installed for them.
    pub async fn create_conversation(
        &self,
        service_url: &str,
        tenant_id: &str,
        aad_object_id: &str,
        now: DateTime<Utc>,
    ) -> Result<ConversationReference, AdapterError> {
        let url = service_endpoint(service_url, &["v3", "conversations"])?;
        let bot_id = format!("28:{}", self.app_id);
        let body = json!({
            "bot": {"id": bot_id},
            "members": [{"id": aad_object_id}],
            "isGroup": false,
            "tenantId": tenant_id,
            "channelData": {"tenant": {"id": tenant_id}},
        });
        let id = self
            .call("bot.send", tenant_id, false, now, |http, token| {
                http.post(url.clone()).bearer_auth(token).json(&body)
            })
            .await?;
        Ok(ConversationReference {
            aad_object_id: aad_object_id.to_owned(),
            user_id: aad_object_id.to_owned(),
            bot_id,
            conversation_id: id,
            tenant_id: tenant_id.to_owned(),
            service_url: service_url.to_owned(),
        })
    }

    async fn post(
        &self,
        to: &ConversationReference,
        reply_to: Option<&str>,
        content: &Content<'_>,
        now: DateTime<Utc>,
    ) -> Result<String, AdapterError> {
        let mut path = vec!["activities"];
        path.extend(reply_to);
        let url = conversation_url(&to.service_url, &to.conversation_id, &path)?;
        let mut body = activity(to, content);
        if let Some(parent) = reply_to {
            body["replyToId"] = json!(parent);
        }
        // A 5xx may have posted the message: never resent, so nobody reads it twice.
        self.call(
            "bot.send",
            &to.conversation_id,
            false,
            now,
            |http, token| http.post(url.clone()).bearer_auth(token).json(&body),
        )
        .await
    }

    async fn call(
        &self,
        method: &'static str,
        budget_key: &str,
        idempotent: bool,
        now: DateTime<Utc>,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<String, AdapterError> {
        let token = self.tokens.token(now).await?;
        let call = ApiCall {
            method,
            budget_key,
            idempotent,
        };
        let response = self
            .client
            .send(call, |http| build(http, token.expose()))
            .await?;
        let status = response.status();
        if status.is_success() {
            let body: ResourceResponse =
                response
                    .json()
                    .await
                    .map_err(|_| AdapterError::PlatformMisbehaved {
                        method: method.to_owned(),
                        detail: "answer without an id".to_owned(),
                    })?;
            return Ok(body.id);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            self.tokens.invalidate();
        }
        let code = response
            .json::<Value>()
            .await
            .ok()
            .and_then(|body| {
                body.pointer("/error/code")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| format!("status {}", status.as_u16()));
        Err(AdapterError::PlatformRejected {
            method: method.to_owned(),
            error: code,
        })
    }
}

fn activity(to: &ConversationReference, content: &Content<'_>) -> Value {
    let mut body = json!({
        "type": "message",
        "from": {"id": to.bot_id},
        "conversation": {"id": to.conversation_id},
        "recipient": {"id": to.user_id},
    });
    match content {
        Content::Text(text) => body["text"] = json!(text),
        // Text and a card in one activity are split by Teams (§5.3): the card goes alone.
        Content::Card(card) => body["attachments"] = json!([card.attachment()]),
    }
    body
}

fn service_endpoint(service_url: &str, segments: &[&str]) -> Result<Url, AdapterError> {
    let mut url = Url::parse(service_url)
        .map_err(|_| AdapterError::Malformed("serviceUrl is not a URL".to_owned()))?;
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| AdapterError::Malformed("serviceUrl cannot take a path".to_owned()))?;
        path.pop_if_empty();
        path.extend(segments);
    }
    Ok(url)
}

fn conversation_url(
    service_url: &str,
    conversation_id: &str,
    rest: &[&str],
) -> Result<Url, AdapterError> {
    let mut segments = vec!["v3", "conversations", conversation_id];
    segments.extend_from_slice(rest);
    service_endpoint(service_url, &segments)
}
