//! OIDC discovery documents and the JWKS (§1.1, §4.6).

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::microsoft::state::MicrosoftState;

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(super) async fn openid_configuration_v2(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
) -> Json<Value> {
    let base = &state.inner.base_url;
    let tid = state
        .inner
        .directory
        .tenant(&tenant)
        .map_or_else(|| "{tenantid}".to_owned(), |t| t.id.clone());
    Json(json!({
        "issuer": format!("https://login.microsoftonline.com/{tid}/v2.0"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "oid", "preferred_username", "tid", "ver"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
    }))
}

/// `GET /{tenant}/.well-known/openid-configuration` (v1 issuer, used for validationTokens).
pub(super) async fn openid_configuration_v1(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
) -> Json<Value> {
    let base = &state.inner.base_url;
    let tid = state
        .inner
        .directory
        .tenant(&tenant)
        .map_or_else(|| "{tenantid}".to_owned(), |t| t.id.clone());
    Json(json!({
        "issuer": format!("https://sts.windows.net/{tid}/"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/token"),
        "jwks_uri": format!("{base}/{tenant}/discovery/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    }))
}

/// `GET /{tenant}/discovery/v2.0/keys` and `/{tenant}/discovery/keys`.
pub(super) async fn jwks(State(state): State<MicrosoftState>) -> Json<Value> {
    Json(json!({ "keys": [state.inner.entra_key.jwk(&json!({}))] }))
}
