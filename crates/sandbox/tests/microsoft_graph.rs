//! Graph users and presence against the documented behaviour (reference `teams-graph.md` §3,
//! §6, §7).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use callbridge_sandbox::control::{FaultAction, FaultRule};
use callbridge_sandbox::microsoft::{MicrosoftSeed, MicrosoftState, PresenceState, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TENANT: &str = "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b";
const CLIENT: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";
const SECRET: &str = "sandbox-secret-change-me";
const ALICE: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
const BOB: &str = "4a3b2c1d-6e5f-4a70-9b8c-1d0e2f3a4b5c";

struct Graph {
    state: MicrosoftState,
    app: Router,
    token: String,
}

impl Graph {
    async fn new() -> Self {
        let state = MicrosoftState::new(MicrosoftSeed::demo(), "http://sandbox.test").unwrap();
        let app = router(state.clone());
        let body = format!(
            "grant_type=client_credentials&client_id={CLIENT}&client_secret={SECRET}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        );
        let request = Request::post(format!("/{TENANT}/oauth2/v2.0/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        let (_, token, _) = send(&app, request).await;
        let token = token["access_token"].as_str().unwrap().to_owned();
        Self { state, app, token }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value, HeaderMap) {
        let request = Request::get(path)
            .header("authorization", format!("Bearer {}", self.token))
            .body(Body::empty())
            .unwrap();
        send(&self.app, request).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value, HeaderMap) {
        let request = Request::post(path)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        send(&self.app, request).await
    }

    async fn set_presence(
        &self,
        availability: &str,
        activity: &str,
        duration: &str,
    ) -> (StatusCode, Value) {
        let (status, body, _) = self
            .post(
                &format!("/v1.0/users/{ALICE}/presence/setPresence"),
                json!({"sessionId": CLIENT, "availability": availability, "activity": activity, "expirationDuration": duration}),
            )
            .await;
        (status, body)
    }

    fn shown(&self) -> (String, String) {
        let shown = self.state.presence_of(ALICE).unwrap();
        (shown.availability, shown.activity)
    }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value, HeaderMap) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    )
}

fn assert_graph_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string());
    assert!(
        body["error"]["innerError"]["request-id"].is_string(),
        "{body}"
    );
    assert!(body["error"]["innerError"]["date"].is_string(), "{body}");
}

#[tokio::test]
async fn users_by_id_upn_and_mail_filter_with_select() {
    let graph = Graph::new().await;
    let (status, alice, _) = graph
        .get("/v1.0/users/alice@contoso.test?$select=id,mail")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alice["id"], ALICE);
    assert_eq!(alice.as_object().unwrap().len(), 3, "{alice}"); // id, mail, @odata.context
    let (_, full, _) = graph.get(&format!("/v1.0/users/{BOB}")).await;
    assert_eq!(full["businessPhones"], json!(["+14255550102"]));
    assert_eq!(full["userPrincipalName"], "bob@contoso.test");

    let (status, list, _) = graph
        .get("/v1.0/users?$filter=mail%20eq%20%27carol@contoso.test%27&$select=displayName")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["value"], json!([{"displayName": "Carol Clark"}]));

    let (status, missing, _) = graph.get("/v1.0/users/nobody@contoso.test").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_graph_error(&missing, "Request_ResourceNotFound");
    let (status, bad, _) = graph
        .get("/v1.0/users/alice@contoso.test?$select=shoeSize")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_graph_error(&bad, "Request_BadRequest");
    let (status, bad, _) = graph.get("/v1.0/users?$filter=startswith(mail,'a')").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_graph_error(&bad, "Request_UnsupportedQuery");
}

#[tokio::test]
async fn missing_and_expired_tokens_get_401() {
    let graph = Graph::new().await;
    let (status, body, headers) = send(
        &graph.app,
        Request::get(format!("/v1.0/users/{ALICE}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_graph_error(&body, "InvalidAuthenticationToken");
    assert!(headers.contains_key("www-authenticate"));
    graph.state.clock().advance(Duration::from_secs(3600));
    let (status, body, _) = graph.get(&format!("/v1.0/users/{ALICE}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
}

#[tokio::test]
async fn set_presence_accepts_only_documented_input() {
    let graph = Graph::new().await;
    assert_eq!(
        graph.set_presence("Busy", "Busy", "PT1H").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        graph.set_presence("Busy", "InACall", "PT4M").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        graph.set_presence("Busy", "InACall", "PT4H1M").await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, body, _) = graph
        .post(
            &format!("/v1.0/users/{ALICE}/presence/setPresence"),
            json!({"sessionId": "00000000-0000-0000-0000-000000000000", "availability": "Busy", "activity": "InACall"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_graph_error(&body, "invalidRequest");
    let (status, _, _) = graph
        .post(
            &format!("/v1.0/users/{ALICE}/presence/setPresence"),
            json!({"nonsense": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        graph.shown(),
        ("Available".to_owned(), "Available".to_owned())
    );

    assert_eq!(
        graph.set_presence("Busy", "InACall", "PT1H").await.0,
        StatusCode::OK
    );
    let (status, presence, _) = graph.get(&format!("/v1.0/users/{ALICE}/presence")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            presence["availability"].as_str(),
            presence["activity"].as_str()
        ),
        (Some("Busy"), Some("InACall"))
    );
    // A UPN is not accepted by the presence read (GUID only).
    assert_eq!(
        graph.get("/v1.0/users/alice@contoso.test/presence").await.0,
        StatusCode::BAD_REQUEST
    );

    let clear = |session: &'static str| json!({"sessionId": session});
    let (status, _, _) = graph
        .post(
            &format!("/v1.0/users/{ALICE}/presence/clearPresence"),
            clear(CLIENT),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = graph
        .post(
            &format!("/v1.0/users/{ALICE}/presence/clearPresence"),
            clear(CLIENT),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_graph_error(&body, "itemNotFound");
}

#[tokio::test]
async fn preferred_presence_wins_and_available_sessions_fade() {
    let graph = Graph::new().await;
    graph.state.clock().freeze();
    graph.state.set_presence_in_client(ALICE, None).unwrap();
    assert_eq!(graph.shown(), ("Offline".to_owned(), "Offline".to_owned()));
    assert_eq!(
        graph.set_presence("Available", "Available", "PT1H").await.0,
        StatusCode::OK
    );
    graph.state.clock().advance(Duration::from_secs(5 * 60));
    assert_eq!(
        graph.shown(),
        ("Available".to_owned(), "AvailableInactive".to_owned())
    );
    graph.state.clock().advance(Duration::from_secs(5 * 60));
    assert_eq!(graph.shown(), ("Away".to_owned(), "Away".to_owned()));
    // Refreshing restores Available.
    assert_eq!(
        graph.set_presence("Available", "Available", "PT1H").await.0,
        StatusCode::OK
    );
    assert_eq!(graph.shown().1, "Available");

    // The user's own client in DND beats the app's Busy; a preferred state beats both.
    assert_eq!(
        graph.set_presence("Busy", "InACall", "PT1H").await.0,
        StatusCode::OK
    );
    graph
        .state
        .set_presence_in_client(
            ALICE,
            Some(PresenceState::new("DoNotDisturb", "DoNotDisturb")),
        )
        .unwrap();
    assert_eq!(graph.shown().0, "DoNotDisturb");
    let (status, _, _) = graph
        .post(
            &format!("/v1.0/users/{ALICE}/presence/setUserPreferredPresence"),
            json!({"availability": "BeRightBack", "activity": "BeRightBack"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(graph.shown().0, "BeRightBack");
    let (status, _, _) = graph
        .post(
            &format!("/v1.0/users/{ALICE}/presence/setUserPreferredPresence"),
            json!({"availability": "Busy", "activity": "InACall"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Preferred BeRightBack lasts seven days by default.
    graph
        .state
        .clock()
        .advance(Duration::from_secs(7 * 24 * 3600));
    assert_eq!(graph.shown().0, "DoNotDisturb");
}

#[tokio::test]
async fn status_message_shows_until_it_expires() {
    let graph = Graph::new().await;
    graph.state.clock().freeze();
    let expiry = (graph.state.clock().now_utc() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S%.f")
        .to_string();
    let (status, _, _) = graph
        .post(
            &format!("/v1.0/users/{ALICE}/presence/setStatusMessage"),
            json!({"statusMessage": {"message": {"content": "On a Slack call", "contentType": "text"},
                   "expiryDateTime": {"dateTime": expiry, "timeZone": "UTC"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        graph
            .state
            .presence_of(ALICE)
            .unwrap()
            .status_message
            .as_deref(),
        Some("On a Slack call")
    );
    let (_, presence, _) = graph.get(&format!("/v1.0/users/{ALICE}/presence")).await;
    assert_eq!(
        presence["statusMessage"]["message"]["content"],
        "On a Slack call"
    );
    graph.state.clock().advance(Duration::from_secs(3601));
    assert_eq!(graph.state.presence_of(ALICE).unwrap().status_message, None);
}

#[tokio::test]
async fn batch_presence_read_limits_and_throttling() {
    let graph = Graph::new().await;
    graph.state.clock().freeze();
    let too_many: Vec<&str> = vec![ALICE; 651];
    let (status, body, _) = graph
        .post(
            "/v1.0/communications/getPresencesByUserId",
            json!({"ids": too_many}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_graph_error(&body, "invalidRequest");
    let (status, body, _) = graph
        .post(
            "/v1.0/communications/getPresencesByUserId",
            json!({"ids": [ALICE, BOB]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"].as_array().unwrap().len(), 2);

    // 1500 presence requests per 30 s per app and tenant; two are already spent.
    for _ in 0..1498 {
        let (status, _, _) = graph.get(&format!("/v1.0/users/{BOB}/presence")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body, headers) = graph.get(&format!("/v1.0/users/{BOB}/presence")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_graph_error(&body, "TooManyRequests");
    let retry_after: f64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 0.0 && retry_after <= 30.0, "{retry_after}");
    // Users reads are a different budget.
    assert_eq!(
        graph.get(&format!("/v1.0/users/{BOB}")).await.0,
        StatusCode::OK
    );
    graph.state.clock().advance(Duration::from_secs(30));
    assert_eq!(
        graph.get(&format!("/v1.0/users/{BOB}/presence")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn injected_faults_hit_graph_routes() {
    let graph = Graph::new().await;
    graph.state.faults().add(FaultRule {
        path_prefix: "/v1.0/".to_owned(),
        action: FaultAction::Status { status: 503 },
        remaining: Some(1),
    });
    assert_eq!(
        graph.get(&format!("/v1.0/users/{ALICE}")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        graph.get(&format!("/v1.0/users/{ALICE}")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn malformed_bodies_get_graph_errors_not_panics() {
    let graph = Graph::new().await;
    let bodies = [
        "",
        "{",
        "null",
        "[]",
        "\"text\"",
        "{\"ids\": \"nope\"}",
        "{\"ids\": [1, 2]}",
        "{\"statusMessage\": 3}",
    ];
    let routes = [
        "/v1.0/communications/getPresencesByUserId".to_owned(),
        format!("/v1.0/users/{ALICE}/presence/setPresence"),
        format!("/v1.0/users/{ALICE}/presence/clearPresence"),
        format!("/v1.0/users/{ALICE}/presence/setUserPreferredPresence"),
        format!("/v1.0/users/{ALICE}/presence/setStatusMessage"),
        format!("/v1.0/users/{ALICE}/presence/noSuchAction"),
        "/v1.0/users/not-a-guid/presence/setPresence".to_owned(),
    ];
    for route in &routes {
        for body in bodies {
            let request = Request::post(route.as_str())
                .header("authorization", format!("Bearer {}", graph.token))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let (status, json, _) = send(&graph.app, request).await;
            assert!(status.is_client_error(), "{route} {body}: {status}");
            assert!(json["error"]["code"].is_string(), "{route} {body}: {json}");
        }
    }
    // Entra's token endpoint answers garbage with AADSTS JSON.
    let request = Request::post(format!("/{TENANT}/oauth2/v2.0/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(vec![0xff, 0xfe, b'=', b'&', b'%']))
        .unwrap();
    let (status, json, _) = send(&graph.app, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json["error_codes"].is_array());
}
