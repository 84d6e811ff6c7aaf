//! Tokens as adapters see them: sealed at rest by the host, handed over on demand.
//! Adapters never depend on the store; the gateway implements [`TokenVault`] over it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use callbridge_model::Platform;
use chrono::{DateTime, Utc};

use crate::adapter::BoxFuture;
use crate::error::AdapterError;

/// A secret string (token, signing secret). Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// Whose tokens: a platform and an owner key the adapter chooses (`bot:T0123`,
/// `user:T0123:U0456`, `app:<tenant>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenKey {
    /// The platform.
    pub platform: Platform,
    /// The owner within the platform.
    pub owner: String,
}

impl TokenKey {
    /// A key.
    pub fn new(platform: Platform, owner: impl Into<String>) -> Self {
        Self {
            platform,
            owner: owner.into(),
        }
    }
}

/// One owner's OAuth tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSet {
    /// The access token.
    pub access_token: Secret,
    /// The refresh token, where the platform rotates tokens.
    pub refresh_token: Option<Secret>,
    /// When the access token expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// The scopes granted.
    pub scopes: Vec<String>,
}

impl TokenSet {
    /// Whether the access token expires within `margin` of `now` (refresh proactively).
    pub fn expires_within(&self, now: DateTime<Utc>, margin: chrono::Duration) -> bool {
        self.expires_at.is_some_and(|at| at - margin <= now)
    }
}

/// Sealed token storage provided by the host. Storing a token set replaces the owner's
/// previous one atomically, so a rotated refresh token is never half written.
pub trait TokenVault: Send + Sync {
    /// The owner's tokens.
    fn load(&self, key: &TokenKey) -> BoxFuture<'_, Result<Option<TokenSet>, AdapterError>>;
    /// Replaces the owner's tokens.
    fn store(&self, key: &TokenKey, tokens: &TokenSet) -> BoxFuture<'_, Result<(), AdapterError>>;
    /// Forgets the owner's tokens; whether there were any.
    fn delete(&self, key: &TokenKey) -> BoxFuture<'_, Result<bool, AdapterError>>;
    /// Forgets the tokens of every owner of `platform` whose key starts with `owner_prefix`
    /// (an exact comparison, no wildcards), including owners this process never saw: the
    /// whole of a removed installation (`user:T0123:` for a workspace's people). Returns how
    /// many were deleted. An empty prefix would match every owner of the platform and is
    /// refused as [`AdapterError::Bug`].
    fn delete_prefix(
        &self,
        platform: Platform,
        owner_prefix: &str,
    ) -> BoxFuture<'_, Result<u64, AdapterError>>;
}

/// The error for a prefix deletion with an empty prefix.
fn empty_prefix_error() -> AdapterError {
    AdapterError::Bug("refusing to delete tokens by an empty owner prefix".to_owned())
}

/// A vault in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryVault {
    tokens: Mutex<HashMap<TokenKey, TokenSet>>,
}

impl MemoryVault {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut HashMap<TokenKey, TokenSet>) -> T,
    ) -> Result<T, AdapterError> {
        self.tokens
            .lock()
            .map(|mut tokens| f(&mut tokens))
            .map_err(|_| AdapterError::Bug("vault lock poisoned".to_owned()))
    }
}

impl TokenVault for MemoryVault {
    fn load(&self, key: &TokenKey) -> BoxFuture<'_, Result<Option<TokenSet>, AdapterError>> {
        let found = self.with(|tokens| tokens.get(key).cloned());
        Box::pin(async move { found })
    }

    fn store(&self, key: &TokenKey, tokens: &TokenSet) -> BoxFuture<'_, Result<(), AdapterError>> {
        let stored = self.with(|all| {
            all.insert(key.clone(), tokens.clone());
        });
        Box::pin(async move { stored })
    }

    fn delete(&self, key: &TokenKey) -> BoxFuture<'_, Result<bool, AdapterError>> {
        let deleted = self.with(|tokens| tokens.remove(key).is_some());
        Box::pin(async move { deleted })
    }

    fn delete_prefix(
        &self,
        platform: Platform,
        owner_prefix: &str,
    ) -> BoxFuture<'_, Result<u64, AdapterError>> {
        let deleted = if owner_prefix.is_empty() {
            Err(empty_prefix_error())
        } else {
            self.with(|tokens| {
                let before = tokens.len();
                tokens.retain(|key, _| {
                    key.platform != platform || !key.owner.starts_with(owner_prefix)
                });
                u64::try_from(before - tokens.len()).unwrap_or(u64::MAX)
            })
        };
        Box::pin(async move { deleted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(token: &str) -> TokenSet {
        TokenSet {
            access_token: Secret::new(token),
            refresh_token: None,
            expires_at: None,
            scopes: Vec::new(),
        }
    }

    fn block<T>(future: BoxFuture<'_, T>) -> T {
        futures::executor::block_on(future)
    }

    #[test]
    fn prefix_deletion_is_exact_and_per_platform() {
        let vault = MemoryVault::default();
        for owner in ["user:T1:U1", "user:T1:U2", "user:T10:U3", "bot:T1"] {
            block(vault.store(&TokenKey::new(Platform::Slack, owner), &set(owner))).unwrap();
        }
        let teams = TokenKey::new(Platform::Teams, "user:T1:U1");
        block(vault.store(&teams, &set("teams"))).unwrap();

        assert!(matches!(
            block(vault.delete_prefix(Platform::Slack, "")),
            Err(AdapterError::Bug(_))
        ));
        assert_eq!(
            block(vault.delete_prefix(Platform::Slack, "user:T1:")).unwrap(),
            2
        );
        for (owner, kept) in [
            ("user:T1:U1", false),
            ("user:T1:U2", false),
            ("user:T10:U3", true),
            ("bot:T1", true),
        ] {
            let key = TokenKey::new(Platform::Slack, owner);
            assert_eq!(block(vault.load(&key)).unwrap().is_some(), kept, "{owner}");
        }
        assert_eq!(block(vault.load(&teams)).unwrap(), Some(set("teams")));
    }
}
