//! Acting as a person in Slack: typing a slash command, clicking a button, changing a status,
//! DND or huddle by hand, declining a call, uninstalling the app (slack-api.md §3, §4, §7, §11).

use serde::Serialize;
use serde_json::{Value, json};

use super::error::SandboxError;
use super::events::{Authorization, Delivery};
use super::ids;
use super::model::ShownMessage;
use super::outbound::Answer;
use super::state::{ResponseUrl, SLACKBOT, SlackState, World};

/// What a person saw after typing a command or clicking a button.
#[derive(Clone, Debug, Serialize)]
pub struct ActOutcome {
    /// The app's HTTP status, when it answered in time.
    pub status: Option<u16>,
    /// The error the Slack client shows: `operation_timeout` when the app took over 3 s,
    /// `dispatch_failed` when it could not be reached or did not answer 200.
    pub error: Option<String>,
    /// The app's answer body.
    pub response_body: String,
    /// The `response_url` handed to the app.
    pub response_url: String,
    /// The `trigger_id` handed to the app.
    pub trigger_id: String,
    /// The conversation the act happened in.
    pub channel: String,
}

/// A message carrying a call block, with the call's current state.
#[derive(Clone, Debug, Serialize)]
pub struct CallCard {
    /// Conversation.
    pub channel: String,
    /// Message timestamp.
    pub ts: String,
    /// The call as Slack now shows it.
    pub call: super::model::SlackCall,
    /// `active` or `ended`.
    pub state: String,
}

fn misuse(what: impl Into<String>) -> SandboxError {
    SandboxError::ApiMisuse(what.into())
}

impl SlackState {
    /// The DM between `user` and the app's bot, opened if needed: where `/call` is typed by
    /// default and where the app's replies show.
    pub fn dm_with_app(&self, user: &str) -> Result<String, SandboxError> {
        let mut world = self.world();
        let team = world
            .users
            .get(user)
            .map(|u| u.team_id.clone())
            .ok_or_else(|| misuse(format!("unknown user {user}")))?;
        let bot = world
            .workspace(&team)
            .and_then(|w| w.bot_user_id.clone())
            .ok_or_else(|| misuse("the app is not installed in this workspace"))?;
        Ok(world.open_dm(&team, user, &bot).0)
    }

    /// `user` types `command_line` (e.g. `/call alice@contoso.com`) in their DM with the app.
    pub async fn type_slash_command(
        &self,
        user: &str,
        command_line: &str,
    ) -> Result<ActOutcome, SandboxError> {
        let channel = self.dm_with_app(user)?;
        self.type_slash_command_in(user, &channel, command_line)
            .await
    }

    /// `user` types `command_line` in `channel`. The app gets the signed form of §3, once, with
    /// no retry, and 3 seconds to answer.
    pub async fn type_slash_command_in(
        &self,
        user: &str,
        channel: &str,
        command_line: &str,
    ) -> Result<ActOutcome, SandboxError> {
        let now = self.now();
        let (url, form, response_url, trigger_id, command) = {
            let mut world = self.world();
            let (command, text) = command_line
                .trim_start()
                .split_once(' ')
                .unwrap_or((command_line.trim(), ""));
            if command != world.app.slash_command {
                return Err(misuse(format!("{command} is not the app's command")));
            }
            let url = world
                .app_urls
                .command
                .clone()
                .ok_or(SandboxError::NoAppUrl("slash command"))?;
            let person = world
                .users
                .get(user)
                .cloned()
                .ok_or_else(|| misuse(format!("unknown user {user}")))?;
            let ws = world
                .workspace(&person.team_id)
                .cloned()
                .ok_or_else(|| misuse("unknown workspace"))?;
            let conversation = world
                .channels
                .get(channel)
                .filter(|c| c.members.contains(&person.id))
                .cloned()
                .ok_or_else(|| misuse(format!("{user} is not in {channel}")))?;
            let text = if world.app.should_escape {
                escape_text(&world, &person.team_id, text)
            } else {
                text.to_owned()
            };
            let response_url = world.mint_response_url(
                "commands",
                ResponseUrl {
                    team_id: ws.id.clone(),
                    channel: channel.to_owned(),
                    user: user.to_owned(),
                    source: None,
                    created_at: now,
                    uses: 0,
                },
            );
            let trigger_id = ids::trigger_id();
            let channel_name = if conversation.is_im {
                "directmessage".to_owned()
            } else if conversation.is_mpim {
                "privategroup".to_owned()
            } else {
                conversation.name
            };
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("token", &world.app.verification_token)
                .append_pair("team_id", &ws.id)
                .append_pair("team_domain", &ws.domain);
            if let Some((id, name)) = &ws.enterprise {
                form.append_pair("enterprise_id", id)
                    .append_pair("enterprise_name", name);
            }
            form.append_pair("channel_id", channel)
                .append_pair("channel_name", &channel_name)
                .append_pair("user_id", user)
                .append_pair("user_name", &person.name)
                .append_pair("command", command)
                .append_pair("text", &text)
                .append_pair("api_app_id", &world.app.app_id)
                .append_pair("is_enterprise_install", "false")
                .append_pair("response_url", &response_url)
                .append_pair("trigger_id", &trigger_id);
            (
                url,
                form.finish(),
                response_url,
                trigger_id,
                command_line.trim().to_owned(),
            )
        };
        let answer = self
            .signed_post(
                url,
                "application/x-www-form-urlencoded",
                form.into_bytes(),
                &[],
            )
            .await;
        let error = client_error(&answer);
        let mut world = self.world();
        record(&mut world, "slash_command", &answer);
        match &error {
            Some(code) => {
                let text = format!(
                    "{} failed with the error \"{code}\"",
                    world.app.slash_command
                );
                let mut notice = world.new_message(channel, SLACKBOT, &text, None, now);
                notice.ephemeral_to = Some(user.to_owned());
                world.post(notice);
            }
            None => show_command_answer(&mut world, user, channel, &command, &answer, now),
        }
        Ok(ActOutcome {
            status: answer.status,
            error,
            response_body: String::from_utf8_lossy(&answer.body).into_owned(),
            response_url,
            trigger_id,
            channel: channel.to_owned(),
        })
    }

    /// `user` clicks the button `action_id` on message `ts` in `channel`: the app gets a signed
    /// `payload=` form with a `block_actions` payload (§11). Link buttons send it too.
    pub async fn click_button(
        &self,
        user: &str,
        channel: &str,
        ts: &str,
        action_id: &str,
    ) -> Result<ActOutcome, SandboxError> {
        let now = self.now();
        let (url, body, response_url, trigger_id) = {
            let mut world = self.world();
            let url = world
                .app_urls
                .interactivity
                .clone()
                .ok_or(SandboxError::NoAppUrl("interactivity"))?;
            let person = world
                .users
                .get(user)
                .cloned()
                .ok_or_else(|| misuse(format!("unknown user {user}")))?;
            let message = world
                .messages
                .iter()
                .find(|m| {
                    m.channel == channel
                        && m.ts == ts
                        && m.ephemeral_to.as_deref().is_none_or(|to| to == user)
                })
                .cloned()
                .ok_or_else(|| misuse(format!("no message {ts} in {channel} visible to {user}")))?;
            let (block_id, element) = find_element(&message, action_id)
                .ok_or_else(|| misuse(format!("no element {action_id} on message {ts}")))?;
            let ws = world
                .workspace(&person.team_id)
                .cloned()
                .ok_or_else(|| misuse("unknown workspace"))?;
            let response_url = world.mint_response_url(
                "actions",
                ResponseUrl {
                    team_id: ws.id.clone(),
                    channel: channel.to_owned(),
                    user: user.to_owned(),
                    source: Some((channel.to_owned(), ts.to_owned())),
                    created_at: now,
                    uses: 0,
                },
            );
            let trigger_id = ids::trigger_id();
            let mut action = json!({
                "type": element["type"],
                "action_id": action_id,
                "block_id": block_id,
                "action_ts": world.ts.next(now),
            });
            for key in ["text", "value", "url", "style"] {
                if let Some(v) = element.get(key) {
                    action[key] = v.clone();
                }
            }
            let channel_name = world
                .channels
                .get(channel)
                .map(|c| {
                    if c.is_im {
                        "directmessage".to_owned()
                    } else {
                        c.name.clone()
                    }
                })
                .unwrap_or_default();
            let payload = json!({
                "type": "block_actions",
                "user": {"id": user, "username": person.name, "name": person.name, "team_id": ws.id},
                "api_app_id": world.app.app_id,
                "token": world.app.verification_token,
                "container": {
                    "type": "message",
                    "message_ts": ts,
                    "channel_id": channel,
                    "is_ephemeral": message.ephemeral_to.is_some(),
                },
                "trigger_id": trigger_id,
                "team": {"id": ws.id, "domain": ws.domain},
                "enterprise": ws.enterprise.as_ref().map(|(id, name)| json!({"id": id, "name": name})),
                "is_enterprise_install": false,
                "channel": {"id": channel, "name": channel_name},
                "message": message.to_json(&ws.id, &world.app.app_id),
                "state": {"values": {}},
                "response_url": response_url,
                "actions": [action],
            });
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", &payload.to_string())
                .finish();
            (url, body, response_url, trigger_id)
        };
        let answer = self
            .signed_post(
                url,
                "application/x-www-form-urlencoded",
                body.into_bytes(),
                &[],
            )
            .await;
        let mut world = self.world();
        record(&mut world, "block_actions", &answer);
        Ok(ActOutcome {
            status: answer.status,
            error: client_error(&answer),
            response_body: String::from_utf8_lossy(&answer.body).into_owned(),
            response_url,
            trigger_id,
            channel: channel.to_owned(),
        })
    }

    /// `user` sets a custom status in the Slack client (no token, no rate limit); the app gets
    /// `user_change` and `user_status_changed`.
    pub fn set_status_by_hand(
        &self,
        user: &str,
        text: &str,
        emoji: &str,
        expiration: i64,
    ) -> Result<(), SandboxError> {
        let now = self.now();
        let mut world = self.world();
        let person = world
            .users
            .get_mut(user)
            .ok_or_else(|| misuse(format!("unknown user {user}")))?;
        person.status_text = text.chars().take(100).collect();
        person.status_emoji = if emoji.is_empty() && !text.is_empty() {
            ":speech_balloon:".to_owned()
        } else {
            emoji.to_owned()
        };
        person.status_expiration = if text.is_empty() && emoji.is_empty() {
            0
        } else {
            expiration
        };
        person.updated = now;
        world.enqueue_user_event("user_change", user, now);
        world.enqueue_user_event("user_status_changed", user, now);
        Ok(())
    }

    /// `user` snoozes notifications for `minutes`, or ends the snooze with `None`; the app gets
    /// `dnd_updated_user` if the user granted it `dnd:read`.
    pub fn set_dnd(&self, user: &str, minutes: Option<u32>) -> Result<(), SandboxError> {
        let now = self.now();
        let mut world = self.world();
        if !world.users.contains_key(user) {
            return Err(misuse(format!("unknown user {user}")));
        }
        world.set_snooze(user, minutes.map(|m| now + i64::from(m) * 60), now);
        Ok(())
    }

    /// `user` opens or closes the Slack client: `online` drives active/away (§7.1).
    pub fn set_online(&self, user: &str, online: bool) -> Result<(), SandboxError> {
        let now = self.now();
        let mut world = self.world();
        let person = world
            .users
            .get_mut(user)
            .ok_or_else(|| misuse(format!("unknown user {user}")))?;
        person.online = online;
        person.last_activity = now;
        Ok(())
    }

    /// `user` joins a huddle; returns its `R…` id. The app gets `user_huddle_changed`.
    pub fn start_huddle(&self, user: &str) -> Result<String, SandboxError> {
        self.huddle(user, Some(ids::new_id("R")))
            .map(Option::unwrap_or_default)
    }

    /// `user` leaves their huddle. The app gets `user_huddle_changed`.
    pub fn stop_huddle(&self, user: &str) -> Result<(), SandboxError> {
        self.huddle(user, None).map(drop)
    }

    fn huddle(&self, user: &str, call: Option<String>) -> Result<Option<String>, SandboxError> {
        let now = self.now();
        let mut world = self.world();
        let person = world
            .users
            .get_mut(user)
            .ok_or_else(|| misuse(format!("unknown user {user}")))?;
        person.huddle_call_id.clone_from(&call);
        person.updated = now;
        world.enqueue_user_event("user_huddle_changed", user, now);
        Ok(call)
    }

    /// `user` declines call `call_id` shared in a DM: the app gets `call_rejected` (§6.1).
    pub fn reject_call(&self, user: &str, call_id: &str) -> Result<(), SandboxError> {
        let now = self.now();
        let mut world = self.world();
        let team = world
            .users
            .get(user)
            .map(|u| u.team_id.clone())
            .ok_or_else(|| misuse(format!("unknown user {user}")))?;
        let call = world
            .calls
            .get_mut(call_id)
            .ok_or_else(|| misuse(format!("unknown call {call_id}")))?;
        call.rejected_by.push(user.to_owned());
        let channel = call.channels.first().cloned().unwrap_or_default();
        let event = json!({
            "type": "call_rejected",
            "call_id": call_id,
            "user_id": user,
            "channel_id": channel,
            "external_unique_id": call.external_unique_id,
        });
        let bot = world
            .workspace(&team)
            .and_then(|w| w.bot_user_id.clone())
            .unwrap_or_default();
        let auth = Authorization {
            user_id: &bot,
            is_bot: true,
        };
        world.enqueue_event(&team, event, &auth, now);
        Ok(())
    }

    /// An admin removes the app from every workspace it is installed in: all tokens are revoked
    /// and the app gets `tokens_revoked` and `app_uninstalled` (§5.4).
    pub fn uninstall(&self) -> Result<(), SandboxError> {
        let now = self.now();
        let mut world = self.world();
        let teams: Vec<String> = world
            .workspaces
            .iter()
            .filter(|w| w.bot_user_id.is_some())
            .map(|w| w.id.clone())
            .collect();
        if teams.is_empty() {
            return Err(misuse("the app is not installed"));
        }
        for team in teams {
            world.uninstall(&team, now);
        }
        Ok(())
    }

    /// Messages as Slack shows them, oldest first; `None` means every conversation.
    pub fn messages(&self, channel: Option<&str>) -> Vec<ShownMessage> {
        self.world()
            .messages
            .iter()
            .filter(|m| channel.is_none_or(|c| m.channel == c))
            .cloned()
            .collect()
    }

    /// Every posted call block with its call's current state.
    pub fn call_cards(&self) -> Vec<CallCard> {
        let world = self.world();
        world
            .messages
            .iter()
            .flat_map(|m| {
                m.call_ids()
                    .into_iter()
                    .filter_map(|id| world.calls.get(&id).cloned())
                    .map(|call| CallCard {
                        channel: m.channel.clone(),
                        ts: m.ts.clone(),
                        state: if call.has_ended() { "ended" } else { "active" }.to_owned(),
                        call,
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every call registered through `calls.add`, posted or not.
    pub fn calls(&self) -> Vec<super::model::SlackCall> {
        self.world().calls.values().cloned().collect()
    }

    /// What Slack shows for one user.
    pub fn user_view(&self, user: &str) -> Option<super::model::UserView> {
        self.world().users.get(user).map(Into::into)
    }

    /// What Slack shows for every person (bots excluded).
    pub fn user_views(&self) -> Vec<super::model::UserView> {
        self.world()
            .users
            .values()
            .filter(|u| !u.is_bot)
            .map(Into::into)
            .collect()
    }

    /// Every request sent to the app so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.world().events.deliveries.clone()
    }
}

/// The client-side error a person sees for an answer (§3 "Acknowledging the command").
fn client_error(answer: &Answer) -> Option<String> {
    match answer.failure {
        None if answer.status == Some(200) => None,
        Some("http_timeout") => Some("operation_timeout".to_owned()),
        // UNCONFIRMED in §3 which failures show `dispatch_failed`; every other one does here.
        _ => Some("dispatch_failed".to_owned()),
    }
}

fn record(world: &mut World, kind: &str, answer: &Answer) {
    let at = answer.signed_ts - world.signing.skew_secs;
    world.events.deliveries.push(Delivery {
        kind: kind.to_owned(),
        event_id: None,
        event_type: None,
        retry_num: 0,
        retry_reason: None,
        at,
        status: answer.status,
        outcome: answer.failure.unwrap_or("ok").to_owned(),
        elapsed_ms: answer.elapsed_ms,
    });
}

/// Shows the app's immediate answer to a command: empty shows nothing, text or a JSON message
/// shows ephemerally unless `response_type` is `in_channel`, which also echoes the command (§3).
fn show_command_answer(
    world: &mut World,
    user: &str,
    channel: &str,
    command: &str,
    answer: &Answer,
    now: i64,
) {
    let body = String::from_utf8_lossy(&answer.body);
    if body.trim().is_empty() {
        return;
    }
    let parsed: Option<Value> = answer
        .content_type
        .starts_with("application/json")
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
        .filter(Value::is_object);
    let (text, blocks, in_channel) = match &parsed {
        Some(message) => (
            message["text"].as_str().unwrap_or_default().to_owned(),
            message.get("blocks").cloned(),
            message["response_type"] == "in_channel",
        ),
        None => (body.into_owned(), None, false),
    };
    let team = world
        .users
        .get(user)
        .map(|u| u.team_id.clone())
        .unwrap_or_default();
    let bot = world
        .workspace(&team)
        .and_then(|w| w.bot_user_id.clone())
        .unwrap_or_default();
    if in_channel {
        let echo = world.new_message(channel, user, command, None, now);
        world.post(echo);
    }
    let mut reply = world.new_message(channel, &bot, &text, blocks, now);
    if !in_channel {
        reply.ephemeral_to = Some(user.to_owned());
    }
    world.post(reply);
}

/// The block id and element with `action_id` in a message's `actions` or `section` blocks.
fn find_element(message: &ShownMessage, action_id: &str) -> Option<(String, Value)> {
    let blocks = message.blocks.as_ref()?.as_array()?;
    blocks.iter().enumerate().find_map(|(i, block)| {
        let block_id = block["block_id"]
            .as_str()
            .map_or_else(|| format!("b{i}"), str::to_owned);
        let mut candidates: Vec<&Value> = block["elements"]
            .as_array()
            .map(|e| e.iter().collect())
            .unwrap_or_default();
        if block["accessory"].is_object() {
            candidates.push(&block["accessory"]);
        }
        candidates
            .into_iter()
            .find(|e| e["action_id"] == action_id)
            .map(|e| (block_id, e.clone()))
    })
}

/// Escapes command text as Slack does with `should_escape` on (§3): `@name` of a workspace
/// member becomes `<@U…|name>`, `#name` of a channel `<#C…|name>`, an email
/// `<mailto:a@b|a@b>`, and a link `<https://…>`.
fn escape_text(world: &World, team: &str, text: &str) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            if let Some(handle) = word.strip_prefix('@') {
                if let Some(user) = world
                    .users
                    .values()
                    .find(|u| u.team_id == team && u.name == handle)
                {
                    return format!("<@{}|{}>", user.id, user.name);
                }
            } else if let Some(name) = word.strip_prefix('#') {
                if let Some(channel) = world
                    .channels
                    .values()
                    .find(|c| c.team_id == team && c.name == name && !c.is_im)
                {
                    return format!("<#{}|{}>", channel.id, channel.name);
                }
            } else if word.starts_with("http://") || word.starts_with("https://") {
                return format!("<{word}>");
            } else if word.contains('@') && word.contains('.') && !word.starts_with('<') {
                return format!("<mailto:{word}|{word}>");
            }
            word.to_owned()
        })
        .collect();
    words.join(" ")
}
