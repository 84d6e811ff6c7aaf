//! Slash-command ack latency at the gateway: the Slack sandbox types `/call …` at a steady rate
//! against a real gateway (Slack adapter mounted, store and event loop running) and this
//! program reports how long the sandbox waited for each ack, and the CPU time spent per
//! command by the whole process (gateway and sandbox together, so an upper bound for the
//! gateway alone).
//!
//! `cargo bench -p callbridge --bench slash_ack` (60 s at 50 commands/s); shorten with
//! `SLASH_ACK_SECONDS=10`, change the rate with `SLASH_ACK_RATE=100`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callbridge_testkit::{SlackWorld, demo_slack};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User plus system CPU time of this process, from `/proc/self/stat` (clock ticks of 10 ms).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of stat(5) are the 12th and 13th after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let seconds = env_number("SLASH_ACK_SECONDS", 60);
    let rate = env_number("SLASH_ACK_RATE", 50).max(1);
    let world = Arc::new(SlackWorld::start().await);
    // Warm up connections and code paths.
    for _ in 0..20 {
        let _ = world
            .slack
            .type_slash_command(demo_slack::BOB, "/call help")
            .await;
    }
    let total = seconds * rate;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for n in 0..total {
        ticker.tick().await;
        let world = world.clone();
        // Alternate a help answered in the ack with a call request answered later.
        let line = if n % 2 == 0 {
            "/call help"
        } else {
            "/call alice@contoso.com"
        };
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let outcome = world.slack.type_slash_command(demo_slack::BOB, line).await;
            let ok = matches!(&outcome, Ok(o) if o.status == Some(200) && o.error.is_none());
            (sent.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failures = 0;
    for task in tasks {
        match task.await {
            Ok((latency, true)) => latencies.push(latency),
            _ => failures += 1,
        }
    }
    let wall = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    latencies.sort();
    let count = latencies.len().max(1) as u32;
    println!(
        "slash_ack: {total} commands at {rate}/s over {:.1} s, {failures} failed",
        wall.as_secs_f64()
    );
    println!(
        "  ack latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    println!(
        "  CPU per command (gateway + sandbox): {:.0} µs ({:.1} % of one core)",
        (cpu / count).as_secs_f64() * 1e6,
        cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
    );
    if let Ok(world) = Arc::try_unwrap(world) {
        world.stop().await;
    }
}
