//! Entra ID for the adapter (reference `teams-graph.md` §1): the app-only Graph token (client
//! credentials at the tenant's own authority), the delegated tokens of the accounts that own
//! presence subscriptions (authorization code + PKCE S256, refreshed with rotation), the admin
//! consent link, and the callbacks that complete them. Tokens are cached until shortly before
//! they expire and refreshed single-flight.

pub(crate) mod oauth;
mod pending;
mod reconnect;

use std::sync::Arc;

use callbridge_adapter::client::{ApiClient, RefreshGate};
use callbridge_adapter::{AdapterError, Secret, TokenKey, TokenSet, TokenVault};
use callbridge_model::{Platform, PlatformEvent};
use chrono::{DateTime, Utc};
use oauth2::{AuthorizationCode, PkceCodeChallenge, RefreshToken, Scope};
use tokio::sync::mpsc;
use url::Url;

use crate::config::{SubscriberAccount, TeamsConfig};
pub(crate) use pending::random_state as random_secret;
use pending::{Pending, PendingBook};
pub(crate) use reconnect::Reconnect;

/// Path of the sign-in callback below the adapter's mount.
pub const SIGN_IN_CALLBACK: &str = "/oauth/callback";
/// Path of the admin-consent callback below the adapter's mount.
pub const CONSENT_CALLBACK: &str = "/consent/callback";

/// The Graph `.default` scope: every application permission an admin consented to (§1.2).
const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
/// What a subscription owner grants: presence subscriptions are delegated-only (§4.1), and
/// `offline_access` brings the refresh token that keeps them alive.
const DELEGATED_SCOPES: [&str; 3] = [
    "openid",
    "offline_access",
    "https://graph.microsoft.com/Presence.Read.All",
];
/// Tokens are refreshed this long before they expire.
const REFRESH_MARGIN_SECS: i64 = 300;
/// The owner key of the app-only token.
const APP_OWNER: &str = "app";

/// Entra for one tenant.
pub struct Entra {
    config: Arc<TeamsConfig>,
    client: ApiClient,
    vault: Arc<dyn TokenVault>,
    gate: RefreshGate<TokenKey, TokenSet>,
    pending: PendingBook,
    reconnect: Reconnect,
}

impl std::fmt::Debug for Entra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entra")
            .field("tenant", &self.config.tenant)
            .field("reconnect_required", &self.reconnect.required())
            .finish_non_exhaustive()
    }
}

/// What a completed callback achieved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completed {
    /// A subscription owner signed in; their tokens are in the vault.
    SignedIn {
        /// The subscriber account's name.
        subscriber: String,
    },
    /// A tenant admin consented to the application permissions.
    AdminConsented,
}

impl Entra {
    pub(crate) fn new(
        config: Arc<TeamsConfig>,
        client: ApiClient,
        vault: Arc<dyn TokenVault>,
        events: mpsc::Sender<PlatformEvent>,
    ) -> Self {
        Self {
            config,
            client,
            vault,
            gate: RefreshGate::default(),
            pending: PendingBook::default(),
            reconnect: Reconnect::new(events),
        }
    }

    /// The vault key of a subscriber account's delegated tokens.
    pub fn subscriber_key(&self, subscriber: &str) -> TokenKey {
        TokenKey::new(
            Platform::Teams,
            format!("subscriber:{}:{subscriber}", self.config.tenant),
        )
    }

    fn app_key(&self) -> TokenKey {
        TokenKey::new(Platform::Teams, format!("app:{}", self.config.tenant))
    }

    fn installation(&self) -> String {
        self.config.tenant.to_string()
    }

    pub(crate) const fn reconnect(&self) -> &Reconnect {
        &self.reconnect
    }

    /// The app-only Graph token, from cache while it has more than the margin left.
    pub async fn app_token(&self, now: DateTime<Utc>) -> Result<Secret, AdapterError> {
        let margin = chrono::Duration::seconds(REFRESH_MARGIN_SECS);
        let result = self
            .gate
            .get_or_refresh(
                &self.app_key(),
                |tokens| !tokens.expires_within(now, margin),
                || self.client_credentials(now),
            )
            .await;
        self.settle(APP_OWNER, result, now)
            .map(|tokens| tokens.access_token)
    }

    async fn client_credentials(&self, now: DateTime<Utc>) -> Result<TokenSet, AdapterError> {
        let client = oauth::client(&self.config, CONSENT_CALLBACK)?;
        let http = oauth::sender(&self.client, "entra.token", &self.installation());
        let response = client
            .exchange_client_credentials()
            .add_scope(Scope::new(GRAPH_DEFAULT.to_owned()))
            .request_async(&http)
            .await
            .map_err(|error| oauth::token_error(error, &self.installation()))?;
        Ok(oauth::token_set(&response, now, None))
    }

    /// A subscriber account's delegated token: from cache, else from the vault, refreshed
    /// (and the rotated set stored whole) when it is about to expire.
    pub async fn delegated_token(
        &self,
        subscriber: &str,
        now: DateTime<Utc>,
    ) -> Result<Secret, AdapterError> {
        let key = self.subscriber_key(subscriber);
        let margin = chrono::Duration::seconds(REFRESH_MARGIN_SECS);
        let owner = format!("subscriber:{subscriber}");
        let result = self
            .gate
            .get_or_refresh(
                &key,
                |tokens| !tokens.expires_within(now, margin),
                || self.load_or_refresh(&key, now, margin),
            )
            .await;
        self.settle(&owner, result, now)
            .map(|tokens| tokens.access_token)
    }

    async fn load_or_refresh(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
        margin: chrono::Duration,
    ) -> Result<TokenSet, AdapterError> {
        let stored =
            self.vault
                .load(key)
                .await?
                .ok_or_else(|| AdapterError::ReconnectRequired {
                    installation: self.installation(),
                })?;
        if !stored.expires_within(now, margin) {
            return Ok(stored);
        }
        let refresh =
            stored
                .refresh_token
                .clone()
                .ok_or_else(|| AdapterError::ReconnectRequired {
                    installation: self.installation(),
                })?;
        let client = oauth::client(&self.config, SIGN_IN_CALLBACK)?;
        let http = oauth::sender(&self.client, "entra.token", &self.installation());
        let token = RefreshToken::new(refresh.expose().to_owned());
        let response = client
            .exchange_refresh_token(&token)
            .add_scopes(DELEGATED_SCOPES.iter().map(|s| Scope::new((*s).to_owned())))
            .request_async(&http)
            .await
            .map_err(|error| oauth::token_error(error, &self.installation()))?;
        let tokens = oauth::token_set(&response, now, Some(refresh));
        self.vault.store(key, &tokens).await?;
        Ok(tokens)
    }

    /// Records success or refusal of `owner`'s credentials.
    fn settle(
        &self,
        owner: &str,
        result: Result<TokenSet, AdapterError>,
        now: DateTime<Utc>,
    ) -> Result<TokenSet, AdapterError> {
        match &result {
            Ok(_) => self.reconnect.restore(owner),
            Err(AdapterError::ReconnectRequired { .. }) => {
                self.reconnect.refuse(owner, &self.installation(), now);
            }
            Err(_) => {}
        }
        result
    }

    /// Forgets a cached token Graph refused (401), so the next call fetches a new one.
    pub(crate) fn forget(&self, subscriber: Option<&str>) {
        let key = subscriber.map_or_else(|| self.app_key(), |name| self.subscriber_key(name));
        self.gate.invalidate(&key);
    }

    /// The link a subscriber account follows to sign in (authorization code + PKCE S256).
    pub fn sign_in_url(
        &self,
        subscriber: &SubscriberAccount,
        now: DateTime<Utc>,
    ) -> Result<Url, AdapterError> {
        let client = oauth::client(&self.config, SIGN_IN_CALLBACK)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = pending::random_state()?;
        let state_for_request = state.clone();
        let mut request = client
            .authorize_url(move || oauth2::CsrfToken::new(state_for_request))
            .add_scopes(DELEGATED_SCOPES.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .add_extra_param("response_mode", "query")
            .add_extra_param("prompt", "select_account");
        if let Some(hint) = &subscriber.login_hint {
            request = request.add_extra_param("login_hint", hint.clone());
        }
        let (url, _) = request.url();
        self.pending.insert(
            state,
            Pending::SignIn {
                subscriber: subscriber.name.clone(),
                verifier: Secret::new(verifier.into_secret()),
            },
            now,
        );
        Ok(url)
    }

    /// The link a tenant admin follows to grant the application permissions (v2 admin consent
    /// with the Graph `.default` scope, at the tenant's own authority: never `common`, §1.5).
    pub fn admin_consent_url(&self, now: DateTime<Utc>) -> Result<Url, AdapterError> {
        let state = pending::random_state()?;
        let mut url = self.config.login_url("/v2.0/adminconsent")?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("scope", GRAPH_DEFAULT)
            .append_pair(
                "redirect_uri",
                self.config.public_url(CONSENT_CALLBACK)?.as_str(),
            )
            .append_pair("state", &state);
        self.pending.insert(state, Pending::AdminConsent, now);
        Ok(url)
    }

    /// Completes a sign-in from the callback's query: the state must be one we issued and
    /// not older than the code's ten minutes; the code is redeemed with its PKCE verifier.
    pub async fn complete_sign_in(
        &self,
        query: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<Completed, AdapterError> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let state = get("state").ok_or(AdapterError::Unauthenticated("missing OAuth state"))?;
        let Pending::SignIn {
            subscriber,
            verifier,
        } = self
            .pending
            .take(state, now)
            .ok_or(AdapterError::Unauthenticated(
                "unknown or expired OAuth state",
            ))?
        else {
            return Err(AdapterError::Unauthenticated("OAuth state of another flow"));
        };
        if let Some(error) = get("error") {
            return Err(AdapterError::PlatformRejected {
                method: "entra.authorize".to_owned(),
                error: error.chars().take(64).collect(),
            });
        }
        let code = get("code").ok_or_else(|| AdapterError::Malformed("missing code".to_owned()))?;
        let client = oauth::client(&self.config, SIGN_IN_CALLBACK)?;
        let http = oauth::sender(&self.client, "entra.token", &self.installation());
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(oauth2::PkceCodeVerifier::new(verifier.expose().to_owned()))
            .add_extra_param("scope", DELEGATED_SCOPES.join(" "))
            .request_async(&http)
            .await
            .map_err(|error| oauth::token_error(error, &self.installation()))?;
        let tokens = oauth::token_set(&response, now, None);
        let key = self.subscriber_key(&subscriber);
        self.vault.store(&key, &tokens).await?;
        self.gate.invalidate(&key);
        self.reconnect.restore(&format!("subscriber:{subscriber}"));
        Ok(Completed::SignedIn { subscriber })
    }

    /// Completes an admin consent from the callback's query. The returned `tenant` is never
    /// trusted (§1.5): the state must be ours, and a fresh app token proves the consent.
    pub async fn complete_admin_consent(
        &self,
        query: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<Completed, AdapterError> {
        let get = |name: &str| {
            query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let state = get("state").ok_or(AdapterError::Unauthenticated("missing consent state"))?;
        match self.pending.take(state, now) {
            Some(Pending::AdminConsent) => {}
            _ => {
                return Err(AdapterError::Unauthenticated(
                    "unknown or expired consent state",
                ));
            }
        }
        if let Some(error) = get("error") {
            return Err(AdapterError::PlatformRejected {
                method: "entra.adminconsent".to_owned(),
                error: error.chars().take(64).collect(),
            });
        }
        self.gate.invalidate(&self.app_key());
        self.app_token(now).await?;
        Ok(Completed::AdminConsented)
    }
}
