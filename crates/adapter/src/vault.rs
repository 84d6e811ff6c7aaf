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
}
