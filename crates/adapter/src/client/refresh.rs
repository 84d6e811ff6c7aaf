//! Single-flight refresh: when many tasks find the same token expiring, one refreshes it and the
//! others wait for its result. Platforms that rotate refresh tokens (Slack with rotation on,
//! Entra) invalidate the old refresh token on use, so two concurrent refreshes would make one of
//! them fail with `invalid_grant` and could lose the installation.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::AdapterError;

type Slot<V> = Arc<tokio::sync::Mutex<Option<V>>>;

/// Cached values (token sets) per key, refreshed at most once at a time per key.
///
/// The gate never reads the clock: whether a cached value is still good is the caller's
/// `is_fresh` closure, which can compare against an injected `now`.
pub struct RefreshGate<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
}

impl<K, V> Default for RefreshGate<K, V> {
    fn default() -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<K, V> std::fmt::Debug for RefreshGate<K, V> {
    // Values are tokens: show how many keys, nothing else.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("RefreshGate").field("keys", &keys).finish()
    }
}

impl<K, V> RefreshGate<K, V>
where
    K: Clone + Eq + Hash,
    V: Clone,
{
    /// The cached value for `key` if `is_fresh` accepts it; otherwise the value of one call to
    /// `refresh`, which is cached. Concurrent callers for the same key wait for that one call
    /// instead of refreshing again; callers for other keys are not held up. A failed refresh
    /// caches nothing (the previous value stays, still stale), so the next caller tries again.
    /// A caller dropped mid-refresh releases the key the same way.
    pub async fn get_or_refresh<F, Fut>(
        &self,
        key: &K,
        is_fresh: impl Fn(&V) -> bool,
        refresh: F,
    ) -> Result<V, AdapterError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, AdapterError>>,
    {
        let slot = self.slot(key);
        let mut cached = slot.lock().await;
        if let Some(value) = cached.as_ref().filter(|value| is_fresh(value)) {
            return Ok(value.clone());
        }
        let value = refresh().await?;
        *cached = Some(value.clone());
        Ok(value)
    }

    /// Forgets the value for `key` (a token the platform refused, an installation removed).
    /// A refresh already running finishes for its own callers; the next caller refreshes anew.
    pub fn invalidate(&self, key: &K) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    fn slot(&self, key: &K) -> Slot<V> {
        // A poisoned map is still consistent: no code panics while holding this lock.
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slots.entry(key.clone()).or_default())
    }
}
