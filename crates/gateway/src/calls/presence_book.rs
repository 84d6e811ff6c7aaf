//! The last availability each user's own platform reported, so ringing can respect Do Not
//! Disturb without a directory round trip per call.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use callbridge_model::{Availability, Presence, PresenceOrigin, UserRef};

/// Shared, cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct PresenceBook {
    inner: Arc<RwLock<HashMap<UserRef, Availability>>>,
}

impl PresenceBook {
    /// Notes a change reported by the user's platform. callbridge's own writes (mirrored
    /// state) do not count: they say what the *other* platform showed.
    pub fn note(&self, user: &UserRef, presence: &Presence) {
        if presence.source.origin == PresenceOrigin::Callbridge {
            return;
        }
        self.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user.clone(), presence.availability);
    }

    /// The last availability reported for `user`, if any.
    pub fn availability(&self, user: &UserRef) -> Option<Availability> {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user)
            .copied()
    }
}
