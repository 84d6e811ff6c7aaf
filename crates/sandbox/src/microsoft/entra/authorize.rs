//! The interactive pages: authorize + consent (auth code flow, §1.3) and admin consent (§1.5).
//! The pages are plain HTML forms posting back to the same URL, so a test or a browser can drive
//! them; the redirects carry exactly the documented parameters.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;

use super::scopes::delegated_scopes;
use super::{CODE_LIFETIME_SECS, CodeGrant};
use crate::microsoft::seed::{AppSeed, TenantSeed};
use crate::microsoft::state::{MicrosoftState, lock};

type Params = HashMap<String, String>;

/// A request that failed before its redirect URI could be trusted: shown on the page.
fn error_page(code: u32, message: &str) -> Response {
    let body = format!(
        "<!doctype html><title>Sign in to your account</title><h1>Sorry, but we're having trouble signing you in.</h1><p>AADSTS{code}: {}</p>",
        escape(message)
    );
    (StatusCode::BAD_REQUEST, Html(body)).into_response()
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Validates tenant, client and redirect URI; errors here are never redirected.
fn trusted_client<'s>(
    state: &'s MicrosoftState,
    tenant: &str,
    params: &Params,
) -> Result<(&'s TenantSeed, &'s AppSeed, String), Box<Response>> {
    let directory = &state.inner.directory;
    let client_id = params.get("client_id").map(String::as_str).unwrap_or("");
    let Some((home, app)) = directory.app(client_id) else {
        return Err(Box::new(error_page(
            700_016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            ),
        )));
    };
    let tenant_ok = directory.tenant(tenant).is_some_and(|t| t.id == home.id)
        || tenant.eq_ignore_ascii_case("organizations")
        || tenant.eq_ignore_ascii_case("common");
    if !tenant_ok {
        return Err(Box::new(error_page(
            90_002,
            &format!("Tenant '{tenant}' not found."),
        )));
    }
    let redirect_uri = params.get("redirect_uri").cloned().unwrap_or_default();
    if !app.redirect_uris.iter().any(|r| r == &redirect_uri) {
        return Err(Box::new(error_page(
            50_011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{}'.",
                app.client_id
            ),
        )));
    }
    Ok((home, app, redirect_uri))
}

/// Builds the redirect back to the app in the requested response mode.
fn redirect(redirect_uri: &str, mode: &str, pairs: &[(&str, &str)]) -> Response {
    let encoded: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    if mode == "form_post" {
        let inputs: String = hidden_inputs(pairs.iter().copied());
        let page = format!(
            r#"<!doctype html><body onload="document.forms[0].submit()"><form method="post" action="{}">{inputs}</form></body>"#,
            escape(redirect_uri)
        );
        return Html(page).into_response();
    }
    let separator = if mode == "fragment" {
        '#'
    } else if redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{redirect_uri}{separator}{encoded}");
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Hidden form fields carrying `pairs`, escaped, for the pages that post values onward.
fn hidden_inputs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape(k),
                escape(v)
            )
        })
        .collect()
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: checks the request and shows the consent page.
pub(super) async fn authorize_page(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let Checked {
        home,
        app,
        redirect_uri,
        mode,
        state_param,
    } = match checked_request(&state, &tenant, &params) {
        Ok(checked) => checked,
        Err(response) => return *response,
    };
    // Silent sign-in: a hinted user who already consented gets a code without a page.
    if params.get("prompt").map(String::as_str) == Some("none") {
        let hinted = params
            .get("login_hint")
            .and_then(|hint| home.users.iter().find(|u| u.upn.eq_ignore_ascii_case(hint)));
        let consented = hinted.is_some_and(|user| {
            lock(&state.inner.entra)
                .user_consents
                .contains(&(user.id.clone(), app.client_id.clone()))
        });
        return match hinted {
            Some(user) if consented => {
                let code = issue_code(&state, home, app, &redirect_uri, &params, &user.id);
                redirect(
                    &redirect_uri,
                    mode,
                    &[("code", &code), ("state", &state_param)],
                )
            }
            _ => redirect(
                &redirect_uri,
                mode,
                &[
                    ("error", "interaction_required"),
                    (
                        "error_description",
                        "AADSTS50058: A silent sign-in request was sent but no user is signed in.",
                    ),
                    ("state", &state_param),
                ],
            ),
        };
    }
    let hidden: String = hidden_inputs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let users: String = home
        .users
        .iter()
        .map(|u| {
            format!(
                r#"<option value="{}">{} ({})</option>"#,
                escape(&u.id),
                escape(&u.display_name),
                escape(&u.upn)
            )
        })
        .collect();
    let scopes = escape(params.get("scope").map_or("", String::as_str));
    let page = format!(
        r#"<!doctype html><title>Permissions requested</title>
<h1>Permissions requested</h1><p>{app_name} wants to: <code>{scopes}</code></p>
<form method="post">{hidden}<label>Sign in as <select name="sandbox_user">{users}</select></label>
<button name="sandbox_decision" value="accept">Accept</button>
<button name="sandbox_decision" value="cancel">Cancel</button></form>"#,
        app_name = escape(&app.display_name),
    );
    Html(page).into_response()
}

/// The parameters a trusted client can still get wrong; answered by redirect.
/// An authorization request from a trusted client whose parameters passed the checks.
struct Checked<'s, 'p> {
    home: &'s TenantSeed,
    app: &'s AppSeed,
    redirect_uri: String,
    /// `query` or `fragment`: how the answer goes back to the redirect URI.
    mode: &'p str,
    /// The client's `state`, echoed back exactly.
    state_param: String,
}

/// The checks both the consent page and its decision make: an untrusted client gets an error
/// page (never a redirect), a bad request is redirected back with the OAuth error.
fn checked_request<'s, 'p>(
    state: &'s MicrosoftState,
    tenant: &str,
    params: &'p Params,
) -> Result<Checked<'s, 'p>, Box<Response>> {
    let (home, app, redirect_uri) = trusted_client(state, tenant, params)?;
    let mode = params.get("response_mode").map_or("query", String::as_str);
    let state_param = params.get("state").cloned().unwrap_or_default();
    if let Err(error) = check_request(params) {
        return Err(Box::new(redirect(
            &redirect_uri,
            mode,
            &[
                ("error", error.0),
                ("error_description", &error.1),
                ("state", &state_param),
            ],
        )));
    }
    Ok(Checked {
        home,
        app,
        redirect_uri,
        mode,
        state_param,
    })
}

fn check_request(params: &Params) -> Result<(), (&'static str, String)> {
    if params.get("response_type").map(String::as_str) != Some("code") {
        return Err((
            "unsupported_response_type",
            "AADSTS70005: response_type 'token' is not enabled for the application, only 'code' is supported here.".to_owned(),
        ));
    }
    let Some(scope) = params.get("scope").filter(|s| !s.is_empty()) else {
        return Err((
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'scope'."
                .to_owned(),
        ));
    };
    if delegated_scopes(scope).is_none() {
        return Err((
            "invalid_scope",
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid."
                .to_owned(),
        ));
    }
    if let Some(method) = params.get("code_challenge_method")
        && !matches!(method.as_str(), "S256" | "plain")
    {
        return Err((
            "invalid_request",
            "AADSTS501491: Invalid size of Code_Challenge parameter or unsupported code_challenge_method.".to_owned(),
        ));
    }
    Ok(())
}

fn issue_code(
    state: &MicrosoftState,
    tenant: &TenantSeed,
    app: &AppSeed,
    redirect_uri: &str,
    params: &Params,
    user_id: &str,
) -> String {
    let code = format!("1.{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 64]>()));
    let scopes = params
        .get("scope")
        .and_then(|s| delegated_scopes(s))
        .unwrap_or_default();
    let challenge = params.get("code_challenge").map(|c| {
        let method = params
            .get("code_challenge_method")
            .cloned()
            .unwrap_or_else(|| "plain".to_owned());
        (c.clone(), method)
    });
    let grant = CodeGrant {
        tenant_id: tenant.id.clone(),
        client_id: app.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        code_challenge: challenge,
        user_id: user_id.to_owned(),
        nonce: params.get("nonce").cloned(),
        expires_at: state.inner.clock.now_utc() + Duration::seconds(CODE_LIFETIME_SECS),
        redeemed: false,
    };
    lock(&state.inner.entra).codes.insert(code.clone(), grant);
    code
}

/// `POST /{tenant}/oauth2/v2.0/authorize`: the consent page's Accept/Cancel.
pub(super) async fn authorize_decision(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let params: Params = url::form_urlencoded::parse(&body).into_owned().collect();
    let Checked {
        home,
        app,
        redirect_uri,
        mode,
        state_param,
    } = match checked_request(&state, &tenant, &params) {
        Ok(checked) => checked,
        Err(response) => return *response,
    };
    let user = params
        .get("sandbox_user")
        .and_then(|id| home.users.iter().find(|u| &u.id == id));
    match (params.get("sandbox_decision").map(String::as_str), user) {
        (Some("accept"), Some(user)) => {
            lock(&state.inner.entra)
                .user_consents
                .insert((user.id.clone(), app.client_id.clone()));
            let code = issue_code(&state, home, app, &redirect_uri, &params, &user.id);
            redirect(
                &redirect_uri,
                mode,
                &[("code", &code), ("state", &state_param)],
            )
        }
        _ => redirect(
            &redirect_uri,
            mode,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "AADSTS65004: User declined to consent to access the app.",
                ),
                ("state", &state_param),
            ],
        ),
    }
}

/// `GET /{tenant}/adminconsent` (v1 style, application permissions).
pub(super) async fn admin_consent_page(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    consent_page(&state, &tenant, &params, false)
}

/// `GET /{tenant}/v2.0/adminconsent` (requires `scope`).
pub(super) async fn admin_consent_page_v2(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    consent_page(&state, &tenant, &params, true)
}

fn consent_page(state: &MicrosoftState, tenant: &str, params: &Params, v2: bool) -> Response {
    let (_, app, redirect_uri) = match trusted_client(state, tenant, params) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    if v2 && params.get("scope").is_none_or(String::is_empty) {
        return redirect(
            &redirect_uri,
            "query",
            &[
                ("error", "invalid_request"),
                (
                    "error_description",
                    "AADSTS900144: The request body must contain the following parameter: 'scope'.",
                ),
                ("state", params.get("state").map_or("", String::as_str)),
            ],
        );
    }
    let hidden: String = hidden_inputs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let page = format!(
        r#"<!doctype html><title>Permissions requested - Accept for your organization</title>
<h1>{} needs permission to access resources in your organization</h1><p>{}</p>
<form method="post">{hidden}<button name="sandbox_decision" value="accept">Accept</button>
<button name="sandbox_decision" value="cancel">Cancel</button></form>"#,
        escape(&app.display_name),
        escape(&app.application_permissions.join(", ")),
    );
    Html(page).into_response()
}

/// `POST /{tenant}/adminconsent`.
pub(super) async fn admin_consent_decision(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    consent_decision(&state, &tenant, &body, false)
}

/// `POST /{tenant}/v2.0/adminconsent`.
pub(super) async fn admin_consent_decision_v2(
    State(state): State<MicrosoftState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    consent_decision(&state, &tenant, &body, true)
}

fn consent_decision(state: &MicrosoftState, tenant: &str, body: &[u8], v2: bool) -> Response {
    let params: Params = url::form_urlencoded::parse(body).into_owned().collect();
    let (home, app, redirect_uri) = match trusted_client(state, tenant, &params) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let state_param = params.get("state").cloned().unwrap_or_default();
    if params.get("sandbox_decision").map(String::as_str) != Some("accept") {
        return redirect(
            &redirect_uri,
            "query",
            &[
                ("error", "permission_denied"),
                (
                    "error_description",
                    "AADSTS65004: The admin canceled the consent request.",
                ),
                ("state", &state_param),
            ],
        );
    }
    {
        let mut book = lock(&state.inner.entra);
        book.admin_consents
            .insert((home.id.clone(), app.client_id.clone()));
        book.consent_revoked.remove(&app.client_id);
    }
    let scope = params.get("scope").cloned().unwrap_or_default();
    let mut pairs = vec![
        ("tenant", home.id.as_str()),
        ("state", state_param.as_str()),
        ("admin_consent", "True"),
    ];
    if v2 {
        pairs.push(("scope", scope.as_str()));
    }
    redirect(&redirect_uri, "query", &pairs)
}
