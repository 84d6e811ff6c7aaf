//! Sign-in and consent flows in progress: the random `state` each link carries, and what it
//! stands for (the PKCE verifier of a sign-in), kept no longer than an authorization code
//! lives (ten minutes, reference `teams-graph.md` §1.3) and usable once.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use callbridge_adapter::{AdapterError, Secret};
use chrono::{DateTime, Duration, Utc};

/// How long a flow may take from link to callback.
const LIFETIME_SECS: i64 = 600;
/// At most this many flows wait at once; the oldest is dropped beyond it, so a flood of
/// link requests cannot grow memory.
const CAPACITY: usize = 256;

/// What a state stands for.
pub(crate) enum Pending {
    /// A subscriber account's sign-in.
    SignIn {
        subscriber: String,
        verifier: Secret,
    },
    /// An admin consent.
    AdminConsent,
}

#[derive(Default)]
pub(crate) struct PendingBook {
    flows: Mutex<HashMap<String, (Pending, DateTime<Utc>)>>,
}

impl PendingBook {
    pub(crate) fn insert(&self, state: String, pending: Pending, now: DateTime<Utc>) {
        let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        flows.retain(|_, (_, at)| now - *at < Duration::seconds(LIFETIME_SECS));
        if flows.len() >= CAPACITY
            && let Some(oldest) = flows
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(key, _)| key.clone())
        {
            flows.remove(&oldest);
        }
        flows.insert(state, (pending, now));
    }

    /// The flow `state` stands for, once, if it has not expired.
    pub(crate) fn take(&self, state: &str, now: DateTime<Utc>) -> Option<Pending> {
        let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        let (pending, at) = flows.remove(state)?;
        (now - at < Duration::seconds(LIFETIME_SECS)).then_some(pending)
    }
}

/// 256 random bits, base64url.
pub(crate) fn random_state() -> Result<String, AdapterError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AdapterError::Bug("system random failed".to_owned()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_single_use_and_expire() {
        let book = PendingBook::default();
        let now = Utc::now();
        book.insert("a".to_owned(), Pending::AdminConsent, now);
        book.insert("b".to_owned(), Pending::AdminConsent, now);
        assert!(book.take("a", now).is_some());
        assert!(book.take("a", now).is_none());
        assert!(book.take("b", now + Duration::seconds(601)).is_none());
        assert!(random_state().unwrap() != random_state().unwrap());
    }
}
