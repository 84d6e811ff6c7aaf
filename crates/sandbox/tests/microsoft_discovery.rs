//! OpenID discovery per authority, as Entra answers it (reference `teams-graph.md` §1.1): the
//! `{tenantid}` issuer placeholder belongs only to the multi-tenant authorities `common` and
//! `organizations`; a tenant's GUID or verified domain names the tenant itself; a tenant that
//! does not exist is refused with 400 `invalid_tenant` (AADSTS90002, §1.4), which Microsoft's
//! client libraries rely on to refuse an authority.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use callbridge_sandbox::microsoft::{MicrosoftSeed, MicrosoftState, router};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const TENANT: &str = "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b";

fn app() -> Router {
    router(MicrosoftState::new(MicrosoftSeed::demo(), "http://sandbox.test").unwrap())
}

async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn unknown_tenant_discovery_is_refused_with_invalid_tenant() {
    let app = app();
    for path in [
        "/00000000-1111-2222-3333-444444444444/v2.0/.well-known/openid-configuration",
        "/no-such-tenant.example/v2.0/.well-known/openid-configuration",
        "/no-such-tenant.example/.well-known/openid-configuration",
    ] {
        let (status, body) = get(&app, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body["error"], "invalid_tenant", "{path}");
        assert_eq!(body["error_codes"][0], 90002, "{path}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with("AADSTS90002:"), "{description}");
        assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
        assert!(body.get("issuer").is_none());
    }
}

#[tokio::test]
async fn placeholder_issuer_only_for_multi_tenant_authorities() {
    let app = app();
    for authority in ["common", "organizations", "Common"] {
        let (status, body) = get(
            &app,
            &format!("/{authority}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{authority}");
        assert_eq!(
            body["issuer"], "https://login.microsoftonline.com/{tenantid}/v2.0",
            "{authority}"
        );
    }
    for authority in [TENANT, "contoso.test"] {
        let (status, body) = get(
            &app,
            &format!("/{authority}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{authority}");
        assert_eq!(
            body["issuer"],
            format!("https://login.microsoftonline.com/{TENANT}/v2.0")
        );
        let (_, v1) = get(
            &app,
            &format!("/{authority}/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(v1["issuer"], format!("https://sts.windows.net/{TENANT}/"));
    }
    // Personal accounts have a tenant of their own, never the placeholder.
    let (status, body) = get(&app, "/consumers/v2.0/.well-known/openid-configuration").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["issuer"],
        "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    );
}
