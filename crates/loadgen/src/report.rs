//! Printing a load run's figures.

use std::time::Duration;

use crate::peers::Outcome;

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Prints the run's figures, one per line.
pub(crate) fn print(args: &str, o: &Outcome) {
    let w = &o.worker;
    let secs = o.plan.measure.as_secs_f64();
    let cpu = w.cpu.as_secs_f64();
    let utilisation = cpu / secs;
    println!("run: {args}");
    println!(
        "forwarded packets/s (worker out): {:.0}",
        w.datagrams_out as f64 / secs
    );
    println!(
        "received packets/s (worker in):  {:.0}",
        w.datagrams_in as f64 / secs
    );
    println!(
        "worker CPU: {cpu:.3} s over {secs:.1} s = {:.1} % of a core",
        utilisation * 100.0
    );
    println!(
        "CPU per call: {:.1} us per second of call",
        cpu * 1e6 / secs / o.plan.calls.max(1) as f64
    );
    if utilisation > 0.0 {
        println!(
            "calls per core (extrapolated): {:.0}",
            o.plan.calls as f64 / utilisation
        );
    }
    if let Some(stolen) = o.worker_cpu_stolen {
        println!(
            "taken from the worker's CPU by the hypervisor (steal): {} ms ({:.2} % of the window)",
            stolen.as_millis(),
            stolen.as_secs_f64() * 100.0 / secs
        );
    }
    println!(
        "system calls per datagram: receive {:.2}, send {:.2}",
        w.recv_calls as f64 / w.datagrams_in.max(1) as f64,
        w.send_calls as f64 / w.datagrams_out.max(1) as f64
    );
    println!("far ends' CPU: {:.1} % of a core", o.peer_cpu_share * 100.0);
    let t = &o.tally;
    println!(
        "loss: sent {} received {} ({:.4} %); kernel drops at the bridge's sockets {}, at the far ends' {}",
        t.sent,
        t.received,
        o.loss_percent(),
        o.drops_at_bridge.map_or("n/a".into(), |d| d.to_string()),
        o.drops_at_peers.map_or("n/a".into(), |d| d.to_string()),
    );
    println!(
        "far ends: {} arrivals decrypted and checked, {} failed SRTP/RTP/sequence checks, {} sends refused",
        t.verified, t.bad_arrivals, t.send_failures
    );
    match (
        o.latency(0.5),
        o.latency(0.95),
        o.latency(0.99),
        o.latency(0.999),
    ) {
        (Some(p50), Some(p95), Some(p99), Some(p999)) => println!(
            "added latency (send stamp -> kernel arrival stamp, through the worker): p50 {:.1} us, p95 {:.1} us, p99 {:.1} us, p99.9 {:.1} us",
            us(p50),
            us(p95),
            us(p99),
            us(p999)
        ),
        _ => println!("added latency: no per-packet stamps on this path (payload re-encoded)"),
    }
    println!(
        "added by the worker (kernel arrival at the bridge socket -> bridge -> sends done): p50 {} us, p99 {} us",
        w.in_worker_p50.as_micros(),
        w.in_worker_p99.as_micros()
    );
    println!(
        "deadline -> sends done (transcode: added beyond the jitter buffer): p50 {} us, p99 {} us",
        w.timer_p50.as_micros(),
        w.timer_p99.as_micros()
    );
    println!(
        "RSS per call: {:.1} KiB (bridges + sockets, measured before traffic)",
        o.rss_per_call_kib
    );
    println!(
        "RSS per call after run: {:.1} KiB (includes the far ends' per-call state)",
        o.rss_per_call_after_kib
    );
    println!("worker send errors: {}", w.send_errors);
}
