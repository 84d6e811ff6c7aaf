//! `oauth.v2.access` through the `oauth2` crate (slack-api.md §5.2): the code exchange at
//! install and the refresh of rotating tokens, with a token-response type shaped like Slack's
//! answer (bot token at the top, the installing user's token under `authed_user`, scopes
//! comma-separated, `team` / `enterprise` objects).
//!
//! Slack answers OAuth errors with HTTP 200 and `{"ok":false,"error":…}`, where RFC 6749 (and
//! so the `oauth2` crate) expects a 4xx and `{"error":…}`; the transport closure translates,
//! so `invalid_code` or `invalid_refresh_token` arrive as the crate's server-error responses.

use std::fmt;
use std::time::Duration;

use callbridge_adapter::client::{ApiCall, ApiClient};
use callbridge_adapter::{AdapterError, Secret};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardRevocableToken, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::config::SlackConfig;

/// A team or enterprise as `oauth.v2.access` names it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct Named {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
}

/// The installing user's part of the answer.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct AuthedUser {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) scope: Option<String>,
    #[serde(default)]
    pub(crate) access_token: Option<AccessToken>,
    #[serde(default)]
    pub(crate) expires_in: Option<u64>,
    #[serde(default)]
    pub(crate) refresh_token: Option<RefreshToken>,
}

/// Slack's `oauth.v2.access` answer, for a code exchange or a refresh.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct SlackTokenResponse {
    access_token: AccessToken,
    token_type: BasicTokenType,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    /// Comma-separated, unlike RFC 6749's spaces.
    #[serde(default)]
    pub(crate) scope: Option<String>,
    #[serde(default)]
    pub(crate) app_id: Option<String>,
    #[serde(default)]
    pub(crate) bot_user_id: Option<String>,
    #[serde(default)]
    pub(crate) team: Option<Named>,
    #[serde(default)]
    pub(crate) enterprise: Option<Named>,
    #[serde(default)]
    pub(crate) is_enterprise_install: bool,
    #[serde(default)]
    pub(crate) authed_user: Option<AuthedUser>,
    /// Never filled: Slack's scopes are comma-separated, read through [`Self::scope_list`].
    #[serde(skip)]
    no_scopes: Option<Vec<Scope>>,
}

impl SlackTokenResponse {
    /// What `token_type` says was issued or refreshed (`bot` or `user`).
    pub(crate) fn kind(&self) -> &str {
        match &self.token_type {
            BasicTokenType::Extension(kind) => kind,
            BasicTokenType::Bearer => "bearer",
            _ => "other",
        }
    }

    pub(crate) fn scope_list(&self) -> Vec<String> {
        split_scopes(self.scope.as_deref())
    }
}

pub(crate) fn split_scopes(scope: Option<&str>) -> Vec<String> {
    scope
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl TokenResponse for SlackTokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.no_scopes.as_ref()
    }
}

type Client = oauth2::Client<
    BasicErrorResponse,
    SlackTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A transport failure, as the `oauth2` crate wants it (an `Error` type).
#[derive(Debug)]
pub(crate) struct Transport(AdapterError);

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Transport {}

/// The OAuth client for one app.
#[derive(Clone, Debug)]
pub(crate) struct OAuth {
    client: Client,
    api: ApiClient,
}

impl OAuth {
    pub(crate) fn new(config: &SlackConfig, api: ApiClient) -> Result<Self, AdapterError> {
        let bad = |what: &str| AdapterError::Misconfigured(format!("slack OAuth {what}"));
        let token_url = config.method_url("oauth.v2.access")?;
        let client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.expose().to_owned()))
            .set_auth_uri(AuthUrl::from_url(config.authorize_url.clone()))
            .set_token_uri(TokenUrl::from_url(token_url))
            .set_redirect_uri(
                RedirectUrl::new(config.redirect_uri.to_string())
                    .map_err(|_| bad("redirect URI"))?,
            );
        Ok(Self { client, api })
    }

    /// Exchanges an install code (§5.2); `redirect_uri` must equal the authorize request's.
    pub(crate) async fn exchange_code(
        &self,
        code: &str,
    ) -> Result<SlackTokenResponse, AdapterError> {
        let http = self.transport();
        self.client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .request_async(&http)
            .await
            .map_err(|e| token_error("oauth.v2.access", e))
    }

    /// Trades a rotating refresh token for a new pair (§5.2); the old one is spent.
    pub(crate) async fn refresh(
        &self,
        refresh_token: &Secret,
    ) -> Result<SlackTokenResponse, AdapterError> {
        let http = self.transport();
        let token = RefreshToken::new(refresh_token.expose().to_owned());
        self.client
            .exchange_refresh_token(&token)
            .request_async(&http)
            .await
            .map_err(|e| token_error("oauth.v2.access", e))
    }

    fn transport(
        &self,
    ) -> impl Fn(
        HttpRequest,
    )
        -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, Transport>> + Send>>
    + use<> {
        let api = self.api.clone();
        move |request: HttpRequest| {
            let api = api.clone();
            Box::pin(async move { send(&api, request).await.map_err(Transport) })
        }
    }
}

/// Sends the crate's request through the shared client (never resent after a 5xx: a code is
/// single-use and a refresh token is spent on use) and reshapes Slack's errors.
async fn send(api: &ApiClient, request: HttpRequest) -> Result<HttpResponse, AdapterError> {
    let (parts, body) = request.into_parts();
    let url = parts.uri.to_string();
    let response = api
        .send(
            ApiCall {
                method: "oauth.v2.access",
                budget_key: "oauth",
                idempotent: false,
            },
            |http| {
                let mut builder = http.request(parts.method.clone(), &url).body(body.clone());
                for (name, value) in &parts.headers {
                    builder = builder.header(name, value);
                }
                builder
            },
        )
        .await?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| AdapterError::PlatformUnavailable {
            method: "oauth.v2.access".to_owned(),
            reason: format!("reading the answer failed: {}", e.without_url()),
            retry_after: None,
        })?;
    let envelope: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| AdapterError::PlatformMisbehaved {
            method: "oauth.v2.access".to_owned(),
            detail: format!("HTTP {status} with a body that is not JSON"),
        })?;
    let (status, body) = if envelope.get("ok").and_then(serde_json::Value::as_bool) == Some(false) {
        let error = envelope
            .get("error")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown_error");
        (
            http::StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": error })
                .to_string()
                .into_bytes(),
        )
    } else {
        (status, bytes.to_vec())
    };
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| AdapterError::Bug(format!("rebuilding the OAuth answer: {e}")))
}

/// Sorts the crate's errors: Slack's refusals by code, transport failures as they came.
fn token_error(
    method: &str,
    error: RequestTokenError<Transport, BasicErrorResponse>,
) -> AdapterError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = match response.error() {
                oauth2::basic::BasicErrorResponseType::Extension(code) => code.clone(),
                other => format!("{other:?}").to_lowercase(),
            };
            AdapterError::PlatformRejected {
                method: method.to_owned(),
                error: code,
            }
        }
        RequestTokenError::Request(Transport(error)) => error,
        RequestTokenError::Parse(error, _) => AdapterError::PlatformMisbehaved {
            method: method.to_owned(),
            detail: format!("unexpected answer shape at {}", error.path()),
        },
        RequestTokenError::Other(detail) => AdapterError::PlatformMisbehaved {
            method: method.to_owned(),
            detail,
        },
    }
}
