//! Activities the Bot Connector sends to the bot (§5.1–§5.2, §5.4, §9): Teams user messages,
//! Adaptive Card `Action.Execute` invokes and legacy `Action.Submit` messages, and the
//! `conversationUpdate` of installing or removing the app, each with a signed Bot Framework
//! JWT.

use serde_json::{Value, json};

use super::SERVICE_PATH;
use crate::microsoft::SandboxError;
use crate::microsoft::seed::{AppSeed, TenantSeed, UserSeed};
use crate::microsoft::state::{MicrosoftState, lock};

/// Lifetime of the connector's tokens.
const TOKEN_SECS: i64 = 3600;

/// The bot's answer to a delivered activity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotReply {
    /// HTTP status of the messaging endpoint's answer.
    pub status: u16,
    /// Its body (invoke responses carry the new card here).
    pub body: String,
}

struct Parties<'s> {
    tenant: &'s TenantSeed,
    user: &'s UserSeed,
    app: &'s AppSeed,
    endpoint: String,
    conversation: String,
    activity_id: String,
}

fn parties<'s>(state: &'s MicrosoftState, user: &str) -> Result<Parties<'s>, SandboxError> {
    let (tenant, user) = state
        .inner
        .directory
        .user(user)
        .ok_or_else(|| SandboxError::ApiMisuse(format!("no Teams user {user:?}")))?;
    let app = tenant
        .apps
        .first()
        .ok_or_else(|| SandboxError::ApiMisuse("the tenant has no bot app".to_owned()))?;
    let mut book = lock(&state.inner.bot);
    let endpoint = book.endpoints.get(&app.client_id).cloned().ok_or_else(|| {
        SandboxError::ApiMisuse(format!("bot {} has no messaging endpoint", app.client_id))
    })?;
    let conversation = book.conversation(&user.id, &app.client_id);
    let activity_id = book.next_activity_id(state.inner.clock.now_utc().timestamp_millis());
    Ok(Parties {
        tenant,
        user,
        app,
        endpoint,
        conversation,
        activity_id,
    })
}

fn envelope(state: &MicrosoftState, parties: &Parties<'_>, kind: &str) -> Value {
    let now = state.inner.clock.now_utc();
    json!({
        "type": kind,
        "id": parties.activity_id,
        "timestamp": now.to_rfc3339(),
        "localTimestamp": now.to_rfc3339(),
        "serviceUrl": service_url(state),
        "channelId": "msteams",
        "from": {
            "id": format!("29:{}", parties.user.id),
            "name": parties.user.display_name,
            "aadObjectId": parties.user.id,
        },
        "conversation": {
            "conversationType": "personal",
            "id": parties.conversation,
            "tenantId": parties.tenant.id,
        },
        "recipient": {"id": format!("28:{}", parties.app.client_id), "name": parties.app.display_name},
        "entities": [{"type": "clientInfo", "locale": "en-US", "country": "US", "platform": "Web", "timezone": "Etc/UTC"}],
        "channelData": {"tenant": {"id": parties.tenant.id}},
        "locale": "en-US",
    })
}

/// The `serviceUrl` the sandbox hands out.
pub(crate) fn service_url(state: &MicrosoftState) -> String {
    format!("{}{SERVICE_PATH}", state.inner.base_url)
}

async fn deliver(
    state: &MicrosoftState,
    parties: &Parties<'_>,
    activity: &Value,
) -> Result<BotReply, SandboxError> {
    let now = state.inner.clock.unix();
    let claims = json!({
        "iss": "https://api.botframework.com",
        "aud": parties.app.client_id,
        "iat": now, "nbf": now, "exp": now + TOKEN_SECS,
        "serviceurl": service_url(state),
    });
    let token = state.inner.bot_key.mint(&claims)?;
    let response = state
        .inner
        .http
        .post(&parties.endpoint)
        .bearer_auth(token)
        .json(activity)
        .send()
        .await
        .map_err(|e| SandboxError::ApiMisuse(format!("messaging endpoint unreachable: {e}")))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok(BotReply { status, body })
}

/// The Teams user types `text` to the bot in their personal chat.
pub(crate) async fn send_message(
    state: &MicrosoftState,
    user: &str,
    text: &str,
) -> Result<BotReply, SandboxError> {
    let parties = parties(state, user)?;
    let mut activity = envelope(state, &parties, "message");
    activity["textFormat"] = json!("plain");
    activity["text"] = json!(text);
    activity["attachments"] = json!([{
        "contentType": "text/html",
        "content": format!("<p>{}</p>", text.replace('&', "&amp;").replace('<', "&lt;")),
    }]);
    deliver(state, &parties, &activity).await
}

/// The Teams user presses an `Action.Execute` button with `verb` and `data` on a card.
pub(crate) async fn card_action(
    state: &MicrosoftState,
    user: &str,
    verb: &str,
    data: Value,
) -> Result<BotReply, SandboxError> {
    let parties = parties(state, user)?;
    let mut activity = envelope(state, &parties, "invoke");
    activity["name"] = json!("adaptiveCard/action");
    activity["value"] = json!({
        "action": {"type": "Action.Execute", "verb": verb, "data": data},
        "trigger": "manual",
    });
    deliver(state, &parties, &activity).await
}

/// The Teams user presses a legacy `Action.Submit` button: a `message` activity without text
/// whose `value` holds the button's data (§5.4).
pub(crate) async fn submit_card(
    state: &MicrosoftState,
    user: &str,
    data: Value,
) -> Result<BotReply, SandboxError> {
    let parties = parties(state, user)?;
    let mut activity = envelope(state, &parties, "message");
    activity["value"] = data;
    deliver(state, &parties, &activity).await
}

/// The Teams user installs (or removes) the app in their personal scope: a
/// `conversationUpdate` whose `membersAdded` (or `membersRemoved`) is the bot (§5.1, §9).
pub(crate) async fn set_installed(
    state: &MicrosoftState,
    user: &str,
    installed: bool,
) -> Result<BotReply, SandboxError> {
    let parties = parties(state, user)?;
    let mut activity = envelope(state, &parties, "conversationUpdate");
    let bot = json!([{"id": format!("28:{}", parties.app.client_id)}]);
    activity[if installed {
        "membersAdded"
    } else {
        "membersRemoved"
    }] = bot;
    deliver(state, &parties, &activity).await
}
