//! The bot's own access token for the Bot Connector (reference `teams-graph.md` §5.3): Entra
//! client credentials with the scope `https://api.botframework.com/.default`, at the tenant's
//! authority for single-tenant bots (§0.7, §8.14) or `botframework.com` for older multi-tenant
//! ones. Cached until shortly before expiry; refreshed single-flight.

use callbridge_adapter::client::{ApiClient, RefreshGate};
use callbridge_adapter::{AdapterError, Secret};
use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use url::Url;

/// The scope of Bot Connector tokens.
pub const BOT_SCOPE: &str = "https://api.botframework.com/.default";
/// Refresh this long before expiry.
const MARGIN_SECS: i64 = 300;

#[derive(Clone)]
struct Cached {
    token: Secret,
    expires_at: DateTime<Utc>,
}

/// Fetches and caches the connector token.
pub(crate) struct BotTokens {
    app_id: String,
    secret: Secret,
    token_url: Url,
    client: ApiClient,
    gate: RefreshGate<(), Cached>,
}

impl BotTokens {
    pub(crate) fn new(app_id: String, secret: Secret, token_url: Url, client: ApiClient) -> Self {
        Self {
            app_id,
            secret,
            token_url,
            client,
            gate: RefreshGate::default(),
        }
    }

    /// A token valid for at least the margin after `now`.
    pub(crate) async fn token(&self, now: DateTime<Utc>) -> Result<Secret, AdapterError> {
        let margin = chrono::Duration::seconds(MARGIN_SECS);
        self.gate
            .get_or_refresh(&(), |c| c.expires_at - margin > now, || self.fetch(now))
            .await
            .map(|cached| cached.token)
    }

    /// Drops the cached token (the connector refused it).
    pub(crate) fn invalidate(&self) {
        self.gate.invalidate(&());
    }

    async fn fetch(&self, now: DateTime<Utc>) -> Result<Cached, AdapterError> {
        let client = BasicClient::new(ClientId::new(self.app_id.clone()))
            .set_client_secret(ClientSecret::new(self.secret.expose().to_owned()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::from_url(self.token_url.clone()));
        let http = crate::entra::oauth::sender(&self.client, "bot.token", "bot");
        let response = client
            .exchange_client_credentials()
            .add_scope(Scope::new(BOT_SCOPE.to_owned()))
            .request_async(&http)
            .await
            .map_err(token_error)?;
        let lifetime = response
            .expires_in()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .unwrap_or_else(|| chrono::Duration::seconds(MARGIN_SECS * 2));
        Ok(Cached {
            token: Secret::new(response.access_token().secret().clone()),
            expires_at: now + lifetime,
        })
    }
}

fn token_error(error: RequestTokenError<AdapterError, BasicErrorResponse>) -> AdapterError {
    match error {
        RequestTokenError::ServerResponse(response) => match response.error() {
            BasicErrorResponseType::Extension(code) if code == "temporarily_unavailable" => {
                AdapterError::PlatformUnavailable {
                    method: "bot.token".to_owned(),
                    reason: code.clone(),
                    retry_after: None,
                }
            }
            // Client credentials have no user to reconnect: a wrong secret, a missing app or
            // revoked consent are the operator's to fix.
            other => AdapterError::Misconfigured(format!("Entra refused the bot token: {other}")),
        },
        RequestTokenError::Request(error) => error,
        RequestTokenError::Parse(_, _) => AdapterError::PlatformMisbehaved {
            method: "bot.token".to_owned(),
            detail: "token response did not parse".to_owned(),
        },
        RequestTokenError::Other(detail) => AdapterError::PlatformMisbehaved {
            method: "bot.token".to_owned(),
            detail,
        },
    }
}
