//! Entra ID v2.0 against the documented behaviour (reference `teams-graph.md` §1).

use std::time::Duration;

use aws_lc_rs::digest;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use callbridge_sandbox::microsoft::{MicrosoftSeed, MicrosoftState, router};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tower::ServiceExt;

const TENANT: &str = "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b";
const CLIENT: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";
const SECRET: &str = "sandbox-secret-change-me";
const REDIRECT: &str = "http://localhost:8080/teams/oauth/callback";
const ALICE: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";

fn sandbox() -> (MicrosoftState, Router) {
    let state = MicrosoftState::new(MicrosoftSeed::demo(), "http://sandbox.test").unwrap();
    (state.clone(), router(state))
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String, axum::http::HeaderMap) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), headers)
}

async fn form(app: &Router, path: &str, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let request = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let (status, text, _) = send(app, request).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get_json(app: &Router, path: &str) -> Value {
    let (status, text, _) = send(app, Request::get(path).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

fn aadsts(body: &Value) -> (String, u64) {
    (
        body["error"].as_str().unwrap_or_default().to_owned(),
        body["error_codes"][0].as_u64().unwrap_or_default(),
    )
}

async fn decoding_key(app: &Router) -> DecodingKey {
    let metadata = get_json(
        app,
        &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    let jwks_uri = metadata["jwks_uri"].as_str().unwrap();
    let path = jwks_uri.strip_prefix("http://sandbox.test").unwrap();
    let jwks = get_json(app, path).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
        .unwrap()
}

#[tokio::test]
async fn client_credentials_token_is_a_signed_jwt_with_documented_claims() {
    let (_, app) = sandbox();
    let (status, body) = form(
        &app,
        &token_path(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();

    let key = decoding_key(&app).await;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["https://graph.microsoft.com"]);
    validation.set_issuer(&[format!("https://sts.windows.net/{TENANT}/")]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["tid"], TENANT);
    assert_eq!(claims["appid"], CLIENT);
    assert_eq!(claims["idtyp"], "app");
    assert!(
        claims["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Presence.ReadWrite.All")
    );

    // Every tampering fails: payload swapped, signature bit flipped, alg none.
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    forged["roles"] = serde_json::json!(["Directory.ReadWrite.All"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    assert!(jsonwebtoken::decode::<Value>(&forged, &key, &validation).is_err());
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[0] ^= 0x80;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    assert!(jsonwebtoken::decode::<Value>(&flipped, &key, &validation).is_err());
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert!(jsonwebtoken::decode::<Value>(&none, &key, &validation).is_err());
    // And Graph itself refuses the forged token.
    let request = Request::get(format!("/v1.0/users/{ALICE}"))
        .header("authorization", format!("Bearer {forged}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn token_endpoint_misuse_gets_the_documented_aadsts_errors() {
    let (state, app) = sandbox();
    let graph_default = "https://graph.microsoft.com/.default";
    let cases: Vec<Case<'_>> = vec![
        (
            token_path(),
            vec![("client_id", CLIENT)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_144,
        ),
        (
            token_path(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", "wrong"),
                ("scope", graph_default),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7_000_215,
        ),
        (
            token_path(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", "00000000-0000-0000-0000-000000000000"),
                ("client_secret", SECRET),
                ("scope", graph_default),
            ],
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
        ),
        (
            "/common/oauth2/v2.0/token".to_owned(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", graph_default),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50_059,
        ),
        (
            token_path(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", "https://graph.microsoft.com/User.Read"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1_002_012,
        ),
        (
            token_path(),
            vec![
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
            ],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70_003,
        ),
        (
            "/nope.example/oauth2/v2.0/token".to_owned(),
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
                ("scope", graph_default),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90_002,
        ),
    ];
    for (path, pairs, status, error, code) in cases {
        let (got_status, body) = form(&app, &path, &pairs).await;
        assert_eq!(
            (got_status, aadsts(&body)),
            (status, (error.to_owned(), code)),
            "{pairs:?}"
        );
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(&format!("AADSTS{code}: ")),
            "{description}"
        );
        assert!(description.contains("\r\nTrace ID: "));
        assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
    }
    state.revoke_consent(CLIENT);
    let (_, body) = form(
        &app,
        &token_path(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", graph_default),
        ],
    )
    .await;
    assert_eq!(aadsts(&body).1, 65_001);
}

/// Path, form, expected status, `error` and AADSTS code.
type Case<'a> = (String, Vec<(&'a str, &'a str)>, StatusCode, &'a str, u64);

fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    (verifier, challenge)
}

/// Walks the consent page as Alice and returns the code from the redirect.
async fn consent(app: &Router, challenge: &str, redirect_uri: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("client_id", CLIENT),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            (
                "scope",
                "openid offline_access https://graph.microsoft.com/Presence.Read.All",
            ),
            ("state", "xyz"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let authorize = format!("/{TENANT}/oauth2/v2.0/authorize?{query}");
    let (status, page, _) = send(app, Request::get(&authorize).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<form method=\"post\"") && page.contains(ALICE));
    let decision = format!("{query}&sandbox_user={ALICE}&sandbox_decision=accept");
    let request = Request::post(&authorize)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(decision))
        .unwrap();
    let (status, _, headers) = send(app, request).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = url::Url::parse(headers["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT));
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(pairs["state"], "xyz");
    pairs["code"].clone()
}

#[tokio::test]
async fn authorization_code_with_pkce_is_one_time_and_refresh_rotates() {
    let (state, app) = sandbox();
    let (verifier, challenge) = pkce();
    let code = consent(&app, &challenge, REDIRECT).await;
    let redeem = |code: String, verifier: String, redirect: &'static str| {
        let app = app.clone();
        async move {
            form(
                &app,
                &token_path(),
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", CLIENT),
                    ("client_secret", SECRET),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", &verifier),
                    ("scope", "https://graph.microsoft.com/Presence.Read.All"),
                ],
            )
            .await
        }
    };
    let (status, tokens) = redeem(code.clone(), verifier.clone(), REDIRECT).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["id_token"].is_string());
    assert_eq!(
        tokens["scope"],
        "https://graph.microsoft.com/Presence.Read.All"
    );
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                tokens["access_token"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .nth(1)
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (claims["scp"].as_str(), claims["oid"].as_str()),
        (Some("Presence.Read.All"), Some(ALICE))
    );

    // One-time: the same code again is AADSTS54005.
    assert_eq!(
        aadsts(&redeem(code, verifier.clone(), REDIRECT).await.1).1,
        54_005
    );
    // PKCE: a wrong verifier fails.
    let code = consent(&app, &challenge, REDIRECT).await;
    assert_eq!(
        aadsts(&redeem(code, "wrong".to_owned(), REDIRECT).await.1).1,
        501_481
    );
    // Codes expire after ten minutes of sandbox time.
    let code = consent(&app, &challenge, REDIRECT).await;
    state.clock().advance(Duration::from_secs(601));
    assert_eq!(aadsts(&redeem(code, verifier, REDIRECT).await.1).1, 70_008);

    // Refresh: a new refresh token each time; scopes may only shrink.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, renewed) = form(
        &app,
        &token_path(),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("refresh_token", refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"]);
    let (_, wider) = form(
        &app,
        &token_path(),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("refresh_token", refresh),
            ("scope", "https://graph.microsoft.com/User.ReadWrite.All"),
        ],
    )
    .await;
    assert_eq!(aadsts(&wider), ("invalid_scope".to_owned(), 70_011));
}

#[tokio::test]
async fn authorize_refuses_an_unregistered_redirect_without_redirecting() {
    let (_, app) = sandbox();
    let query = format!(
        "client_id={CLIENT}&response_type=code&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid"
    );
    let (status, page, headers) = send(
        &app,
        Request::get(format!("/{TENANT}/oauth2/v2.0/authorize?{query}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("AADSTS50011"));
    assert!(headers.get("location").is_none());
}

#[tokio::test]
async fn admin_consent_redirect_grants_application_permissions() {
    let (state, app) = sandbox();
    state.revoke_consent(CLIENT);
    let query = format!(
        "client_id={CLIENT}&state=s1&redirect_uri={}",
        urlencode(REDIRECT)
    );
    let (status, page, _) = send(
        &app,
        Request::get(format!("/{TENANT}/adminconsent?{query}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Presence.ReadWrite.All"));
    let request = Request::post(format!("/{TENANT}/adminconsent"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("{query}&sandbox_decision=accept")))
        .unwrap();
    let (status, _, headers) = send(&app, request).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = headers["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!("{REDIRECT}?tenant={TENANT}&state=s1&admin_consent=True")
    );
    let (status, _) = form(
        &app,
        &token_path(),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
