//! Clicking a button: a signed `payload=` form carrying `block_actions` (slack-api.md §11).

use serde_json::{Value, json};

use super::error::SandboxError;
use super::interact::{ActOutcome, client_error, misuse, record};
use super::model::ShownMessage;
use super::state::{ResponseUrl, SlackState};

impl SlackState {
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
            let trigger_id = world.mint_trigger(now);
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
