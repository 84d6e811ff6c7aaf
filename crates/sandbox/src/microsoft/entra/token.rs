//! `POST /{tenant}/oauth2/v2.0/token`: client credentials, authorization code + PKCE and
//! refresh tokens (reference `teams-graph.md` §1.2–§1.4, §1.6, §5.3).

use std::collections::HashMap;

use aws_lc_rs::digest;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Duration;
use serde_json::{Value, json};

use super::scopes::{
    BOT_RESOURCE, GRAPH_RESOURCE, default_scope_resource, delegated_scopes, graph_permissions,
    scope_string,
};
use super::{ACCESS_TOKEN_SECS, Aadsts, CodeGrant, REFRESH_TOKEN_SECS, RefreshGrant};
use crate::microsoft::directory::BOTFRAMEWORK_TENANT;
use crate::microsoft::seed::{AppSeed, TenantSeed, UserSeed};
use crate::microsoft::state::{MicrosoftState, lock};

type Form = HashMap<String, String>;

/// The token endpoint.
pub(super) async fn token(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.inner.clock.now_utc();
    match issue(&state, &tenant, &headers, &body) {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response_at(now),
    }
}

fn issue(
    state: &MicrosoftState,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Aadsts> {
    let mut form: Form = url::form_urlencoded::parse(body).into_owned().collect();
    if let Some((id, secret)) = basic_credentials(headers) {
        form.entry("client_id".to_owned()).or_insert(id);
        form.entry("client_secret".to_owned()).or_insert(secret);
    }
    let grant_type = required(&form, "grant_type")?;
    let client_id = required(&form, "client_id")?;
    let (tenant, app) = resolve_client(state, tenant, client_id, grant_type)?;
    if lock(&state.inner.entra)
        .consent_revoked
        .contains(&app.client_id)
    {
        return Err(Aadsts::new(
            "invalid_grant",
            65_001,
            format!(
                "The user or administrator has not consented to use the application with ID '{}'.",
                app.client_id
            ),
        ));
    }
    match grant_type {
        "client_credentials" => {
            authenticate_client(&form, app)?;
            client_credentials(state, &form, tenant, app)
        }
        "authorization_code" => {
            authenticate_client(&form, app)?;
            authorization_code(state, &form, tenant, app)
        }
        "refresh_token" => {
            authenticate_client(&form, app)?;
            refresh(state, &form, tenant, app)
        }
        other => Err(Aadsts::new(
            "unsupported_grant_type",
            70_003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

fn required<'a>(form: &'a Form, name: &str) -> Result<&'a str, Aadsts> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Aadsts::missing(name))
}

/// RFC 6749 §2.3.1 HTTP Basic client authentication.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = url::form_urlencoded::parse(format!("a={id}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    let secret = url::form_urlencoded::parse(format!("a={secret}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())?;
    Some((id, secret))
}

/// Finds the tenant named in the URL and the app within it (§1.1).
fn resolve_client<'s>(
    state: &'s MicrosoftState,
    tenant: &str,
    client_id: &str,
    grant_type: &str,
) -> Result<(&'s TenantSeed, &'s AppSeed), Aadsts> {
    let directory = &state.inner.directory;
    let unknown_app = || {
        Aadsts::new(
            "unauthorized_client",
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        )
    };
    let (home, app) = directory.app(client_id).ok_or_else(unknown_app)?;
    let lower = tenant.to_ascii_lowercase();
    match lower.as_str() {
        "common" | "organizations" | "consumers" => {
            if grant_type == "client_credentials" {
                return Err(Aadsts::new(
                    "invalid_request",
                    50_059,
                    "No tenant-identifying information found in either the request or implied by any provided credentials.",
                ));
            }
            // Every seeded app is single-tenant (§0.7: no new multi-tenant registrations).
            Err(Aadsts::new(
                "invalid_request",
                50_194,
                format!(
                    "Application '{client_id}'({}) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.",
                    app.display_name
                ),
            ))
        }
        // Single-tenant bots may still use the Bot Framework authority for connector tokens.
        "botframework.com" | BOTFRAMEWORK_TENANT => Ok((home, app)),
        _ => {
            let named = directory.tenant(tenant).ok_or_else(|| {
                Aadsts::new(
                    "invalid_request",
                    90_002,
                    format!(
                        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                    ),
                )
            })?;
            if named.id != home.id {
                return Err(unknown_app());
            }
            Ok((home, app))
        }
    }
}

fn authenticate_client(form: &Form, app: &AppSeed) -> Result<(), Aadsts> {
    let secret = form.get("client_secret").ok_or_else(|| {
        Aadsts::new(
            "invalid_client",
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    })?;
    // Constant-time comparison, as a real STS would do.
    let equal = secret.len() == app.client_secret.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(
            secret.as_bytes(),
            app.client_secret.as_bytes(),
        )
        .is_ok();
    if !equal {
        return Err(Aadsts::new(
            "invalid_client",
            7_000_215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                app.client_id
            ),
        ));
    }
    Ok(())
}

fn client_credentials(
    state: &MicrosoftState,
    form: &Form,
    tenant: &TenantSeed,
    app: &AppSeed,
) -> Result<Value, Aadsts> {
    let scope = required(form, "scope")?;
    let resource = default_scope_resource(scope).ok_or_else(|| {
        Aadsts::new(
            "invalid_scope",
            1_002_012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    })?;
    let roles: Vec<String> = if resource == GRAPH_RESOURCE {
        let consented = lock(&state.inner.entra)
            .admin_consents
            .contains(&(tenant.id.clone(), app.client_id.clone()));
        if !consented {
            return Err(Aadsts::new(
                "invalid_grant",
                65_001,
                format!(
                    "The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource.",
                    app.client_id, app.display_name
                ),
            ));
        }
        app.application_permissions.clone()
    } else {
        Vec::new()
    };
    let token = mint_app_token(state, tenant, app, resource, &roles)?;
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECS,
        "ext_expires_in": ACCESS_TOKEN_SECS,
        "access_token": token,
    }))
}

/// An app-only access token for `resource` (v1 format, §1.6 / §5.3).
pub(crate) fn mint_app_token(
    state: &MicrosoftState,
    tenant: &TenantSeed,
    app: &AppSeed,
    resource: &str,
    roles: &[String],
) -> Result<String, Aadsts> {
    let now = state.inner.clock.unix();
    let oid = lock(&state.inner.entra)
        .service_principals
        .get(&app.client_id)
        .cloned()
        .unwrap_or_default();
    let issuer = format!("https://sts.windows.net/{}/", tenant.id);
    let mut claims = json!({
        "aud": resource, "iss": issuer, "idp": issuer,
        "iat": now, "nbf": now, "exp": now + ACCESS_TOKEN_SECS,
        "app_displayname": app.display_name, "appid": app.client_id, "appidacr": "1",
        "idtyp": "app", "oid": oid, "sub": oid, "tid": tenant.id,
        "uti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()), "ver": "1.0",
    });
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    if resource == BOT_RESOURCE {
        claims["serviceurl"] = json!(format!("{}/", state.inner.base_url));
    }
    state.inner.entra_key.mint(&claims).map_err(server_error)
}

fn server_error(error: impl std::fmt::Display) -> Aadsts {
    Aadsts::new("temporarily_unavailable", 90_033, error.to_string())
}

fn authorization_code(
    state: &MicrosoftState,
    form: &Form,
    tenant: &TenantSeed,
    app: &AppSeed,
) -> Result<Value, Aadsts> {
    let code = required(form, "code")?;
    let redirect_uri = required(form, "redirect_uri")?;
    let now = state.inner.clock.now_utc();
    let grant = {
        let mut book = lock(&state.inner.entra);
        let grant = book.codes.get_mut(code).ok_or_else(|| {
            Aadsts::new(
                "invalid_grant",
                9_002_313,
                "Invalid request. Request is malformed or invalid.",
            )
        })?;
        if grant.redeemed {
            return Err(Aadsts::new(
                "invalid_grant",
                54_005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            ));
        }
        if grant.expires_at <= now {
            return Err(Aadsts::new(
                "invalid_grant",
                70_008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
            ));
        }
        if grant.client_id != app.client_id || grant.tenant_id != tenant.id {
            return Err(Aadsts::new(
                "invalid_grant",
                70_000,
                "The provided value for the 'code' parameter is not valid.",
            ));
        }
        // A code is spent by any redemption attempt that reaches the checks below.
        grant.redeemed = true;
        grant.clone()
    };
    if grant.redirect_uri != redirect_uri {
        return Err(Aadsts::new(
            "invalid_grant",
            500_112,
            "The reply address does not match the reply address provided when requesting Authorization code.",
        ));
    }
    check_pkce(&grant, form.get("code_verifier").map(String::as_str))?;
    let scopes = match form.get("scope") {
        Some(scope) => {
            let requested = delegated_scopes(scope).ok_or_else(invalid_scope)?;
            if !requested.iter().all(|s| grant.scopes.contains(s)) {
                return Err(invalid_scope());
            }
            grant.scopes.clone()
        }
        None => grant.scopes.clone(),
    };
    let user = state
        .inner
        .directory
        .user_in(&tenant.id, &grant.user_id)
        .ok_or_else(|| server_error("user vanished"))?;
    user_tokens(state, tenant, app, user, &scopes, grant.nonce.as_deref())
}

fn invalid_scope() -> Aadsts {
    Aadsts::new(
        "invalid_scope",
        70_011,
        "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid.",
    )
}

fn check_pkce(grant: &CodeGrant, verifier: Option<&str>) -> Result<(), Aadsts> {
    let Some((challenge, method)) = &grant.code_challenge else {
        return Ok(());
    };
    let Some(verifier) = verifier else {
        return Err(Aadsts::missing("code_verifier"));
    };
    let computed = if method.eq_ignore_ascii_case("S256") {
        URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
    } else {
        verifier.to_owned()
    };
    if &computed != challenge {
        return Err(Aadsts::new(
            "invalid_grant",
            501_481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        ));
    }
    Ok(())
}

fn refresh(
    state: &MicrosoftState,
    form: &Form,
    tenant: &TenantSeed,
    app: &AppSeed,
) -> Result<Value, Aadsts> {
    let token = required(form, "refresh_token")?;
    let now = state.inner.clock.now_utc();
    let grant = lock(&state.inner.entra)
        .refresh_tokens
        .get(token)
        .cloned()
        .ok_or_else(|| {
            Aadsts::new(
                "invalid_grant",
                9_002_313,
                "Invalid request. Request is malformed or invalid.",
            )
        })?;
    if grant.client_id != app.client_id || grant.tenant_id != tenant.id {
        return Err(Aadsts::new(
            "invalid_grant",
            70_000,
            "The refresh token was issued to a different client or tenant.",
        ));
    }
    if grant.expires_at <= now {
        return Err(Aadsts::new(
            "invalid_grant",
            700_082,
            "The refresh token has expired due to inactivity. The token was issued and was inactive for 90.00:00:00.",
        ));
    }
    let scopes = match form.get("scope") {
        Some(scope) => {
            let requested = delegated_scopes(scope).ok_or_else(invalid_scope)?;
            if !requested.iter().all(|s| grant.scopes.contains(s)) {
                return Err(invalid_scope());
            }
            // offline_access must survive so the new response carries a refresh token again.
            let mut scopes = requested;
            if !scopes.iter().any(|s| s == "offline_access") {
                scopes.push("offline_access".to_owned());
            }
            scopes
        }
        None => grant.scopes.clone(),
    };
    let user = state
        .inner
        .directory
        .user_in(&tenant.id, &grant.user_id)
        .ok_or_else(|| server_error("user vanished"))?;
    user_tokens(state, tenant, app, user, &scopes, None)
}

/// Access token (+ refresh token with `offline_access`, + id token with `openid`) for a user.
fn user_tokens(
    state: &MicrosoftState,
    tenant: &TenantSeed,
    app: &AppSeed,
    user: &UserSeed,
    scopes: &[String],
    nonce: Option<&str>,
) -> Result<Value, Aadsts> {
    let now = state.inner.clock.unix();
    let issuer = format!("https://sts.windows.net/{}/", tenant.id);
    let permissions = graph_permissions(scopes);
    let claims = json!({
        "aud": GRAPH_RESOURCE, "iss": issuer, "idp": issuer,
        "iat": now, "nbf": now, "exp": now + ACCESS_TOKEN_SECS,
        "amr": ["pwd"], "app_displayname": app.display_name, "appid": app.client_id,
        "appidacr": "1", "idtyp": "user", "name": user.display_name,
        "given_name": user.given_name, "family_name": user.surname,
        "oid": user.id, "sub": user.id, "tid": tenant.id,
        "scp": permissions.join(" "), "unique_name": user.upn, "upn": user.upn,
        "uti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()), "ver": "1.0",
    });
    let access_token = state.inner.entra_key.mint(&claims).map_err(server_error)?;
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scope_string(&permissions),
        "expires_in": ACCESS_TOKEN_SECS,
        "ext_expires_in": ACCESS_TOKEN_SECS,
        "access_token": access_token,
    });
    if scopes.iter().any(|s| s == "offline_access") {
        let refresh_token = format!("1.{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 48]>()));
        lock(&state.inner.entra).refresh_tokens.insert(
            refresh_token.clone(),
            RefreshGrant {
                tenant_id: tenant.id.clone(),
                client_id: app.client_id.clone(),
                user_id: user.id.clone(),
                scopes: scopes.to_vec(),
                expires_at: state.inner.clock.now_utc() + Duration::seconds(REFRESH_TOKEN_SECS),
            },
        );
        body["refresh_token"] = json!(refresh_token);
    }
    if scopes.iter().any(|s| s == "openid") {
        let mut id_claims = json!({
            "aud": app.client_id,
            "iss": format!("https://login.microsoftonline.com/{}/v2.0", tenant.id),
            "iat": now, "nbf": now, "exp": now + ACCESS_TOKEN_SECS,
            "name": user.display_name, "oid": user.id, "preferred_username": user.upn,
            "sub": user.id, "tid": tenant.id, "ver": "2.0",
        });
        if let Some(nonce) = nonce {
            id_claims["nonce"] = json!(nonce);
        }
        body["id_token"] = json!(
            state
                .inner
                .entra_key
                .mint(&id_claims)
                .map_err(server_error)?
        );
    }
    Ok(body)
}
