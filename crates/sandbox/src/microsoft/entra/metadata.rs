//! OIDC discovery documents and the JWKS (§1.1, §4.6).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::Aadsts;
use crate::microsoft::directory::BOTFRAMEWORK_TENANT;
use crate::microsoft::state::MicrosoftState;

/// The tenant id Entra names in the `consumers` authority's metadata (personal accounts).
const CONSUMERS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The tenant id a discovery document names for `tenant` (§1.1): the placeholder
/// `{tenantid}` only for the multi-tenant authorities `common` and `organizations`, a fixed
/// id for `consumers` and the Bot Framework's authority, the tenant's own id for a known GUID
/// or domain, and for anything else Entra's 400 `invalid_tenant` (AADSTS90002), which is what
/// MSAL relies on to refuse an authority that does not exist.
fn metadata_tenant(state: &MicrosoftState, tenant: &str) -> Result<String, Box<Response>> {
    let lower = tenant.to_ascii_lowercase();
    match lower.as_str() {
        "common" | "organizations" => Ok("{tenantid}".to_owned()),
        "consumers" => Ok(CONSUMERS_TENANT.to_owned()),
        "botframework.com" | BOTFRAMEWORK_TENANT => Ok(BOTFRAMEWORK_TENANT.to_owned()),
        _ => state
            .inner
            .directory
            .tenant(tenant)
            .map(|t| t.id.clone())
            .ok_or_else(|| {
                Box::new(
                    Aadsts::new(
                        "invalid_tenant",
                        90_002,
                        format!(
                            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
                        ),
                    )
                    .into_response_at(state.inner.clock.now_utc()),
                )
            }),
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(super) async fn openid_configuration_v2(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
) -> Response {
    let tid = match metadata_tenant(&state, &tenant) {
        Ok(tid) => tid,
        Err(response) => return *response,
    };
    let base = &state.inner.base_url;
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
    .into_response()
}

/// `GET /{tenant}/.well-known/openid-configuration` (v1 issuer, used for validationTokens).
pub(super) async fn openid_configuration_v1(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
) -> Response {
    let tid = match metadata_tenant(&state, &tenant) {
        Ok(tid) => tid,
        Err(response) => return *response,
    };
    let base = &state.inner.base_url;
    Json(json!({
        "issuer": format!("https://sts.windows.net/{tid}/"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/token"),
        "jwks_uri": format!("{base}/{tenant}/discovery/keys"),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    }))
    .into_response()
}

/// `GET /{tenant}/discovery/v2.0/keys` and `/{tenant}/discovery/keys`.
pub(super) async fn jwks(State(state): State<MicrosoftState>) -> Json<Value> {
    Json(json!({ "keys": [state.inner.entra_key.jwk(&json!({}))] }))
}
