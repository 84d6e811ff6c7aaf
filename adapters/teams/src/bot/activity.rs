//! The parts of a Bot Framework activity the bot reads (reference `teams-graph.md` §5.1), kept
//! lenient where Teams adds fields and strict only where a decision depends on a value.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An inbound activity: a message, a card action (`invoke`) or a `conversationUpdate`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// `message`, `invoke`, `conversationUpdate`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The activity id the connector assigned.
    #[serde(default)]
    pub id: Option<String>,
    /// Where replies for this conversation go (regional; always taken from the activity).
    #[serde(default)]
    pub service_url: String,
    /// `msteams` for Teams.
    #[serde(default)]
    pub channel_id: String,
    /// Who sent it.
    #[serde(default)]
    pub from: Option<ChannelAccount>,
    /// The conversation it belongs to.
    #[serde(default)]
    pub conversation: Option<ConversationAccount>,
    /// The bot (`28:<appId>`).
    #[serde(default)]
    pub recipient: Option<ChannelAccount>,
    /// The typed text of a message.
    #[serde(default)]
    pub text: Option<String>,
    /// The invoke name (`adaptiveCard/action`).
    #[serde(default)]
    pub name: Option<String>,
    /// Card action data (`Action.Submit` data, or the invoke's `{action:{…}}`).
    #[serde(default)]
    pub value: Option<Value>,
    /// Mentions, client info.
    #[serde(default)]
    pub entities: Vec<Value>,
    /// Teams channel data (`tenant.id`, `eventType`).
    #[serde(default)]
    pub channel_data: Option<Value>,
    /// Members added by a `conversationUpdate` (the bot itself on install).
    #[serde(default)]
    pub members_added: Vec<ChannelAccount>,
    /// Members removed by a `conversationUpdate` (the bot itself on uninstall).
    #[serde(default)]
    pub members_removed: Vec<ChannelAccount>,
}

/// A user or bot in a conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    /// `29:…` for users, `28:<appId>` for bots.
    pub id: String,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Entra object id (the Graph user id), for users of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aad_object_id: Option<String>,
}

/// The conversation an activity belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    /// `a:…` for personal chats, `19:…@thread.*` for channels and groups.
    pub id: String,
    /// `personal`, `groupChat` or `channel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    /// The tenant (observed in Teams payloads; `channelData.tenant.id` is the documented one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

impl Activity {
    /// The tenant: `channelData.tenant.id` (always present from Teams), else
    /// `conversation.tenantId`.
    pub fn tenant_id(&self) -> Option<&str> {
        self.channel_data
            .as_ref()
            .and_then(|data| data.pointer("/tenant/id"))
            .and_then(Value::as_str)
            .or_else(|| {
                self.conversation
                    .as_ref()
                    .and_then(|c| c.tenant_id.as_deref())
            })
    }
}
