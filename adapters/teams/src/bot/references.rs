//! Where each Teams user's personal chat with the bot is, so the bot can write to them
//! unprompted (a missed call, a ringing card). Teams hands this out only in activities, so
//! every verified activity refreshes it.
//!
//! The book lives in memory. Keeping it across restarts is the host's job: [`ConversationBook::export`]
//! and [`ConversationBook::import`] move it whole to and from storage; without it, a user is
//! reachable again after their next message to the bot (or a re-install), or through
//! `POST /v3/conversations` where the app is installed for them.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::activity::Activity;

/// What a proactive message needs: the user, the bot, the conversation and where to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationReference {
    /// The user's Entra object id.
    pub aad_object_id: String,
    /// The user's Teams id (`29:…`).
    pub user_id: String,
    /// The bot's id (`28:<appId>`).
    pub bot_id: String,
    /// The personal conversation (`a:…`).
    pub conversation_id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The regional connector URL from the latest activity.
    pub service_url: String,
}

impl ConversationReference {
    /// The reference an activity carries, when it names a tenant user in a personal chat.
    pub fn from_activity(activity: &Activity) -> Option<Self> {
        let from = activity.from.as_ref()?;
        let conversation = activity.conversation.as_ref()?;
        if conversation
            .conversation_type
            .as_deref()
            .is_some_and(|kind| kind != "personal")
        {
            return None;
        }
        Some(Self {
            aad_object_id: from.aad_object_id.clone()?,
            user_id: from.id.clone(),
            bot_id: activity.recipient.as_ref()?.id.clone(),
            conversation_id: conversation.id.clone(),
            tenant_id: activity.tenant_id()?.to_owned(),
            service_url: activity.service_url.clone(),
        })
    }
}

/// The references, by Entra object id.
#[derive(Debug, Default)]
pub struct ConversationBook {
    by_user: Mutex<HashMap<String, ConversationReference>>,
}

impl ConversationBook {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, ConversationReference>) -> T) -> T {
        // A poisoned lock still holds consistent data: every write is a single insert/remove.
        let mut guard = self
            .by_user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Records (or refreshes) a user's reference.
    pub fn remember(&self, reference: ConversationReference) {
        self.with(|book| book.insert(reference.aad_object_id.clone(), reference));
    }

    /// Forgets a user (the app was uninstalled for them).
    pub fn forget(&self, aad_object_id: &str) -> bool {
        self.with(|book| book.remove(aad_object_id).is_some())
    }

    /// A user's reference.
    pub fn get(&self, aad_object_id: &str) -> Option<ConversationReference> {
        self.with(|book| book.get(aad_object_id).cloned())
    }

    /// How many users are reachable.
    pub fn len(&self) -> usize {
        self.with(|book| book.len())
    }

    /// Whether no user is reachable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every reference, sorted by user, for the host to persist.
    pub fn export(&self) -> Vec<ConversationReference> {
        let mut all: Vec<_> = self.with(|book| book.values().cloned().collect());
        all.sort_by(|a, b| a.aad_object_id.cmp(&b.aad_object_id));
        all
    }

    /// Loads persisted references; newer ones already in memory win.
    pub fn import(&self, references: impl IntoIterator<Item = ConversationReference>) {
        self.with(|book| {
            for reference in references {
                book.entry(reference.aad_object_id.clone())
                    .or_insert(reference);
            }
        });
    }
}
