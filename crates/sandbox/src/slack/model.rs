//! The things a Slack workspace holds, as the sandbox keeps them, and their wire JSON.

use serde::Serialize;
use serde_json::{Value, json};

/// A workspace.
#[derive(Clone, Debug)]
pub(crate) struct Workspace {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) domain: String,
    pub(crate) enterprise: Option<(String, String)>,
    /// The app's bot user here, while the app is installed.
    pub(crate) bot_user_id: Option<String>,
}

impl Workspace {
    pub(crate) fn enterprise_id(&self) -> Value {
        self.enterprise
            .as_ref()
            .map_or(Value::Null, |(id, _)| json!(id))
    }
}

/// A person (or the app's bot user).
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) team_id: String,
    pub(crate) name: String,
    pub(crate) real_name: String,
    pub(crate) email: String,
    pub(crate) tz: String,
    pub(crate) tz_label: String,
    pub(crate) tz_offset: i64,
    pub(crate) is_admin: bool,
    pub(crate) is_bot: bool,
    pub(crate) bot_id: Option<String>,
    pub(crate) display_name: String,
    pub(crate) status_text: String,
    pub(crate) status_emoji: String,
    pub(crate) status_expiration: i64,
    pub(crate) huddle_call_id: Option<String>,
    /// Whether a client is connected; without one the user is auto-away.
    pub(crate) online: bool,
    /// Set by `users.setPresence presence=away`; cleared by `auto`.
    pub(crate) manual_away: bool,
    pub(crate) last_activity: i64,
    /// DND snooze end (Unix seconds), while snoozing.
    pub(crate) snooze_end: Option<i64>,
    pub(crate) updated: i64,
}

impl User {
    /// `active` or `away` (§7.1): active needs a connected client and no manual away.
    pub(crate) fn presence(&self) -> &'static str {
        if self.online && !self.manual_away {
            "active"
        } else {
            "away"
        }
    }

    pub(crate) fn profile_json(&self, show_email: bool) -> Value {
        let mut profile = json!({
            "title": "",
            "phone": "",
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.display_name,
            "display_name_normalized": self.display_name,
            "status_text": self.status_text,
            "status_text_canonical": "",
            "status_emoji": self.status_emoji,
            "status_emoji_display_info": [],
            "status_expiration": self.status_expiration,
            "huddle_state": if self.huddle_call_id.is_some() { "in_a_huddle" } else { "default_unset" },
            "huddle_state_expiration_ts": 0,
            "avatar_hash": "",
            "image_48": "",
            "image_72": "",
            "team": self.team_id,
        });
        if show_email && !self.is_bot {
            profile["email"] = json!(self.email);
        }
        if let Some(call) = &self.huddle_call_id {
            profile["huddle_state_call_id"] = json!(call);
        }
        if let Some(bot_id) = &self.bot_id {
            profile["bot_id"] = json!(bot_id);
            profile["always_active"] = json!(false);
        }
        profile
    }

    pub(crate) fn to_json(&self, show_email: bool) -> Value {
        json!({
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": false,
            "color": "9f69e7",
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": self.tz_label,
            "tz_offset": self.tz_offset,
            "profile": self.profile_json(show_email),
            "is_admin": self.is_admin,
            "is_owner": false,
            "is_primary_owner": false,
            "is_restricted": false,
            "is_ultra_restricted": false,
            "is_bot": self.is_bot,
            "is_app_user": false,
            "updated": self.updated,
            "is_email_confirmed": !self.is_bot,
            "has_2fa": false,
        })
    }
}

/// A conversation: channel, DM or group DM.
#[derive(Clone, Debug)]
pub(crate) struct Channel {
    pub(crate) id: String,
    pub(crate) team_id: String,
    pub(crate) name: String,
    pub(crate) is_im: bool,
    pub(crate) is_mpim: bool,
    pub(crate) members: Vec<String>,
}

impl Channel {
    pub(crate) fn to_json(&self, now: i64) -> Value {
        let mut value = json!({
            "id": self.id,
            "created": now,
            "is_im": self.is_im,
            "is_mpim": self.is_mpim,
            "is_channel": !self.is_im && !self.is_mpim,
            "is_open": true,
        });
        if self.is_im {
            value["user"] = json!(self.members.first());
        } else {
            value["name"] = json!(self.name);
        }
        value
    }
}

/// A message as Slack now shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ShownMessage {
    /// Conversation id.
    pub channel: String,
    /// Message timestamp, its id within the channel.
    pub ts: String,
    /// Author user id (a bot's user id for app messages).
    pub user: String,
    /// Bot id when an app posted it.
    pub bot_id: Option<String>,
    /// Plain text.
    pub text: String,
    /// Blocks exactly as sent.
    pub blocks: Option<Value>,
    /// Parent thread, if any.
    pub thread_ts: Option<String>,
    /// `Some(user)` for an ephemeral message only that user sees.
    pub ephemeral_to: Option<String>,
    /// Whether it was changed since posting.
    pub edited: bool,
}

impl ShownMessage {
    pub(crate) fn to_json(&self, team_id: &str, app_id: &str) -> Value {
        let mut value = json!({
            "type": "message",
            "text": self.text,
            "user": self.user,
            "ts": self.ts,
            "team": team_id,
        });
        if let Some(bot_id) = &self.bot_id {
            value["bot_id"] = json!(bot_id);
            value["app_id"] = json!(app_id);
        }
        if let Some(blocks) = &self.blocks {
            value["blocks"] = blocks.clone();
        }
        if let Some(thread_ts) = &self.thread_ts {
            value["thread_ts"] = json!(thread_ts);
        }
        value
    }

    /// The call ids of the `call` blocks this message carries.
    pub fn call_ids(&self) -> Vec<String> {
        self.blocks
            .as_ref()
            .and_then(Value::as_array)
            .map(|blocks| {
                blocks
                    .iter()
                    .filter(|b| b["type"] == "call")
                    .filter_map(|b| b["call_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A Call registered through the Calls API (§6.3).
#[derive(Clone, Debug, Serialize)]
pub struct SlackCall {
    /// `R…` id.
    pub id: String,
    /// The provider's unique id.
    pub external_unique_id: String,
    /// Human-readable meeting id.
    pub external_display_id: Option<String>,
    /// Join link.
    pub join_url: String,
    /// Desktop deep link.
    pub desktop_app_join_url: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// Start, Unix seconds.
    pub date_start: i64,
    /// End, once ended.
    pub date_end: Option<i64>,
    /// Participants: `{slack_id}` and/or `{external_id, display_name, avatar_url}` objects.
    pub users: Vec<Value>,
    /// Conversations the call was posted to.
    pub channels: Vec<String>,
    /// Users who declined it in a DM.
    pub rejected_by: Vec<String>,
}

impl SlackCall {
    pub(crate) fn to_json(&self) -> Value {
        let mut value = json!({
            "id": self.id,
            "date_start": self.date_start,
            "external_unique_id": self.external_unique_id,
            "join_url": self.join_url,
            "users": self.users,
            "channels": self.channels,
        });
        if let Some(end) = self.date_end {
            value["date_end"] = json!(end);
        }
        for (key, field) in [
            ("external_display_id", &self.external_display_id),
            ("desktop_app_join_url", &self.desktop_app_join_url),
            ("title", &self.title),
        ] {
            if let Some(text) = field {
                value[key] = json!(text);
            }
        }
        value
    }

    /// Whether `calls.end` was called.
    pub fn has_ended(&self) -> bool {
        self.date_end.is_some()
    }
}

/// Two participant objects name the same person when their Slack or external ids match.
pub(crate) fn same_participant(a: &Value, b: &Value) -> bool {
    let same = |key: &str| a[key].is_string() && a[key] == b[key];
    same("slack_id") || same("external_id")
}

/// What Slack shows for one user: status, DND and presence.
#[derive(Clone, Debug, Serialize)]
pub struct UserView {
    /// User id.
    pub id: String,
    /// Handle.
    pub name: String,
    /// Email.
    pub email: String,
    /// Custom status text.
    pub status_text: String,
    /// Custom status emoji.
    pub status_emoji: String,
    /// Unix expiry of the status, 0 for never.
    pub status_expiration: i64,
    /// `active` or `away`.
    pub presence: String,
    /// Whether the user set away by hand.
    pub manual_away: bool,
    /// Whether DND is snoozing notifications now.
    pub dnd_snoozing: bool,
    /// End of the snooze, while snoozing.
    pub snooze_endtime: Option<i64>,
    /// The huddle the user is in, if any.
    pub huddle_call_id: Option<String>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            status_text: user.status_text.clone(),
            status_emoji: user.status_emoji.clone(),
            status_expiration: user.status_expiration,
            presence: user.presence().to_owned(),
            manual_away: user.manual_away,
            dnd_snoozing: user.snooze_end.is_some(),
            snooze_endtime: user.snooze_end,
            huddle_call_id: user.huddle_call_id.clone(),
        }
    }
}
