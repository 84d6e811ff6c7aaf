//! Reading what Slack now shows: messages, call cards, each person's status, DND and presence,
//! and every request sent to the app.

use serde::Serialize;

use super::events::Delivery;
use super::model::{ShownMessage, SlackCall, UserView};
use super::state::SlackState;

/// A message carrying a call block, with the call's current state.
#[derive(Clone, Debug, Serialize)]
pub struct CallCard {
    /// Conversation.
    pub channel: String,
    /// Message timestamp.
    pub ts: String,
    /// The call as Slack now shows it.
    pub call: SlackCall,
    /// `active` or `ended`.
    pub state: String,
}

impl SlackState {
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
    pub fn calls(&self) -> Vec<SlackCall> {
        self.world().calls.values().cloned().collect()
    }

    /// What Slack shows for one user.
    pub fn user_view(&self, user: &str) -> Option<UserView> {
        self.world().users.get(user).map(Into::into)
    }

    /// What Slack shows for every person (bots excluded).
    pub fn user_views(&self) -> Vec<UserView> {
        self.world()
            .users
            .values()
            .filter(|u| !u.is_bot)
            .map(Into::into)
            .collect()
    }

    /// Modals the app opened with `views.open`, oldest first, as Slack answered them.
    pub fn opened_views(&self) -> Vec<serde_json::Value> {
        self.world().views.clone()
    }

    /// How many times a refresh token was exchanged for a new pair (§5.2).
    pub fn token_refreshes(&self) -> u64 {
        self.world().tokens.refreshes
    }

    /// Every request sent to the app so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.world().events.deliveries.clone()
    }
}
