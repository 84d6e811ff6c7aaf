//! Printing a load run's figures.

use crate::peers::Outcome;

/// Prints the run's figures, one per line.
pub(crate) fn print(args: &str, o: &Outcome) {
    let secs = o.measured.as_secs_f64();
    let cpu = o.worker_cpu.as_secs_f64();
    let utilisation = cpu / secs;
    println!("run: {args}");
    println!(
        "forwarded packets/s (worker out): {:.0}",
        o.datagrams_out as f64 / secs
    );
    println!(
        "received packets/s (worker in):  {:.0}",
        o.datagrams_in as f64 / secs
    );
    println!(
        "worker CPU: {cpu:.3} s over {secs:.1} s = {:.1} % of a core",
        utilisation * 100.0
    );
    println!(
        "CPU per call: {:.1} us per second of call",
        cpu * 1e6 / secs / o.calls as f64
    );
    if utilisation > 0.0 {
        println!(
            "calls per core (extrapolated): {:.0}",
            o.calls as f64 / utilisation
        );
    }
    println!(
        "loss: sent {} received {} ({:.4} %)",
        o.sent,
        o.received,
        o.loss_percent()
    );
    match (o.latency_p50, o.latency_p99) {
        (Some(p50), Some(p99)) => println!(
            "added latency (send->receive through the worker, loopback): p50 {:.1} us, p99 {:.1} us",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        ),
        _ => println!(
            "added latency: per-packet matching not possible on this path (payload re-encoded)"
        ),
    }
    println!(
        "in-worker latency per received datagram (read -> bridge -> sends done): p50 {} us, p99 {} us",
        o.in_worker_p50.as_micros(),
        o.in_worker_p99.as_micros()
    );
    println!(
        "RSS per call: {:.1} KiB (bridges + sockets, measured before traffic)",
        o.rss_per_call_kib
    );
    println!(
        "RSS per call after run: {:.1} KiB",
        o.rss_per_call_after_kib
    );
    println!("worker send errors: {}", o.send_errors);
}
