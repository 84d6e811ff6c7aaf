//! What the client layer tells operators: the request metrics, and logs that never carry a URL's
//! query (where a token may travel), a body or a token.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callbridge_adapter::client::{ApiCall, ApiClient, ClientConfig};
use callbridge_model::Platform;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use support::Server;

/// A current-thread runtime on paused time: the recorder and the log subscriber are set for
/// this thread, and every task of the test runs on it.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

fn config() -> ClientConfig {
    ClientConfig {
        max_budget_wait: Duration::ZERO,
        base_backoff: Duration::from_millis(10),
        ..ClientConfig::default()
    }
}

#[test]
fn requests_are_counted_by_platform_method_and_outcome_and_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            let (server, addr) = Server::start().await;
            server.script("/api/calls.add", &[(429, Some("1"))]);
            let client = ApiClient::new(Platform::Slack, config()).with_budget("calls.add", 1);
            let url = format!("http://{addr}/api/calls.add");
            let call = ApiCall {
                method: "calls.add",
                budget_key: "T0TEAM",
                idempotent: false,
            };
            // A 429, then the resend finds the budget of one a minute spent.
            client.send(call, |http| http.post(&url)).await.unwrap_err();
            // Another workspace: sent and answered.
            let other = ApiCall {
                budget_key: "T0OTHER",
                ..call
            };
            client.send(other, |http| http.post(&url)).await.unwrap();
        });
    });

    let mut counts = Vec::new();
    let mut timings = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|label| (label.key().to_owned(), label.value().to_owned()))
            .collect();
        match (key.name(), value) {
            ("callbridge_api_requests_total", DebugValue::Counter(n)) => counts.push((labels, n)),
            ("callbridge_api_request_seconds", DebugValue::Histogram(samples)) => {
                assert!(labels.contains(&("method".into(), "calls.add".into())));
                timings += samples.len();
            }
            (name, _) => panic!("unexpected metric {name}"),
        }
    }
    let count = |outcome: &str| {
        counts
            .iter()
            .find(|(labels, _)| labels.contains(&("outcome".into(), outcome.into())))
            .map(|(labels, n)| {
                assert!(labels.contains(&("platform".into(), "slack".into())));
                assert!(labels.contains(&("method".into(), "calls.add".into())));
                *n
            })
    };
    assert_eq!(count("rate_limited"), Some(1));
    assert_eq!(count("budget_exhausted"), Some(1));
    assert_eq!(count("success"), Some(1));
    assert_eq!(count("server_error"), None);
    assert_eq!(timings, 2, "one timing per request sent");
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

#[test]
fn logs_carry_no_url_query_body_or_token() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        runtime().block_on(async {
            let (server, addr) = Server::start().await;
            server.script(
                "/api/users.info",
                &[(503, None), (503, None), (503, None), (503, None)],
            );
            let closed = {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                listener.local_addr().unwrap()
            };
            let client = ApiClient::new(
                Platform::Slack,
                ClientConfig {
                    max_retries: 1,
                    ..config()
                },
            );
            for target in [addr, closed] {
                let url = format!("http://{target}/api/users.info?token=xoxp-query-secret");
                let call = ApiCall {
                    method: "users.info",
                    budget_key: "T0TEAM",
                    idempotent: true,
                };
                client
                    .send(call, |http| {
                        http.post(&url)
                            .bearer_auth("xoxb-header-secret")
                            .body("user=U0PRIVATE&email=alice@example.com")
                    })
                    .await
                    .unwrap_err();
            }
        });
    });

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The logs did describe both failures...
    assert!(logs.contains("HTTP 503 after 1 retries"), "{logs}");
    assert!(logs.contains("connect_failed"), "{logs}");
    assert!(logs.contains("users.info"), "{logs}");
    // ...without anything that identifies a request's content.
    for secret in [
        "xoxp-query-secret",
        "token=",
        "xoxb-header-secret",
        "U0PRIVATE",
        "alice@",
        "/api/users.info",
    ] {
        assert!(!logs.contains(secret), "logs carry {secret:?}:\n{logs}");
    }
}
