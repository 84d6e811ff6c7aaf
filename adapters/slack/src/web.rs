//! Web API calls (slack-api.md §1): JSON bodies with `charset=utf-8`, the token in the
//! `Authorization` header, and Slack's envelope read back into [`AdapterError`]s sorted by fault.
//! Budgets, `Retry-After` and retries are the shared client's.

use callbridge_adapter::client::{ApiCall, ApiClient, ClientConfig};
use callbridge_adapter::{AdapterError, Secret};
use callbridge_model::Platform;
use serde_json::Value;

use crate::config::SlackConfig;

/// Errors meaning the installation's authorisation is gone (§1 common errors).
const RECONNECT_ERRORS: &[&str] = &[
    "invalid_auth",
    "token_revoked",
    "account_inactive",
    "not_authed",
    "team_access_not_granted",
];

/// The shared client with Slack's budgets (§13): Tier 2 for `calls.*` as the Java SDK has it
/// (§6.3, the conservative side of a documented conflict), the profile-write limit per user,
/// Tier 3 presence polling per workspace.
pub(crate) fn client(config: ClientConfig) -> ApiClient {
    ApiClient::new(Platform::Slack, config)
        .with_budget("calls.add", 20)
        .with_budget("calls.update", 20)
        .with_budget("calls.end", 20)
        .with_budget("calls.participants.add", 20)
        .with_budget("calls.participants.remove", 20)
        .with_budget("users.profile.set", 10)
        .with_budget("users.setPresence", 20)
        .with_budget("users.getPresence", 50)
        .with_budget("dnd.setSnooze", 20)
        .with_budget("dnd.endSnooze", 20)
        .with_budget("users.info", 100)
        .with_budget("users.lookupByEmail", 50)
        .with_budget("dnd.info", 50)
        .with_budget("conversations.list", 20)
}

/// Why a Web API call failed, before it becomes an [`AdapterError`]: `token_expired` is
/// recoverable by a refresh, so the caller sees it apart.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The access token is past its 12 hours (§5.2): refresh and try once more.
    TokenExpired,
    /// Anything else.
    Other(AdapterError),
}

impl From<AdapterError> for CallError {
    fn from(error: AdapterError) -> Self {
        Self::Other(error)
    }
}

/// Sends one method with a JSON body and returns the success envelope.
pub(crate) async fn call(
    client: &ApiClient,
    config: &SlackConfig,
    method: &'static str,
    budget_key: &str,
    idempotent: bool,
    token: &Secret,
    args: &Value,
) -> Result<Value, CallError> {
    let body = serde_json::to_vec(args)
        .map_err(|e| AdapterError::Bug(format!("{method} arguments not serialisable: {e}")))?;
    let call = ApiCall {
        method,
        budget_key,
        idempotent,
    };
    send(
        client,
        config,
        call,
        token,
        "application/json; charset=utf-8",
        body,
    )
    .await
}

/// Sends one method with a form body and returns the success envelope: read methods take
/// their arguments as a form (a JSON body's arguments are ignored by them).
pub(crate) async fn call_form(
    client: &ApiClient,
    config: &SlackConfig,
    call: ApiCall<'_>,
    token: &Secret,
    args: &[(&str, &str)],
) -> Result<Value, CallError> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(args)
        .finish()
        .into_bytes();
    send(
        client,
        config,
        call,
        token,
        "application/x-www-form-urlencoded",
        body,
    )
    .await
}

/// Posts `body` to `call.method` and reads the envelope.
async fn send(
    client: &ApiClient,
    config: &SlackConfig,
    call: ApiCall<'_>,
    token: &Secret,
    content_type: &'static str,
    body: Vec<u8>,
) -> Result<Value, CallError> {
    let (method, budget_key) = (call.method, call.budget_key);
    let url = config.method_url(method)?;
    let response = client
        .send(call, |http| {
            http.post(url.clone())
                .bearer_auth(token.expose())
                .header(http::header::CONTENT_TYPE, content_type)
                .body(body.clone())
        })
        .await?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| AdapterError::PlatformUnavailable {
            method: method.to_owned(),
            reason: format!("reading the answer failed: {}", e.without_url()),
            retry_after: None,
        })?;
    let envelope: Value =
        serde_json::from_slice(&bytes).map_err(|_| AdapterError::PlatformMisbehaved {
            method: method.to_owned(),
            detail: format!("HTTP {status} with a body that is not JSON"),
        })?;
    interpret(method, budget_key, envelope)
}

/// Reads Slack's `{ok, error}` envelope (§1).
pub(crate) fn interpret(
    method: &str,
    installation: &str,
    envelope: Value,
) -> Result<Value, CallError> {
    match envelope.get("ok").and_then(Value::as_bool) {
        Some(true) => Ok(envelope),
        Some(false) => {
            let error = envelope
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown_error");
            metrics::counter!("callbridge_slack_api_errors_total", "method" => method.to_owned(), "error" => bounded(error))
                .increment(1);
            if error == "token_expired" {
                return Err(CallError::TokenExpired);
            }
            if RECONNECT_ERRORS.contains(&error) {
                return Err(CallError::Other(AdapterError::ReconnectRequired {
                    installation: installation
                        .split(':')
                        .next()
                        .unwrap_or(installation)
                        .to_owned(),
                }));
            }
            if matches!(
                error,
                "ratelimited"
                    | "rate_limited"
                    | "service_unavailable"
                    | "internal_error"
                    | "fatal_error"
                    | "request_timeout"
            ) {
                return Err(CallError::Other(AdapterError::PlatformUnavailable {
                    method: method.to_owned(),
                    reason: error.to_owned(),
                    retry_after: None,
                }));
            }
            Err(CallError::Other(AdapterError::PlatformRejected {
                method: method.to_owned(),
                error: error.to_owned(),
            }))
        }
        None => Err(CallError::Other(AdapterError::PlatformMisbehaved {
            method: method.to_owned(),
            detail: "answer without ok".to_owned(),
        })),
    }
}

/// Slack error codes are short lowercase words; anything else is folded so a misbehaving
/// server cannot blow up metric cardinality.
fn bounded(error: &str) -> String {
    if error.len() <= 48 && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        error.to_owned()
    } else {
        "other".to_owned()
    }
}
