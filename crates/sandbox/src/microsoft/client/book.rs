//! What the client itself remembers per user, beyond the sandbox's records: the messages the
//! person typed (with what became of them), the last card action's outcome, and cards an
//! `Action.Execute` answer replaced.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::microsoft::state::lock;

/// The most typed messages kept per user.
const MAX_SENT: usize = 100;

/// A message the person sent to the bot.
#[derive(Clone, Debug)]
pub(super) struct Sent {
    pub(super) text: String,
    /// How many bot messages existed when it was sent: it is shown after those.
    pub(super) after: usize,
    /// `None` when the bot took it; otherwise what went wrong, in words.
    pub(super) outcome: Option<String>,
}

/// One user's client memory.
#[derive(Clone, Debug, Default)]
pub(super) struct UserClient {
    pub(super) sent: Vec<Sent>,
    pub(super) notice: Option<String>,
    /// Activity id → the card that replaced it.
    pub(super) replaced: HashMap<String, Value>,
    /// Bumped on every change, for the change fingerprint.
    pub(super) version: u64,
}

/// Every user's client memory, by user object id.
#[derive(Debug, Default)]
pub(crate) struct ClientBook {
    users: Mutex<HashMap<String, UserClient>>,
}

impl ClientBook {
    pub(super) fn get(&self, user_id: &str) -> UserClient {
        lock(&self.users).get(user_id).cloned().unwrap_or_default()
    }

    pub(super) fn version(&self, user_id: &str) -> u64 {
        lock(&self.users).get(user_id).map_or(0, |u| u.version)
    }

    pub(super) fn change(&self, user_id: &str, change: impl FnOnce(&mut UserClient)) {
        let mut users = lock(&self.users);
        let user = users.entry(user_id.to_owned()).or_default();
        change(user);
        if user.sent.len() > MAX_SENT {
            let excess = user.sent.len() - MAX_SENT;
            user.sent.drain(..excess);
        }
        user.version += 1;
    }
}
