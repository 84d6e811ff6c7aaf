//! Direct accessors for tests and the demo: read what Teams shows, act as a Teams user.

use std::time::Duration;

use serde::Serialize;

use super::SandboxError;
use super::bot::{self, BotMessage, BotReply};
use super::graph::notify;
use super::graph::{DeliveryRecord, PresenceState};
use super::state::{MicrosoftState, lock};

/// What the Teams client shows for a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShownPresence {
    /// Aggregated availability.
    pub availability: String,
    /// Aggregated activity.
    pub activity: String,
    /// The status message, if set and not expired.
    pub status_message: Option<String>,
}

impl MicrosoftState {
    /// The user's object id for an id, UPN or mail.
    pub(crate) fn user_id(&self, user: &str) -> Result<String, SandboxError> {
        self.inner
            .directory
            .user(user)
            .map(|(_, u)| u.id.clone())
            .ok_or_else(|| SandboxError::ApiMisuse(format!("no Teams user {user:?}")))
    }

    /// What Teams shows for `user` (id, UPN or mail) now.
    pub fn presence_of(&self, user: &str) -> Result<ShownPresence, SandboxError> {
        let id = self.user_id(user)?;
        let now = self.inner.clock.now_utc();
        let presence = lock(&self.inner.presence);
        let shown = presence
            .aggregate(&id, now)
            .ok_or_else(|| SandboxError::ApiMisuse(format!("no presence for {user:?}")))?;
        Ok(ShownPresence {
            availability: shown.availability,
            activity: shown.activity,
            status_message: presence.status_message(&id, now),
        })
    }

    /// The user changes state in their own Teams client; `None` signs the client out.
    pub fn set_presence_in_client(
        &self,
        user: &str,
        state: Option<PresenceState>,
    ) -> Result<(), SandboxError> {
        let id = self.user_id(user)?;
        lock(&self.inner.presence)
            .set_client(&id, state)
            .map_err(|e| SandboxError::ApiMisuse(format!("{e:?}")))?;
        notify::presence_changed(self);
        Ok(())
    }

    /// The user picks a state by hand (user-preferred presence) for `lasting`.
    pub fn set_preferred_presence(
        &self,
        user: &str,
        state: PresenceState,
        lasting: Duration,
    ) -> Result<(), SandboxError> {
        let id = self.user_id(user)?;
        let lasting = chrono::Duration::from_std(lasting)
            .map_err(|e| SandboxError::ApiMisuse(e.to_string()))?;
        let expires_at = self.inner.clock.now_utc() + lasting;
        lock(&self.inner.presence)
            .set_preferred(&id, state, expires_at)
            .map_err(|e| SandboxError::ApiMisuse(format!("{e:?}")))?;
        notify::presence_changed(self);
        Ok(())
    }

    /// The user resets their preferred presence.
    pub fn clear_preferred_presence(&self, user: &str) -> Result<(), SandboxError> {
        let id = self.user_id(user)?;
        lock(&self.inner.presence)
            .clear_preferred(&id)
            .map_err(|e| SandboxError::ApiMisuse(format!("{e:?}")))?;
        notify::presence_changed(self);
        Ok(())
    }

    /// Every change-notification and lifecycle POST made so far, with its outcome.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.inner.subscriptions).deliveries.clone()
    }

    /// Sends a lifecycle event (`reauthorizationRequired` or `subscriptionRemoved`) for a
    /// subscription; `false` if it does not exist.
    pub fn send_lifecycle_event(&self, subscription_id: &str, event: &str) -> bool {
        notify::lifecycle(self, subscription_id, event)
    }

    /// Runs the periodic work now (expiry warnings, notifications of time-driven changes).
    pub fn tick(&self) {
        notify::tick(self);
    }

    /// Makes every token request of `client_id` fail with AADSTS65001 until an admin consents
    /// again.
    pub fn revoke_consent(&self, client_id: &str) {
        let mut book = lock(&self.inner.entra);
        book.consent_revoked.insert(client_id.to_owned());
        book.admin_consents.retain(|(_, c)| c != client_id);
    }

    /// Where the bot app `client_id` receives activities (its messaging endpoint).
    pub fn set_messaging_endpoint(&self, client_id: &str, url: &str) {
        lock(&self.inner.bot)
            .endpoints
            .insert(client_id.to_owned(), url.to_owned());
    }

    /// `user` sends `text` (e.g. `call @bob`) to the bot in their personal chat; returns the
    /// bot's HTTP answer.
    pub async fn message_bot(&self, user: &str, text: &str) -> Result<BotReply, SandboxError> {
        bot::send_message(self, user, text).await
    }

    /// `user` presses an Adaptive Card `Action.Execute` button; returns the bot's answer, which
    /// carries the replacement card.
    pub async fn press_card_action(
        &self,
        user: &str,
        verb: &str,
        data: serde_json::Value,
    ) -> Result<BotReply, SandboxError> {
        bot::card_action(self, user, verb, data).await
    }

    /// `user` presses a legacy `Action.Submit` button carrying `data`; returns the bot's answer.
    pub async fn submit_card(
        &self,
        user: &str,
        data: serde_json::Value,
    ) -> Result<BotReply, SandboxError> {
        bot::submit_card(self, user, data).await
    }

    /// `user` installs (`true`) or removes (`false`) the bot app in their personal scope,
    /// which sends the bot a `conversationUpdate`; returns the bot's answer.
    pub async fn set_bot_installed(
        &self,
        user: &str,
        installed: bool,
    ) -> Result<BotReply, SandboxError> {
        bot::set_installed(self, user, installed).await
    }

    /// What the bot posted to `user` (oldest first, deleted ones included and marked).
    pub fn bot_messages(&self, user: &str) -> Result<Vec<BotMessage>, SandboxError> {
        let id = self.user_id(user)?;
        Ok(lock(&self.inner.bot)
            .messages
            .iter()
            .filter(|m| m.user_id == id)
            .cloned()
            .collect())
    }
}
