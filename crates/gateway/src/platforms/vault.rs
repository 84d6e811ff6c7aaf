//! Adapters' tokens, sealed at rest in the store.

use callbridge_adapter::{AdapterError, BoxFuture, Secret, TokenKey, TokenSet, TokenVault};
use callbridge_model::Platform;
use callbridge_store::{OAuthToken, SecretStore, SecretString, SqlStore, StoreError, TokenOwner};
use chrono::Utc;

/// A [`TokenVault`] over the store's sealed secrets.
#[derive(Clone)]
pub struct StoreVault {
    store: SqlStore,
}

impl StoreVault {
    /// A vault over `store`.
    pub const fn new(store: SqlStore) -> Self {
        Self { store }
    }
}

fn owner(key: &TokenKey) -> TokenOwner {
    TokenOwner {
        platform: key.platform,
        owner: key.owner.clone(),
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "shaped to fit `map_err` directly"
)]
fn host_error(error: StoreError) -> AdapterError {
    match error {
        // The store refuses only what the adapter should never have asked for.
        StoreError::Refused(reason) => AdapterError::Bug(reason.to_owned()),
        error => AdapterError::Host(error.to_string()),
    }
}

impl TokenVault for StoreVault {
    fn load(&self, key: &TokenKey) -> BoxFuture<'_, Result<Option<TokenSet>, AdapterError>> {
        let owner = owner(key);
        Box::pin(async move {
            let token = self.store.token(&owner).await.map_err(host_error)?;
            Ok(token.map(|token| TokenSet {
                access_token: Secret::new(token.access_token.expose()),
                refresh_token: token.refresh_token.map(|t| Secret::new(t.expose())),
                expires_at: token.expires_at,
                scopes: token.scopes,
            }))
        })
    }

    fn store(&self, key: &TokenKey, tokens: &TokenSet) -> BoxFuture<'_, Result<(), AdapterError>> {
        let owner = owner(key);
        let token = OAuthToken {
            access_token: SecretString::new(tokens.access_token.expose()),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| SecretString::new(t.expose())),
            expires_at: tokens.expires_at,
            scopes: tokens.scopes.clone(),
        };
        Box::pin(async move {
            self.store
                .put_token(&owner, &token, Utc::now())
                .await
                .map_err(host_error)
        })
    }

    fn delete(&self, key: &TokenKey) -> BoxFuture<'_, Result<bool, AdapterError>> {
        let owner = owner(key);
        Box::pin(async move { self.store.delete_token(&owner).await.map_err(host_error) })
    }

    fn delete_prefix(
        &self,
        platform: Platform,
        owner_prefix: &str,
    ) -> BoxFuture<'_, Result<u64, AdapterError>> {
        let owner_prefix = owner_prefix.to_owned();
        Box::pin(async move {
            self.store
                .delete_tokens_with_prefix(platform, &owner_prefix)
                .await
                .map_err(host_error)
        })
    }
}
