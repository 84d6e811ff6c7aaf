//! Single use of join tokens: the nonces already spent, remembered until their token expires.
//!
//! The memory is per node and in process. That is enough while a call's join page is served by
//! the node that owns the call (calls are pinned to their media node); a restart forgets spent
//! nonces, but a replayed token then only reaches a leg that already has its browser or a call
//! that no longer exists, which the call side refuses.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::token::TokenError;

/// Nonces of spent tokens, each until its token's expiry.
#[derive(Debug, Default)]
pub(crate) struct UsedNonces {
    spent: Mutex<HashMap<[u8; 16], DateTime<Utc>>>,
}

impl UsedNonces {
    /// Whether the token with `nonce` has been spent.
    pub(crate) fn is_spent(&self, nonce: &[u8; 16]) -> bool {
        self.lock().contains_key(nonce)
    }

    /// Spends the token with `nonce`, valid until `expires_at`: fails if it was spent already.
    ///
    /// Entries of tokens expired at `now` are dropped first: an expired token fails its own
    /// check, so remembering it would only grow the map.
    pub(crate) fn spend(
        &self,
        nonce: [u8; 16],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), TokenError> {
        let mut spent = self.lock();
        spent.retain(|_, expiry| *expiry > now);
        if spent.contains_key(&nonce) {
            return Err(TokenError::AlreadyUsed);
        }
        spent.insert(nonce, expires_at);
        Ok(())
    }

    /// Gives a spent token back, for a join that failed in a way a retry may fix.
    pub(crate) fn refund(&self, nonce: &[u8; 16]) {
        self.lock().remove(nonce);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 16], DateTime<Utc>>> {
        // The map stays consistent whatever panicked while holding it (single inserts/removes).
        self.spent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn a_nonce_is_spent_once() {
        let used = UsedNonces::default();
        assert!(!used.is_spent(&[1; 16]));
        used.spend([1; 16], at(100), at(0)).unwrap();
        assert!(used.is_spent(&[1; 16]));
        assert_eq!(
            used.spend([1; 16], at(100), at(1)),
            Err(TokenError::AlreadyUsed)
        );
        used.spend([2; 16], at(100), at(1)).unwrap();
    }

    #[test]
    fn a_refunded_nonce_can_be_spent_again() {
        let used = UsedNonces::default();
        used.spend([1; 16], at(100), at(0)).unwrap();
        used.refund(&[1; 16]);
        used.spend([1; 16], at(100), at(1)).unwrap();
    }

    #[test]
    fn expired_entries_are_pruned_on_spend() {
        let used = UsedNonces::default();
        used.spend([1; 16], at(10), at(0)).unwrap();
        used.spend([2; 16], at(100), at(0)).unwrap();
        used.spend([3; 16], at(100), at(10)).unwrap();
        assert!(!used.is_spent(&[1; 16]), "expired at 10, pruned at 10");
        assert!(used.is_spent(&[2; 16]));
        assert_eq!(used.lock().len(), 2);
    }
}
