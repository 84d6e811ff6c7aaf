//! The Bot Framework signing keys (reference `teams-graph.md` §5.2): discovered through the
//! OpenID metadata document, cached, and refetched only when they are old or a token names a
//! key the cache does not hold — and then at most once per refresh interval, so a stream of
//! forged `kid`s cannot turn the bot into a request amplifier against the key endpoint.

use std::collections::HashMap;
use std::time::Duration;

use callbridge_adapter::AdapterError;
use callbridge_adapter::client::{ApiCall, ApiClient};
use chrono::{DateTime, Utc};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

/// How soon a failed first fetch may be retried.
const EMPTY_RETRY_SECS: i64 = 10;

/// One published key: the verifier and the channels it is endorsed for.
#[derive(Clone)]
pub(crate) struct PublishedKey {
    pub(crate) key: DecodingKey,
    /// Channel ids (`msteams`); empty when the key carries no endorsements.
    pub(crate) endorsements: Vec<String>,
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    endorsements: Vec<String>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, PublishedKey>,
    /// When the keys were last fetched successfully.
    fetched_at: Option<DateTime<Utc>>,
    /// When a fetch was last attempted (successful or not).
    attempted_at: Option<DateTime<Utc>>,
}

/// The key cache. One lock serialises fetches: concurrent requests with an unknown `kid`
/// cause one fetch, and the others find its result.
pub(crate) struct KeyCache {
    metadata_url: Url,
    client: ApiClient,
    max_age: chrono::Duration,
    min_refetch: chrono::Duration,
    cache: Mutex<Cache>,
}

/// What a lookup found.
pub(crate) enum Lookup {
    Found(PublishedKey),
    /// Not published, and a refetch was not allowed yet or did not bring it.
    Unknown,
}

impl KeyCache {
    pub(crate) fn new(
        metadata_url: Url,
        client: ApiClient,
        max_age: Duration,
        min_refetch: Duration,
    ) -> Self {
        let to_chrono =
            |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        Self {
            metadata_url,
            client,
            max_age: to_chrono(max_age),
            min_refetch: to_chrono(min_refetch),
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The key `kid` at `now`, fetching the key set when it is missing, old, or lacks `kid`,
    /// but never twice within the refetch interval (10 s while no key has been fetched yet).
    pub(crate) async fn lookup(
        &self,
        kid: &str,
        now: DateTime<Utc>,
    ) -> Result<Lookup, AdapterError> {
        let mut cache = self.cache.lock().await;
        let stale = cache.fetched_at.is_none_or(|at| now - at >= self.max_age);
        // With no keys at all every request fails, so a failed first fetch is retried sooner;
        // otherwise fetches (for age or for an unknown kid) are at most one per interval.
        let gap = if cache.keys.is_empty() {
            self.min_refetch
                .min(chrono::Duration::seconds(EMPTY_RETRY_SECS))
        } else {
            self.min_refetch
        };
        let may_fetch = cache
            .attempted_at
            .is_none_or(|at| now - at >= gap || now < at);
        let wanted = stale || !cache.keys.contains_key(kid);
        if wanted && !may_fetch && cache.keys.is_empty() {
            return Err(AdapterError::PlatformUnavailable {
                method: "bot.jwks".to_owned(),
                reason: "signing keys not available yet".to_owned(),
                retry_after: None,
            });
        }
        if wanted && may_fetch {
            cache.attempted_at = Some(now);
            match self.fetch().await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at = Some(now);
                    metrics::counter!("callbridge_teams_bot_jwks_fetches_total", "outcome" => "ok")
                        .increment(1);
                }
                Err(error) => {
                    metrics::counter!("callbridge_teams_bot_jwks_fetches_total", "outcome" => "failed")
                        .increment(1);
                    // Old keys keep verifying while the endpoint is down; with none there is
                    // nothing to verify against, and the connector retries later.
                    if cache.keys.is_empty() {
                        return Err(error);
                    }
                    tracing::warn!(%error, "bot signing keys could not be refreshed; keeping the cached ones");
                }
            }
        }
        Ok(cache
            .keys
            .get(kid)
            .cloned()
            .map_or(Lookup::Unknown, Lookup::Found))
    }

    async fn fetch(&self) -> Result<HashMap<String, PublishedKey>, AdapterError> {
        let metadata: Metadata = self
            .get_json("bot.openid_metadata", self.metadata_url.as_str())
            .await?;
        let set: KeySet = self.get_json("bot.jwks", &metadata.jwks_uri).await?;
        let mut keys = HashMap::new();
        for jwk in set.keys {
            let (Some(kid), Some(n), Some(e)) = (jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            if jwk.kty != "RSA" {
                continue;
            }
            if let Ok(key) = DecodingKey::from_rsa_components(&n, &e) {
                keys.insert(
                    kid,
                    PublishedKey {
                        key,
                        endorsements: jwk.endorsements,
                    },
                );
            }
        }
        if keys.is_empty() {
            return Err(AdapterError::PlatformMisbehaved {
                method: "bot.jwks".to_owned(),
                detail: "the key set holds no usable RSA key".to_owned(),
            });
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        url: &str,
    ) -> Result<T, AdapterError> {
        let call = ApiCall {
            method,
            budget_key: "keys",
            idempotent: true,
        };
        let response = self.client.send(call, |http| http.get(url)).await?;
        if !response.status().is_success() {
            return Err(AdapterError::PlatformUnavailable {
                method: method.to_owned(),
                reason: format!("status {}", response.status().as_u16()),
                retry_after: None,
            });
        }
        response
            .json::<T>()
            .await
            .map_err(|_| AdapterError::PlatformMisbehaved {
                method: method.to_owned(),
                detail: "document did not parse".to_owned(),
            })
    }
}
