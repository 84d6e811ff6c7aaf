//! Slash-command ack latency inside the adapter: `handle_inbound` on a `/call` command exactly
//! as Slack (and the sandbox) sends it: v0 signature check on the raw body, form parsing,
//! target parsing, the `response_url` kept, the ephemeral ack built.
//!
//! Besides criterion's own figures, prints p50/p99 of commands paced at 50 per second (the rate
//! the issue sets) for `CALLBRIDGE_BENCH_SECS` seconds (default 60), and the CPU time per
//! command of the thread that handled them (Linux `schedstat`).
//!
//! Run: `cargo bench -p callbridge-slack --bench ack`

#![allow(missing_docs, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use callbridge_adapter::{InboundRequest, MemoryVault, PlatformAdapter};
use callbridge_sandbox::slack::sign_v0;
use callbridge_slack::{SlackAdapter, SlackConfig, SlackOptions, SlackSettings};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Method};

const SECRET: &str = "demo-signing-secret";

fn adapter() -> SlackAdapter {
    let config = SlackConfig::parse(SlackSettings {
        api_base_url: Some("http://127.0.0.1:9/api/".into()),
        client_id: "1000000001.2000000002".into(),
        client_secret: "demo-client-secret".into(),
        signing_secret: SECRET.into(),
        public_url: "https://calls.example.com/".into(),
        app_id: "A0CALLBRDG".into(),
        ..SlackSettings::default()
    })
    .unwrap();
    SlackAdapter::new(
        config,
        Arc::new(MemoryVault::default()),
        SlackOptions::default(),
    )
    .unwrap()
}

fn command(n: u64) -> InboundRequest {
    let now = chrono::Utc::now();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "sandboxVerificationTok")
        .append_pair("team_id", "T0DEMOTEAM")
        .append_pair("team_domain", "demo")
        .append_pair("channel_id", "D0DEMO0001")
        .append_pair("channel_name", "directmessage")
        .append_pair("user_id", "U0DEMOBOB1")
        .append_pair("user_name", "bob")
        .append_pair("command", "/call")
        .append_pair("text", "<@U0DEMOCAR2|carol>")
        .append_pair("api_app_id", "A0CALLBRDG")
        .append_pair("is_enterprise_install", "false")
        .append_pair(
            "response_url",
            &format!("https://hooks.slack.com/commands/T0DEMOTEAM/{n}/abcdef"),
        )
        .append_pair("trigger_id", &format!("{n}.4242.0123456789abcdef"))
        .finish();
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    headers.insert(
        "x-slack-request-timestamp",
        now.timestamp().to_string().parse().unwrap(),
    );
    headers.insert(
        "x-slack-signature",
        sign_v0(SECRET, now.timestamp(), body.as_bytes())
            .parse()
            .unwrap(),
    );
    InboundRequest {
        method: Method::POST,
        path: "/commands".into(),
        query: None,
        headers,
        body: body.into(),
        received_at: now,
    }
}

/// CPU nanoseconds this thread has run (first field of `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn paced(runtime: &tokio::runtime::Runtime, adapter: &SlackAdapter) {
    let secs: u64 = std::env::var("CALLBRIDGE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let total = secs * 50;
    let mut latencies = Vec::with_capacity(total as usize);
    let cpu_before = thread_cpu_ns();
    let start = Instant::now();
    for n in 0..total {
        let due = start + Duration::from_millis(n * 20);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let request = command(n);
        let began = Instant::now();
        let inbound = runtime.block_on(adapter.handle_inbound(request)).unwrap();
        latencies.push(began.elapsed());
        assert_eq!(inbound.events.len(), 1);
    }
    let cpu = thread_cpu_ns()
        .zip(cpu_before)
        .map(|(after, before)| (after - before) / total);
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "slash-command ack, {total} commands at 50/s: p50 {:?}, p99 {:?}, max {:?}, CPU per command {}",
        at(0.50),
        at(0.99),
        latencies[latencies.len() - 1],
        cpu.map_or_else(
            || "unavailable".to_owned(),
            |ns| format!("{} µs", ns / 1000)
        ),
    );
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let adapter = adapter();
    paced(&runtime, &adapter);
    let mut n = 1_000_000;
    c.bench_function("slack /call ack", |b| {
        b.iter(|| {
            n += 1;
            runtime
                .block_on(adapter.handle_inbound(command(n)))
                .unwrap()
        });
    });
}

criterion_group! {
    name = ack;
    config = Criterion::default().sample_size(50);
    targets = benches
}
criterion_main!(ack);
