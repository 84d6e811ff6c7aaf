//! The `oauth2` client for Entra's v2.0 endpoints of one tenant, sending through the shared
//! client layer, and the translation of token-endpoint failures into [`AdapterError`]s by the
//! OAuth `error` value (reference `teams-graph.md` §1.2–§1.4).

use std::future::Future;

use callbridge_adapter::client::{ApiCall, ApiClient};
use callbridge_adapter::{AdapterError, Secret, TokenSet};
use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, RedirectUrl, RequestTokenError, TokenResponse, TokenUrl,
};

use crate::config::TeamsConfig;

/// An Entra client with its authorize and token endpoints set.
pub(crate) type EntraClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The client for the tenant-specific authority, redirecting to `redirect` (the sign-in or
/// consent callback under the adapter's mount).
pub(crate) fn client(config: &TeamsConfig, redirect: &str) -> Result<EntraClient, AdapterError> {
    let misconfigured = |what: &str| AdapterError::Misconfigured(format!("Entra {what} URL"));
    let auth = AuthUrl::from_url(config.login_url("/oauth2/v2.0/authorize")?);
    let token = TokenUrl::from_url(config.login_url("/oauth2/v2.0/token")?);
    let redirect = RedirectUrl::new(config.public_url(redirect)?.to_string())
        .map_err(|_| misconfigured("redirect"))?;
    Ok(BasicClient::new(ClientId::new(config.client_id.clone()))
        .set_client_secret(ClientSecret::new(config.client_secret.expose().to_owned()))
        // Entra documents the secret in the form body; Basic works too but is the exception.
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(auth)
        .set_token_uri(token)
        .set_redirect_uri(redirect))
}

/// The HTTP function `oauth2` sends through: the shared client, budgets and metrics included,
/// reported under `method` and budgeted under `budget_key`. Token requests are never resent
/// after a 5xx (a code is single-use, a refresh token rotates). Shared by Entra's own flows
/// and the bot's connector token.
pub(crate) fn sender(
    client: &ApiClient,
    method: &'static str,
    budget_key: &str,
) -> impl Fn(
    HttpRequest,
) -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, AdapterError>> + Send>>
+ use<> {
    let client = client.clone();
    let budget_key = budget_key.to_owned();
    move |request: HttpRequest| {
        let client = client.clone();
        let budget_key = budget_key.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let url = parts.uri.to_string();
            let call = ApiCall {
                method,
                budget_key: &budget_key,
                idempotent: false,
            };
            let response = client
                .send(call, |http| {
                    http.request(parts.method.clone(), &url)
                        .headers(parts.headers.clone())
                        .body(body.clone())
                })
                .await?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|_| AdapterError::PlatformUnavailable {
                    method: method.to_owned(),
                    reason: "body not received".to_owned(),
                    retry_after: None,
                })?;
            builder
                .body(bytes.to_vec())
                .map_err(|_| AdapterError::Bug("token response not rebuilt".to_owned()))
        })
    }
}

/// What a token-endpoint failure means for callbridge.
pub(crate) fn token_error(
    error: RequestTokenError<AdapterError, BasicErrorResponse>,
    installation: &str,
) -> AdapterError {
    match error {
        RequestTokenError::ServerResponse(response) => match response.error() {
            // Revoked consent (AADSTS65001), expired or revoked refresh tokens (70008,
            // 700082, 50173): a person must sign in or consent again.
            BasicErrorResponseType::InvalidGrant => AdapterError::ReconnectRequired {
                installation: installation.to_owned(),
            },
            BasicErrorResponseType::Extension(code)
                if matches!(code.as_str(), "consent_required" | "interaction_required") =>
            {
                AdapterError::ReconnectRequired {
                    installation: installation.to_owned(),
                }
            }
            BasicErrorResponseType::Extension(code) if code == "temporarily_unavailable" => {
                AdapterError::PlatformUnavailable {
                    method: "entra.token".to_owned(),
                    reason: code.clone(),
                    retry_after: None,
                }
            }
            // A wrong secret, an app missing from the tenant, a bad scope: the operator's
            // configuration.
            other => {
                AdapterError::Misconfigured(format!("Entra refused the token request: {other}"))
            }
        },
        RequestTokenError::Request(error) => error,
        RequestTokenError::Parse(_, _) => AdapterError::PlatformMisbehaved {
            method: "entra.token".to_owned(),
            detail: "token response did not parse".to_owned(),
        },
        RequestTokenError::Other(detail) => AdapterError::PlatformMisbehaved {
            method: "entra.token".to_owned(),
            detail,
        },
    }
}

/// A token response as the vault keeps it. `previous_refresh` stays when Entra sends no new
/// refresh token (it always does for `offline_access`, but nothing is lost if it does not).
pub(crate) fn token_set(
    response: &BasicTokenResponse,
    now: DateTime<Utc>,
    previous_refresh: Option<Secret>,
) -> TokenSet {
    let expires_at = response
        .expires_in()
        .and_then(|lifetime| chrono::Duration::from_std(lifetime).ok())
        .map(|lifetime| now + lifetime);
    TokenSet {
        access_token: Secret::new(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|token| Secret::new(token.secret().clone()))
            .or(previous_refresh),
        expires_at,
        scopes: response
            .scopes()
            .map(|scopes| scopes.iter().map(|scope| scope.to_string()).collect())
            .unwrap_or_default(),
    }
}
