//! Graph notification ack latency inside the adapter: `handle_inbound` on a rich presence
//! notification batch exactly as the Microsoft sandbox sends it (clientState check,
//! validationToken JWT check, RSA-OAEP key unwrap, HMAC check, AES-CBC decrypt, translation).
//!
//! Besides criterion's own figures, prints p50/p99 of 2,000 acks paced at 200 notifications
//! per second (the rate notifications are held to).
//!
//! Run: `cargo bench -p callbridge-teams --bench notifications`

#![allow(missing_docs, unreachable_pub, clippy::unwrap_used)]

#[path = "../tests/graph_support/mod.rs"]
mod graph_support;

use std::time::{Duration, Instant};

use callbridge_adapter::{InboundRequest, PlatformAdapter};
use callbridge_sandbox::microsoft::PresenceState;
use criterion::{Criterion, criterion_group, criterion_main};
use graph_support::{ALICE, BOB, CAROL, Options, start};

fn captured_batch(runtime: &tokio::runtime::Runtime) -> (graph_support::Harness, InboundRequest) {
    runtime.block_on(async {
        let harness = start(Options::default()).await;
        assert_eq!(harness.sign_in("alice", ALICE).await, 200);
        let users = [ALICE, BOB, CAROL].map(|id| id.parse().unwrap());
        harness.adapter.presence().set_users(users);
        harness.settle().await;
        harness
            .sandbox
            .set_presence_in_client(CAROL, Some(PresenceState::new("Busy", "InACall")))
            .unwrap();
        harness
            .eventually("a rich notification", |h| {
                !h.seen.batches.lock().unwrap().is_empty()
            })
            .await;
        let batch = harness.seen.batches.lock().unwrap()[0].clone();
        (harness, batch)
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn notifications(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (harness, batch) = captured_batch(&runtime);
    let adapter = harness.adapter.clone();
    // Warm: the JWKS is fetched on the first batch.
    runtime
        .block_on(adapter.handle_inbound(batch.clone()))
        .unwrap();

    c.bench_function("graph_rich_notification_ack", |b| {
        b.iter(|| {
            let inbound = runtime
                .block_on(adapter.handle_inbound(batch.clone()))
                .unwrap();
            assert_eq!(inbound.reply.status, 202);
            inbound
        });
    });

    // 2,000 acks paced at 200 per second.
    let mut samples = Vec::with_capacity(2000);
    runtime.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        for _ in 0..2000 {
            tick.tick().await;
            let started = Instant::now();
            let inbound = adapter.handle_inbound(batch.clone()).await.unwrap();
            samples.push(started.elapsed());
            assert_eq!(inbound.events.len(), 1);
        }
    });
    samples.sort();
    println!(
        "graph notification ack at 200/s over {} batches: p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
    runtime.block_on(harness.sandbox.shutdown());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(200).measurement_time(Duration::from_secs(5));
    targets = notifications
}
criterion_main!(benches);
