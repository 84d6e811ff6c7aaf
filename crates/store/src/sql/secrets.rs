//! OAuth tokens and named secrets, sealed with the keyring before they are written.

use callbridge_model::Platform;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::SqlStore;
use super::codec::{from_json, from_millis, millis, to_json};
use crate::StoreError;
use crate::records::{OAuthToken, TokenOwner};
use crate::secret::SecretString;
use crate::traits::SecretStore;

/// The sealed part of a token set.
#[derive(Serialize, Deserialize)]
struct TokenSecrets {
    access: String,
    refresh: Option<String>,
}

fn token_context(owner: &TokenOwner) -> String {
    format!("oauth_tokens:{}:{}", owner.platform.as_str(), owner.owner)
}

fn secret_context(name: &str) -> String {
    format!("secrets:{name}")
}

impl SecretStore for SqlStore {
    async fn put_token(
        &self,
        owner: &TokenOwner,
        token: &OAuthToken,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let secrets = TokenSecrets {
            access: token.access_token.expose().to_owned(),
            refresh: token.refresh_token.as_ref().map(|r| r.expose().to_owned()),
        };
        let plaintext =
            serde_json::to_vec(&secrets).map_err(|e| StoreError::corrupt("token", &e))?;
        let sealed = self.keyring.seal(&token_context(owner), &plaintext)?;
        sqlx::query(
            "INSERT INTO oauth_tokens (platform, owner, sealed, scopes, expires_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (platform, owner) DO UPDATE SET sealed = excluded.sealed, \
             scopes = excluded.scopes, expires_at_ms = excluded.expires_at_ms, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(owner.platform.as_str())
        .bind(owner.owner.clone())
        .bind(sealed)
        .bind(to_json(&token.scopes)?)
        .bind(token.expires_at.map(millis))
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn token(&self, owner: &TokenOwner) -> Result<Option<OAuthToken>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT sealed, scopes, expires_at_ms FROM oauth_tokens WHERE platform = $1 AND owner = $2",
        )
        .bind(owner.platform.as_str())
        .bind(owner.owner.clone())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let plaintext = self
            .keyring
            .open(&token_context(owner), &row.try_get::<String, _>("sealed")?)?;
        let secrets: TokenSecrets =
            serde_json::from_slice(&plaintext).map_err(|e| StoreError::corrupt("token", &e))?;
        Ok(Some(OAuthToken {
            access_token: SecretString::new(secrets.access),
            refresh_token: secrets.refresh.map(SecretString::new),
            expires_at: row
                .try_get::<Option<i64>, _>("expires_at_ms")?
                .map(|ms| from_millis("token", ms))
                .transpose()?,
            scopes: from_json("token scopes", &row.try_get::<String, _>("scopes")?)?,
        }))
    }

    async fn delete_token(&self, owner: &TokenOwner) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM oauth_tokens WHERE platform = $1 AND owner = $2")
            .bind(owner.platform.as_str())
            .bind(owner.owner.clone())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn delete_tokens_with_prefix(
        &self,
        platform: Platform,
        owner_prefix: &str,
    ) -> Result<u64, StoreError> {
        if owner_prefix.is_empty() {
            return Err(StoreError::Refused(
                "an empty owner prefix would delete every token of the platform",
            ));
        }
        // An exact comparison of the leading characters, not LIKE: owner keys may contain `_`
        // and `%`. The cast gives PostgreSQL the parameter's type for `length`; both backends
        // count characters in `substr` and `length` alike.
        let result = sqlx::query(
            "DELETE FROM oauth_tokens WHERE platform = $1 \
             AND substr(owner, 1, length(CAST($2 AS TEXT))) = CAST($2 AS TEXT)",
        )
        .bind(platform.as_str())
        .bind(owner_prefix.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn put_secret(
        &self,
        name: &str,
        value: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sealed = self.keyring.seal(&secret_context(name), value)?;
        sqlx::query(
            "INSERT INTO secrets (name, sealed, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(name.to_owned())
        .bind(sealed)
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT sealed FROM secrets WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            self.keyring
                .open(&secret_context(name), &row.try_get::<String, _>("sealed")?)
        })
        .transpose()
    }

    async fn rewrap_secrets(&self) -> Result<u64, StoreError> {
        // One transaction: a crash mid-rotation leaves every value under its old key, all of
        // which the keyring still opens.
        let mut tx = self.pool.begin().await?;
        let mut changed = 0;
        let tokens = sqlx::query("SELECT platform, owner, sealed FROM oauth_tokens")
            .fetch_all(&mut *tx)
            .await?;
        for row in tokens {
            let sealed: String = row.try_get("sealed")?;
            if self.keyring.is_current(&sealed) {
                continue;
            }
            let platform: String = row.try_get("platform")?;
            let owner: String = row.try_get("owner")?;
            let context = format!("oauth_tokens:{platform}:{owner}");
            let resealed = self
                .keyring
                .seal(&context, &self.keyring.open(&context, &sealed)?)?;
            sqlx::query("UPDATE oauth_tokens SET sealed = $3 WHERE platform = $1 AND owner = $2")
                .bind(platform)
                .bind(owner)
                .bind(resealed)
                .execute(&mut *tx)
                .await?;
            changed += 1;
        }
        let secrets = sqlx::query("SELECT name, sealed FROM secrets")
            .fetch_all(&mut *tx)
            .await?;
        for row in secrets {
            let sealed: String = row.try_get("sealed")?;
            if self.keyring.is_current(&sealed) {
                continue;
            }
            let name: String = row.try_get("name")?;
            let context = secret_context(&name);
            let resealed = self
                .keyring
                .seal(&context, &self.keyring.open(&context, &sealed)?)?;
            sqlx::query("UPDATE secrets SET sealed = $2 WHERE name = $1")
                .bind(name)
                .bind(resealed)
                .execute(&mut *tx)
                .await?;
            changed += 1;
        }
        tx.commit().await?;
        Ok(changed)
    }
}
