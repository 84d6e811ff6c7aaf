//! The HTTP edge through `app(state)`, without a socket: errors have one JSON shape, bad input
//! is refused with a reason, internals never leak.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use callbridge::http::{EdgeLimits, app};
use callbridge::state::AppState;
use callbridge_model::TenantId;
use callbridge_store::{KeyId, Keyring, SecretKey, SecretString, SqlStore};
use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "test-admin-token-0123456789";

struct Harness {
    _dir: tempfile::TempDir,
    state: AppState,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let key =
        SecretKey::parse(&SecretKey::generate_spec(&KeyId::parse("k").unwrap()).unwrap()).unwrap();
    let url = format!("sqlite:{}", dir.path().join("db").display());
    let store = SqlStore::connect(&url, Keyring::new(key, []))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let state = AppState::new(store, Some(SecretString::new(TOKEN)), TenantId::generate());
    Harness { _dir: dir, state }
}

impl Harness {
    async fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let limits = EdgeLimits {
            request_timeout: Duration::from_secs(5),
            max_body_bytes: 4096,
        };
        let response = app(self.state.clone(), limits)
            .oneshot(request)
            .await
            .unwrap();
        Self::split(response).await
    }

    async fn split(response: axum::response::Response) -> (StatusCode, HeaderMap, Vec<u8>) {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    async fn json(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, headers, body) = self.send(request).await;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            content_type.starts_with("application/json"),
            "{status} answered {content_type}"
        );
        (status, serde_json::from_slice(&body).unwrap())
    }
}

fn admin(method: &str, uri: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn link_json() -> String {
    json!({
        "slack_team": "T0123ABCD",
        "slack_user": "U0456EFGH",
        "teams_tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "teams_user": "8b4c2a1e-3d5f-4a6b-9c7d-1e2f3a4b5c6d"
    })
    .to_string()
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let h = harness().await;
    let (status, body) = h
        .json(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = h
        .json(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(
        (status, body["ready"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, headers, body) = h
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn readiness_is_false_while_draining_and_when_the_store_is_gone() {
    let h = harness().await;
    h.state.start_draining();
    let (status, body) = h
        .json(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reasons"], json!(["draining"]));

    let h = harness().await;
    h.state.store().close().await;
    let (status, body) = h
        .json(Request::get("/readyz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reasons"], json!(["store_unreachable"]));
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_json_error_shape_with_request_id() {
    let h = harness().await;
    let (status, headers, body) = h
        .send(Request::get("/no/such/route").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(body["error"]["request_id"], id);

    let (status, body) = h
        .json(Request::delete("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn admin_api_needs_the_token() {
    let h = harness().await;
    let (status, body) = h
        .json(Request::get("/api/v1/calls").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let wrong = Request::get("/api/v1/calls")
        .header(header::AUTHORIZATION, "Bearer nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.json(wrong).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = h.json(admin("GET", "/api/v1/calls", "")).await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn links_are_created_listed_refused_twice_and_removed() {
    let h = harness().await;
    let (status, body) = h.json(admin("POST", "/api/v1/links", &link_json())).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["slack_user"], "U0456EFGH");
    let (status, body) = h.json(admin("POST", "/api/v1/links", &link_json())).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["error"]["message"],
        "one of these users is already linked"
    );
    let (_, body) = h.json(admin("GET", "/api/v1/links", "")).await;
    assert_eq!(body.as_array().unwrap().len(), 1);
    let (status, _, _) = h
        .send(admin(
            "DELETE",
            "/api/v1/links/slack/T0123ABCD/U0456EFGH",
            "",
        ))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .json(admin(
            "DELETE",
            "/api/v1/links/slack/T0123ABCD/U0456EFGH",
            "",
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = h
        .json(admin("DELETE", "/api/v1/links/slack/T0123ABCD/bob", ""))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("SlackUserId")
    );
}

#[tokio::test]
async fn bad_bodies_are_refused_with_a_reason() {
    let h = harness().await;
    for (body, expect) in [
        ("{\"slack_team\": ", "EOF"),
        ("[1, 2, 3]", "invalid type"),
        ("{\"slack_team\":\"T0123ABCD\"}", "missing field"),
        (
            "{\"slack_team\":\"nope\",\"slack_user\":\"U0456EFGH\",\"teams_tenant\":\"x\",\"teams_user\":\"y\"}",
            "SlackTeamId",
        ),
        ("\u{0}\u{1}\u{2}", "line 1"),
    ] {
        let (status, json) = h.json(admin("POST", "/api/v1/links", body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(message.contains(expect), "{body:?} gave {message}");
    }
    let plain = Request::post("/api/v1/links")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(link_json()))
        .unwrap();
    assert_eq!(h.json(plain).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!("{{\"slack_team\":\"{}\"}}", "T".repeat(10_000));
    let (status, body) = h.json(admin("POST", "/api/v1/links", &huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");
    let (status, _) = h.json(admin("GET", "/api/v1/cdrs?limit=0", "")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn store_failures_answer_503_without_internals() {
    let h = harness().await;
    h.state.store().close().await;
    let (status, headers, body) = h.send(admin("GET", "/api/v1/calls", "")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let text = String::from_utf8(body).unwrap().to_lowercase();
    assert!(headers.contains_key("x-request-id"));
    for leak in ["pool", "sqlx", "select", "sqlite", "closed"] {
        assert!(!text.contains(leak), "response leaks {leak:?}: {text}");
    }
    assert!(text.contains("temporarily unavailable"));
}

#[tokio::test]
async fn a_body_that_never_ends_is_answered_408() {
    let h = harness().await;
    let limits = EdgeLimits {
        request_timeout: Duration::from_secs(1),
        max_body_bytes: 4096,
    };
    let first = futures::stream::once(async {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"slack_team\""))
    });
    let stalled = first.chain(futures::stream::pending());
    let request = Request::post("/api/v1/links")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stalled))
        .unwrap();
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        app(h.state.clone(), limits).oneshot(request),
    )
    .await
    .expect("the edge must answer before the client gives up")
    .unwrap();
    let (status, _, body) = Harness::split(response).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout");
}
