//! Checking the `validationTokens` of rich notifications (reference `teams-graph.md` §4.6): each
//! is a JWT Entra signs for the Graph change-notification publisher; it must carry our app id
//! as audience, our tenant's v1 issuer and the publisher's `appid`, and must not have expired
//! at the time the batch was received. Keys come from Entra's JWKS, cached, with a bounded
//! refresh when a token names a key we have not seen.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use callbridge_adapter::AdapterError;
use callbridge_adapter::client::{ApiCall, ApiClient};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use url::Url;

/// The app id of Graph's change-notification publisher (§4.6).
pub(crate) const PUBLISHER_APP_ID: &str = "0bf30f3b-4a52-48df-9a82-234910c4a086";
/// Clock skew tolerated on `exp`.
const LEEWAY_SECS: i64 = 300;
/// An unknown `kid` refetches the JWKS at most this often (keys roll rarely; a forger must
/// not make us hammer Entra).
const REFETCH_SECS: i64 = 300;

#[derive(Deserialize)]
struct Claims {
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    appid: Option<String>,
    tid: Option<String>,
}

/// Entra's signing keys.
pub(crate) struct ValidationKeys {
    jwks_url: Url,
    audience: String,
    issuer: String,
    tenant: String,
    keys: Mutex<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for ValidationKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidationKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ValidationKeys {
    pub(crate) fn new(jwks_url: Url, audience: &str, tenant: &str) -> Self {
        Self {
            jwks_url,
            audience: audience.to_owned(),
            issuer: format!("https://sts.windows.net/{tenant}/"),
            tenant: tenant.to_owned(),
            keys: Mutex::new(KeyCache::default()),
        }
    }

    /// Fetches the JWKS when it was never fetched, or when `kid` is unknown and the last fetch
    /// is older than the refetch bound.
    pub(crate) async fn ensure(
        &self,
        client: &ApiClient,
        kid: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), AdapterError> {
        let due = {
            let cache = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
            match (cache.fetched_at, kid) {
                (None, _) => true,
                (Some(at), Some(kid)) => {
                    !cache.keys.contains_key(kid) && now - at >= Duration::seconds(REFETCH_SECS)
                }
                (Some(_), None) => false,
            }
        };
        if !due {
            return Ok(());
        }
        let call = ApiCall {
            method: "entra.keys",
            budget_key: &self.tenant,
            idempotent: true,
        };
        let url = self.jwks_url.clone();
        let response = client.send(call, |http| http.get(url.clone())).await?;
        let misbehaved = |detail: &str| AdapterError::PlatformMisbehaved {
            method: "entra.keys".to_owned(),
            detail: detail.to_owned(),
        };
        if !response.status().is_success() {
            return Err(misbehaved("JWKS not served"));
        }
        let set: JwkSet = response
            .json()
            .await
            .map_err(|_| misbehaved("JWKS did not parse"))?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        let mut cache = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        cache.keys = keys;
        cache.fetched_at = Some(now);
        Ok(())
    }

    /// The `kid`s of tokens, so the caller can [`ensure`](Self::ensure) them first.
    pub(crate) fn kid(token: &str) -> Option<String> {
        jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|header| header.kid)
    }

    /// Whether `token` is a valid validation token for us at `now`.
    pub(crate) fn check(&self, token: &str, now: DateTime<Utc>) -> Result<(), &'static str> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| "validation token malformed")?;
        if header.alg != Algorithm::RS256 {
            return Err("validation token algorithm");
        }
        let kid = header.kid.ok_or("validation token without kid")?;
        let cache = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let key = cache.keys.get(&kid).ok_or("validation token key unknown")?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.issuer]);
        // Expiry is checked against the time the batch was received, below.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|_| "validation token signature or claims")?;
        let claims = data.claims;
        if claims.exp + LEEWAY_SECS < now.timestamp() {
            return Err("validation token expired");
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf - LEEWAY_SECS > now.timestamp())
        {
            return Err("validation token not yet valid");
        }
        if claims.appid.as_deref() != Some(PUBLISHER_APP_ID) {
            return Err("validation token not from the Graph publisher");
        }
        if claims
            .tid
            .as_deref()
            .is_some_and(|tid| !tid.eq_ignore_ascii_case(&self.tenant))
        {
            return Err("validation token of another tenant");
        }
        Ok(())
    }
}
