//! The shared client against a tiny local HTTP server whose answers each test scripts: budgets,
//! `Retry-After`, and which failures are resent. Time is tokio's paused clock, so waits of
//! seconds take none; the server runs on the same runtime over loopback.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use callbridge_adapter::AdapterError;
use callbridge_adapter::client::{ApiCall, ApiClient, ClientConfig};
use callbridge_model::Platform;
use support::{HANG, Server};
use tokio::time::Instant;

fn config() -> ClientConfig {
    ClientConfig {
        base_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        max_retries: 3,
        max_budget_wait: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

fn call(method: &'static str, idempotent: bool) -> ApiCall<'static> {
    ApiCall {
        method,
        budget_key: "T0TEAM",
        idempotent,
    }
}

async fn send(
    client: &ApiClient,
    addr: SocketAddr,
    call: ApiCall<'_>,
) -> Result<reqwest::Response, AdapterError> {
    let url = format!("http://{addr}/api/{}", call.method);
    client.send(call, |http| http.post(&url).body("x=1")).await
}

#[tokio::test(start_paused = true)]
async fn rate_limit_waits_retry_after_then_resends_even_when_not_idempotent() {
    let (server, addr) = Server::start().await;
    server.script("/api/calls.add", &[(429, Some("2"))]);
    let client = ApiClient::new(Platform::Slack, config());

    let response = send(&client, addr, call("calls.add", false)).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let arrivals = server.arrivals("/api/calls.add");
    assert_eq!(arrivals.len(), 2, "one 429, one resend");
    let gap = arrivals[1] - arrivals[0];
    assert!(
        gap >= Duration::from_secs(2),
        "resent after {gap:?}, before Retry-After"
    );
    assert!(
        gap <= Duration::from_millis(2300),
        "jitter is at most a tenth: {gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn fractional_retry_after_is_honoured() {
    let (server, addr) = Server::start().await;
    server.script("/api/presence", &[(429, Some("1.5"))]);
    let client = ApiClient::new(Platform::Teams, config());

    send(&client, addr, call("presence", true)).await.unwrap();

    let arrivals = server.arrivals("/api/presence");
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals[1] - arrivals[0] >= Duration::from_millis(1500));
}

#[tokio::test(start_paused = true)]
async fn rate_limit_past_the_retries_is_unavailable_with_retry_after() {
    let (server, addr) = Server::start().await;
    server.script("/api/chat.update", &[(429, Some("1")); 5]);
    let client = ApiClient::new(
        Platform::Slack,
        ClientConfig {
            max_retries: 2,
            ..config()
        },
    );

    let error = send(&client, addr, call("chat.update", true))
        .await
        .unwrap_err();

    match error {
        AdapterError::PlatformUnavailable {
            method,
            retry_after,
            ..
        } => {
            assert_eq!(method, "chat.update");
            assert_eq!(retry_after, Some(Duration::from_secs(1)));
        }
        other => panic!("expected PlatformUnavailable, got {other:?}"),
    }
    assert_eq!(
        server.arrivals("/api/chat.update").len(),
        3,
        "first try and two resends"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_longer_than_the_caller_may_wait_is_returned_at_once() {
    let (server, addr) = Server::start().await;
    server.script("/api/users.list", &[(429, Some("120"))]);
    let client = ApiClient::new(Platform::Slack, config());
    let started = Instant::now();

    let error = send(&client, addr, call("users.list", true))
        .await
        .unwrap_err();

    assert!(matches!(
        error,
        AdapterError::PlatformUnavailable { retry_after: Some(after), .. }
            if after == Duration::from_secs(120)
    ));
    assert_eq!(server.arrivals("/api/users.list").len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "did not sit out the 120 s"
    );
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_with_backoff_when_idempotent() {
    let (server, addr) = Server::start().await;
    server.script("/api/users.profile.set", &[(503, None), (502, None)]);
    let client = ApiClient::new(Platform::Slack, config());

    let response = send(&client, addr, call("users.profile.set", true))
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let arrivals = server.arrivals("/api/users.profile.set");
    assert_eq!(arrivals.len(), 3);
    // Equal-jitter back-off: 50-100 ms, then 100-200 ms.
    assert!(arrivals[1] - arrivals[0] >= Duration::from_millis(50));
    assert!(arrivals[2] - arrivals[1] >= Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_not_retried_when_not_idempotent() {
    let (server, addr) = Server::start().await;
    server.script("/api/calls.add", &[(500, None)]);
    let client = ApiClient::new(Platform::Slack, config());

    let error = send(&client, addr, call("calls.add", false))
        .await
        .unwrap_err();

    assert!(matches!(
        &error,
        AdapterError::PlatformUnavailable { reason, .. } if reason == "HTTP 500"
    ));
    assert_eq!(
        server.arrivals("/api/calls.add").len(),
        1,
        "the platform may have acted"
    );
}

#[tokio::test(start_paused = true)]
async fn server_error_retries_are_bounded() {
    let (server, addr) = Server::start().await;
    server.script("/api/users.info", &[(503, None); 10]);
    let client = ApiClient::new(
        Platform::Slack,
        ClientConfig {
            max_retries: 2,
            ..config()
        },
    );

    let error = send(&client, addr, call("users.info", true))
        .await
        .unwrap_err();

    assert!(error.is_retryable());
    assert_eq!(server.arrivals("/api/users.info").len(), 3);
}

#[tokio::test(start_paused = true)]
async fn other_statuses_are_returned_as_they_are() {
    let (server, addr) = Server::start().await;
    server.script("/api/users.info", &[(404, None)]);
    let client = ApiClient::new(Platform::Slack, config());

    let response = send(&client, addr, call("users.info", true)).await.unwrap();

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(server.arrivals("/api/users.info").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn connection_failures_are_retried_only_when_idempotent() {
    // A port nobody listens on: bind, learn the port, close.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = ApiClient::new(
        Platform::Slack,
        ClientConfig {
            max_retries: 2,
            ..config()
        },
    );

    let started = Instant::now();
    let error = send(&client, addr, call("calls.end", false))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AdapterError::PlatformUnavailable { reason, .. } if reason == "connect_failed")
    );
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no back-off for a non-idempotent call"
    );

    let error = send(&client, addr, call("calls.info", true))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AdapterError::PlatformUnavailable { reason, .. } if reason == "connect_failed after 2 retries"),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_malformed_url_is_a_configuration_error() {
    let client = ApiClient::new(Platform::Slack, config());
    let error = client
        .send(call("auth.test", true), |http| http.get("not a url"))
        .await
        .unwrap_err();
    assert!(matches!(error, AdapterError::Misconfigured(_)), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn spent_budget_is_refused_beyond_the_maximum_wait() {
    let (server, addr) = Server::start().await;
    let client = ApiClient::new(
        Platform::Slack,
        ClientConfig {
            max_budget_wait: Duration::from_secs(5),
            ..config()
        },
    )
    .with_budget("apps.uninstall", 1);

    send(&client, addr, call("apps.uninstall", false))
        .await
        .unwrap();
    let error = send(&client, addr, call("apps.uninstall", false))
        .await
        .unwrap_err();

    match error {
        AdapterError::PlatformUnavailable {
            retry_after: Some(after),
            ..
        } => {
            assert!(after > Duration::from_secs(55) && after <= Duration::from_secs(60));
        }
        other => panic!("expected a refusal with retry_after, got {other:?}"),
    }
    assert_eq!(
        server.arrivals("/api/apps.uninstall").len(),
        1,
        "the refused call was not sent"
    );

    // Another workspace's budget is its own.
    let other = ApiCall {
        budget_key: "T0OTHER",
        ..call("apps.uninstall", false)
    };
    send(&client, addr, other).await.unwrap();
    assert_eq!(server.arrivals("/api/apps.uninstall").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn spent_budget_waits_when_the_wait_is_short_enough() {
    let (server, addr) = Server::start().await;
    // 60 a minute: bursts of ten, then one a second.
    let client = ApiClient::new(Platform::Slack, config()).with_budget("users.setPresence", 60);

    for _ in 0..12 {
        send(&client, addr, call("users.setPresence", true))
            .await
            .unwrap();
    }

    let arrivals = server.arrivals("/api/users.setPresence");
    assert_eq!(arrivals.len(), 12);
    assert!(
        arrivals[9] - arrivals[0] < Duration::from_millis(100),
        "the burst went at once"
    );
    assert!(arrivals[10] - arrivals[9] >= Duration::from_millis(900));
    assert!(arrivals[11] - arrivals[10] >= Duration::from_millis(900));
}

#[tokio::test(start_paused = true)]
async fn clones_share_budgets() {
    let (server, addr) = Server::start().await;
    let client = ApiClient::new(
        Platform::Slack,
        ClientConfig {
            max_budget_wait: Duration::ZERO,
            ..config()
        },
    )
    .with_budget("dnd.setSnooze", 1);
    let clone = client.clone();

    send(&client, addr, call("dnd.setSnooze", true))
        .await
        .unwrap();
    let error = send(&clone, addr, call("dnd.setSnooze", true))
        .await
        .unwrap_err();

    assert!(matches!(error, AdapterError::PlatformUnavailable { .. }));
    assert_eq!(server.arrivals("/api/dnd.setSnooze").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn server_error_retry_after_is_honoured_for_idempotent_calls() {
    let (server, addr) = Server::start().await;
    server.script("/api/presence", &[(503, Some("3"))]);
    let client = ApiClient::new(Platform::Teams, config());

    send(&client, addr, call("presence", true)).await.unwrap();

    let arrivals = server.arrivals("/api/presence");
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals[1] - arrivals[0] >= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_retried_only_when_idempotent() {
    let (server, addr) = Server::start().await;
    server.script("/api/calls.add", &[(HANG, None), (HANG, None)]);
    server.script("/api/calls.info", &[(HANG, None)]);
    let client = ApiClient::new(
        Platform::Slack,
        ClientConfig {
            timeout: Duration::from_secs(2),
            ..config()
        },
    );

    let error = send(&client, addr, call("calls.add", false))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AdapterError::PlatformUnavailable { reason, .. } if reason == "timeout"),
        "{error:?}"
    );
    assert_eq!(server.arrivals("/api/calls.add").len(), 1);

    let response = send(&client, addr, call("calls.info", true)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.arrivals("/api/calls.info").len(), 2);
}
