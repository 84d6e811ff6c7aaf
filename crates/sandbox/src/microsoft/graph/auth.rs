//! Bearer token checks for Graph: signature against the sandbox JWKS, audience, expiry on the
//! sandbox clock, then permissions from `roles` (app-only) or `scp` (delegated), §1.6–§1.7.

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::error::GraphError;
use crate::microsoft::entra::GRAPH_RESOURCE;
use crate::microsoft::jwt::TokenError;
use crate::microsoft::state::MicrosoftState;

/// Who is calling Graph.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) tenant_id: String,
    pub(crate) app_id: String,
    /// The signed-in user of a delegated token; `None` for app-only tokens.
    pub(crate) user_id: Option<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) scopes: Vec<String>,
}

impl Caller {
    /// Whether the token carries any of `permissions` (as an app role or a delegated scope).
    pub(crate) fn has_any(&self, permissions: &[&str]) -> bool {
        permissions.iter().any(|p| {
            self.roles.iter().any(|r| r.eq_ignore_ascii_case(p))
                || self.scopes.iter().any(|s| s.eq_ignore_ascii_case(p))
        })
    }

    /// Fails with 403 unless the token carries one of `permissions`.
    pub(crate) fn require(&self, permissions: &[&str]) -> Result<(), GraphError> {
        if self.has_any(permissions) {
            Ok(())
        } else {
            Err(GraphError::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ))
        }
    }
}

fn unauthenticated(message: &str) -> GraphError {
    GraphError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    )
}

/// Checks the `Authorization: Bearer` token of a Graph request.
pub(crate) fn authenticate(
    state: &MicrosoftState,
    headers: &HeaderMap,
) -> Result<Caller, GraphError> {
    let value = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = value
        .strip_prefix("Bearer ")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthenticated("Access token is empty."))?;
    let claims = state
        .inner
        .entra_key
        .verify(token, state.inner.clock.unix())
        .map_err(|error| match error {
            TokenError::Expired => {
                unauthenticated("Lifetime validation failed, the token is expired.")
            }
            TokenError::Invalid(_) => {
                unauthenticated("Access token validation failure. Invalid signature.")
            }
        })?;
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or("");
    if aud != GRAPH_RESOURCE && aud != "00000003-0000-0000-c000-000000000000" {
        return Err(unauthenticated(
            "Access token validation failure. Invalid audience.",
        ));
    }
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let roles = claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let scopes = claims
        .get("scp")
        .and_then(Value::as_str)
        .map(|scp| scp.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let delegated = claims.get("idtyp").and_then(Value::as_str) == Some("user");
    Ok(Caller {
        tenant_id: text("tid"),
        app_id: text("appid"),
        user_id: delegated.then(|| text("oid")),
        roles,
        scopes,
    })
}
