//! Authentication of inbound Bot Connector requests (reference `teams-graph.md` §5.2): the
//! `Authorization: Bearer` JWT is checked against the Bot Framework's published keys before
//! the body is trusted, then bound to the activity it came with (channel endorsement and the
//! `serviceurl` claim), so a token lifted from one request cannot steer replies elsewhere.

use std::time::Duration;

use callbridge_adapter::AdapterError;
use callbridge_adapter::client::ApiClient;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use url::Url;

use super::activity::Activity;
use super::keys::{KeyCache, Lookup};

/// The issuer of Bot Connector tokens.
pub const BOT_FRAMEWORK_ISSUER: &str = "https://api.botframework.com";
/// The Bot Framework's OpenID metadata document.
pub const BOT_FRAMEWORK_OPENID_METADATA: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";

/// What the verifier checks against.
#[derive(Clone, Debug)]
pub struct BotVerifierConfig {
    /// The bot's app id: the only accepted `aud`.
    pub app_id: String,
    /// The OpenID metadata document whose `jwks_uri` publishes the signing keys.
    pub openid_metadata: Url,
    /// The accepted `iss`.
    pub issuer: String,
    /// Allowed clock difference on `exp` and `nbf` (the SDK allows 5 minutes).
    pub clock_skew: Duration,
    /// Keys older than this are refetched (the SDK cached them for 5 days; a day is kinder to
    /// key rollover).
    pub keys_max_age: Duration,
    /// At most one refetch for an unknown `kid` per this interval.
    pub unknown_kid_refetch: Duration,
}

impl BotVerifierConfig {
    /// The documented values for a bot with `app_id`.
    pub fn new(app_id: impl Into<String>) -> Result<Self, AdapterError> {
        Ok(Self {
            app_id: app_id.into(),
            openid_metadata: Url::parse(BOT_FRAMEWORK_OPENID_METADATA)
                .map_err(|_| AdapterError::Bug("metadata URL constant".to_owned()))?,
            issuer: BOT_FRAMEWORK_ISSUER.to_owned(),
            clock_skew: Duration::from_secs(300),
            keys_max_age: Duration::from_secs(24 * 3600),
            unknown_kid_refetch: Duration::from_secs(5 * 60),
        })
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    serviceurl: Option<String>,
}

/// Verifies inbound activities. Cheap to share behind an `Arc`; the key cache is inside.
pub struct BotVerifier {
    config: BotVerifierConfig,
    keys: KeyCache,
}

impl std::fmt::Debug for BotVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotVerifier")
            .field("app_id", &self.config.app_id)
            .finish_non_exhaustive()
    }
}

fn reject(reason: &'static str) -> AdapterError {
    metrics::counter!("callbridge_teams_bot_rejected_total", "reason" => reason).increment(1);
    AdapterError::Unauthenticated(reason)
}

impl BotVerifier {
    /// A verifier fetching keys through `client` (the adapter's shared client).
    pub fn new(config: BotVerifierConfig, client: ApiClient) -> Self {
        let keys = KeyCache::new(
            config.openid_metadata.clone(),
            client,
            config.keys_max_age,
            config.unknown_kid_refetch,
        );
        Self { config, keys }
    }

    /// Checks the request's bearer token at `now` (the time the request was received), then
    /// parses the body and binds the token to it. Every authentication failure is
    /// [`AdapterError::Unauthenticated`] (answer 401/403); a body that does not parse after a
    /// valid token is [`AdapterError::Malformed`].
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Activity, AdapterError> {
        let token = bearer(headers)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| reject("token header"))?;
        // RS256 is what the service signs with; the SDK also admits RS384/RS512. `none` and
        // HMAC never reach this point as acceptable (`none` does not even parse).
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
        ) {
            return Err(reject("algorithm"));
        }
        let kid = header.kid.ok_or_else(|| reject("no key id"))?;
        let published = match self.keys.lookup(&kid, now).await? {
            Lookup::Found(key) => key,
            Lookup::Unknown => return Err(reject("unknown key")),
        };
        let mut validation = Validation::new(header.alg);
        // Time is judged against `now` below (the request's arrival), not the wall clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        validation.set_audience(&[&self.config.app_id]);
        validation.set_issuer(&[&self.config.issuer]);
        let claims = jsonwebtoken::decode::<Claims>(token, &published.key, &validation)
            .map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                match error.kind() {
                    ErrorKind::InvalidAudience => reject("audience"),
                    ErrorKind::InvalidIssuer => reject("issuer"),
                    ErrorKind::InvalidSignature => reject("signature"),
                    _ => reject("token"),
                }
            })?
            .claims;
        let skew = i64::try_from(self.config.clock_skew.as_secs()).unwrap_or(i64::MAX);
        let now_secs = now.timestamp();
        match claims.exp {
            Some(exp) if exp.saturating_add(skew) > now_secs => {}
            Some(_) => return Err(reject("expired")),
            None => return Err(reject("no expiry")),
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf.saturating_sub(skew) > now_secs)
        {
            return Err(reject("not yet valid"));
        }

        let activity: Activity = serde_json::from_slice(body)
            .map_err(|error| AdapterError::Malformed(format!("activity: {error}")))?;
        if !published.endorsements.is_empty()
            && !published.endorsements.contains(&activity.channel_id)
        {
            return Err(reject("channel not endorsed"));
        }
        if claims.serviceurl.as_deref() != Some(activity.service_url.as_str()) {
            return Err(reject("service url"));
        }
        Ok(activity)
    }
}

/// The token of an `Authorization: Bearer <JWT>` header; the scheme must be exactly `Bearer`.
fn bearer(headers: &HeaderMap) -> Result<&str, AdapterError> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| reject("no authorization"))?
        .to_str()
        .map_err(|_| reject("authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| reject("not a bearer token"))
}
