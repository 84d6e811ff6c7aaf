//! Changes a person makes by hand in the Slack client, and an admin's uninstall; each fires
//! the events Slack sends for it (slack-api.md §5.4, §6.1, §7).

use serde_json::json;

use super::error::SandboxError;
use super::events::Authorization;
use super::ids;
use super::interact::misuse;
use super::state::SlackState;

impl SlackState {
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
}
