//! Typing a slash command: the signed form of slack-api.md §3, and what the person then sees.

use serde_json::Value;

use super::error::SandboxError;
use super::interact::{ActOutcome, client_error, misuse, record};
use super::outbound::Answer;
use super::state::{ResponseUrl, SLACKBOT, SlackState, World};

impl SlackState {
    /// Sends the unsigned `ssl_check=1&token=…` form Slack sometimes POSTs to slash-command
    /// URLs of distributed apps (§2 "`ssl_check` requests"); returns the app's status, which
    /// should be 200. `None` when the app did not answer in time.
    pub async fn send_ssl_check(&self) -> Result<Option<u16>, SandboxError> {
        let (url, token) = {
            let world = self.world();
            let url = world
                .app_urls
                .command
                .clone()
                .ok_or(SandboxError::NoAppUrl("slash command"))?;
            (url, world.app.verification_token.clone())
        };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("ssl_check", "1")
            .append_pair("token", &token)
            .finish();
        let answer = self
            .inner
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        Ok(answer.ok().map(|r| r.status().as_u16()))
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
            let trigger_id = world.mint_trigger(now);
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
