//! The real binary: `config check`, `migrate`, `serve` with graceful shutdown on SIGTERM, and the
//! demo answering health and metrics.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use callbridge_store::{KeyId, SecretKey};

const BIN: &str = env!("CARGO_BIN_EXE_callbridge");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let key = SecretKey::generate_spec(&KeyId::parse("k1").unwrap()).unwrap();
    let path = dir.join("callbridge.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_grace = \"5s\"\n[store]\nurl = \"sqlite:cb.db\"\n\
             [secrets]\nkeys = [\"{key}\"]\n[log]\nformat = \"json\"\n"
        ),
    )
    .unwrap();
    path
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, response))
}

fn wait_until_serving(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(port, "/healthz").is_none() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "gateway exited before serving"
        );
        assert!(Instant::now() < deadline, "gateway did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "gateway did not exit in {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn config_check_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[store]\nurl = \"sqlite:x\"\n[secrets]\nkeys = [\"k1:AAAA\"]\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("secrets.keys") && stderr.contains("32 bytes"),
        "{stderr}"
    );

    let good = write_config(dir.path(), 9);
    let output = Command::new(BIN)
        .args(["config", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("keys = \"<redacted>\""), "{stdout}");
}

#[test]
fn migrate_then_serve_then_drain_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let status = Command::new(BIN)
        .args(["migrate", "--config"])
        .arg(&config)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(dir.path().join("cb.db").exists());

    let mut child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_serving(&mut child, port);
    let (status, body) = http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("callbridge_build_info"));

    signal(&child, "TERM");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        logs.contains("draining") && logs.contains("stopped"),
        "{logs}"
    );
    // JSON log lines.
    assert!(logs.lines().all(|line| line.starts_with('{')), "{logs}");
}

#[test]
fn demo_prints_its_addresses_and_serves_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["demo", "--port", &port.to_string(), "--data-dir"])
        .arg(dir.path().join("demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut start_url = String::new();
    let mut printed = String::new();
    for _ in 0..40 {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        printed.push_str(&line);
        if let Some(url) = line.trim().strip_prefix("Open ") {
            start_url = url.trim().to_owned();
            break;
        }
    }
    assert_eq!(
        start_url,
        format!("http://127.0.0.1:{port}/demo/"),
        "the one URL to open: {printed}"
    );
    wait_until_serving(&mut child, port);
    assert_eq!(http_get(port, "/healthz").unwrap().0, 200);
    assert!(http_get(port, "/metrics").unwrap().1.contains("# TYPE"));
    let (status, page) = http_get(port, "/demo/").unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("Slack as Bob") && page.contains("Teams as Alice"),
        "{page}"
    );
    signal(&child, "INT");
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
}
