//! Load generator and benchmark driver for the media core.
//!
//! May depend on: `callbridge-media`, `callbridge-model` and their test peers.
//!
//! `callbridge-loadgen --calls N --mode passthrough|transcode --seconds S` runs N bridged calls
//! through one media worker over loopback, SRTP on both legs, both directions at 50 packets/s.
//! The worker is pinned to one CPU and the far ends to another, so the worker's CPU time is one
//! core's worth of calls. It reports forwarded packets/s, worker CPU per call, calls per core,
//! added latency (per-packet send stamps against kernel arrival stamps, passthrough), the
//! worker's deadline-to-send latency (transcode: the latency added beyond the jitter buffer),
//! loss with the kernel's drop counters on each side, and RSS per call. `--mode floor` runs the
//! same traffic through a bare forwarder with the worker's I/O pattern instead: the kernel's
//! share of the cost, to divide the worker's figure by.

mod floor;
mod kernel;
mod peers;
mod report;
mod setup;
mod traffic;

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// The load generator reports any failure to `main`, which prints it and exits.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Which bridge path the calls take.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// G.711 on both legs: rewrite and re-protect only.
    Passthrough,
    /// Opus (leg A) ↔ G.722 (leg B): jitter buffer, decode, encode.
    Transcode,
    /// No media core: a bare UDP forwarder with the worker's I/O pattern, for the kernel's
    /// share of the per-datagram cost.
    Floor,
}

#[derive(Debug, Parser)]
#[command(about = "Drive bridged calls through the media core")]
struct Args {
    /// Concurrent calls.
    #[arg(long, default_value_t = 100)]
    calls: usize,
    /// Path to exercise.
    #[arg(long, value_enum, default_value_t = Mode::Passthrough)]
    mode: Mode,
    /// Measured seconds (after a 2 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Opus complexity for the transcode path.
    #[arg(long, default_value_t = 5)]
    complexity: i32,
    /// CPU the media worker is pinned to.
    #[arg(long, default_value_t = 0)]
    worker_cpu: usize,
    /// CPU the far ends are pinned to.
    #[arg(long, default_value_t = 1)]
    peer_cpu: usize,
    /// Let the scheduler place the worker and the far ends.
    #[arg(long)]
    no_pin: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pin = |cpu| (!args.no_pin).then_some(cpu);
    let outcome = peers::run(peers::Plan {
        calls: args.calls,
        path: match args.mode {
            Mode::Passthrough => peers::Path::Passthrough,
            Mode::Transcode => peers::Path::Transcode,
            Mode::Floor => peers::Path::Floor,
        },
        warmup: Duration::from_secs(2),
        measure: Duration::from_secs(args.seconds),
        complexity: args.complexity,
        worker_cpu: pin(args.worker_cpu),
        peer_cpu: pin(args.peer_cpu),
    })
    .map_err(|error| anyhow::anyhow!(error))?;
    report::print(&args_line(&args), &outcome);
    Ok(())
}

fn args_line(a: &Args) -> String {
    let pinning = if a.no_pin {
        "unpinned".to_owned()
    } else {
        format!(
            "worker on CPU {}, far ends on CPU {}",
            a.worker_cpu, a.peer_cpu
        )
    };
    format!(
        "calls={} mode={:?} seconds={} complexity={} ({pinning})",
        a.calls, a.mode, a.seconds, a.complexity
    )
}
