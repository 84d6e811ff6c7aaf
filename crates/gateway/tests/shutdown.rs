//! Graceful shutdown: when the signal comes, readiness turns false, a request already in flight
//! still completes, and the server then stops.

use std::path::Path;
use std::time::Duration;

use callbridge::config::Config;
use callbridge::serve::{Gateway, open_store};
use callbridge_store::{KeyId, SecretKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test]
async fn in_flight_request_completes_after_the_drain_starts() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate_spec(&KeyId::parse("k1").unwrap()).unwrap();
    let toml = format!(
        "[server]\nshutdown_grace = \"10s\"\n[store]\nurl = \"sqlite:cb.db\"\n[secrets]\nkeys = [\"{key}\"]\n\
         [admin]\ntoken = \"test-admin-token-0123456789\"\n"
    );
    let config = Config::from_toml(&toml, [], dir.path()).unwrap();
    let store = open_store(&config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = Gateway::with_listener(listener, &config, store);
    let state = gateway.state().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway.run(async {
        let _ = stop_rx.await;
    }));

    // Start a request and send only half of its body.
    let body = r#"{"slack_team":"T0123ABCD","slack_user":"U0456EFGH","teams_tenant":"72f988bf-86f1-41af-91ab-2d7cd011db47","teams_user":"8b4c2a1e-3d5f-4a6b-9c7d-1e2f3a4b5c6d"}"#;
    let (first, second) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/links HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-admin-token-0123456789\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    stop_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(state.is_draining(), "readiness must turn false at once");
    assert!(
        !server.is_finished(),
        "the server must wait for the request in flight"
    );

    stream.write_all(second.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no new connections after the drain"
    );
    assert!(Path::new(&dir.path().join("cb.db")).exists());
}
