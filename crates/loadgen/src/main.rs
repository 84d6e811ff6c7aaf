//! Load generator and benchmark driver for the media core and the whole gateway.
//!
//! May depend on: `callbridge-media`, `callbridge-model` and their test peers; for the gateway
//! mode, the gateway, the sandboxes and the test kit (it is a tool, not product code).
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
//!
//! `--mode gateway [--transcode]` runs N calls through the whole gateway between both
//! sandboxes (see [`gateway`]) and prints, side by side, the media core's own figure for the
//! same path and call count, measured next in the same invocation.

mod floor;
mod gateway;
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
    /// The whole gateway between the Slack and Microsoft sandboxes: slash commands, SIP,
    /// virtual phones, browser stand-ins.
    Gateway,
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
    /// Gateway mode: browsers offer Opus only, so the gateway transcodes (otherwise they offer
    /// G.722 and G.711 and it passes packets through).
    #[arg(long)]
    transcode: bool,
    /// Gateway mode: milliseconds between two calls' commands.
    #[arg(long, default_value_t = 25)]
    ramp_ms: u64,
    /// Gateway mode: milliseconds each phone rings before answering.
    #[arg(long, default_value_t = 2000)]
    answer_after_ms: u64,
    /// Gateway mode: the gateway's media worker threads.
    #[arg(long, default_value_t = 1)]
    media_workers: usize,
    /// Gateway mode: seconds of the media core's own run that follows (0 skips it).
    #[arg(long, default_value_t = 3)]
    media_core_seconds: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = match args.mode {
        Mode::Passthrough => peers::Path::Passthrough,
        Mode::Transcode => peers::Path::Transcode,
        Mode::Floor => peers::Path::Floor,
        Mode::Gateway => return gateway_mode(&args),
    };
    let outcome = media_core(&args, path, Duration::from_secs(2), args.seconds)?;
    report::print(&args_line(&args), &outcome);
    Ok(())
}

/// One run through the media core alone.
fn media_core(
    args: &Args,
    path: peers::Path,
    warmup: Duration,
    seconds: u64,
) -> anyhow::Result<peers::Outcome> {
    let pin = |cpu| (!args.no_pin).then_some(cpu);
    peers::run(peers::Plan {
        calls: args.calls,
        path,
        warmup,
        measure: Duration::from_secs(seconds),
        complexity: args.complexity,
        worker_cpu: pin(args.worker_cpu),
        peer_cpu: pin(args.peer_cpu),
    })
    .map_err(|error| anyhow::anyhow!(error))
}

/// The whole gateway, then the media core alone on the same path with as many calls.
fn gateway_mode(args: &Args) -> anyhow::Result<()> {
    let outcome = gateway::run(gateway::Plan {
        calls: args.calls,
        steady: Duration::from_secs(args.seconds),
        transcode: args.transcode,
        ramp: Duration::from_millis(args.ramp_ms),
        answer_after: Duration::from_millis(args.answer_after_ms),
        media_workers: args.media_workers,
        gateway_threads: 2,
    })
    .map_err(|error| anyhow::anyhow!(error))?;
    let line = format!(
        "calls={} mode=gateway path={} seconds={} ramp={} ms answer-after={} ms media-workers={}",
        args.calls,
        if args.transcode {
            "transcode"
        } else {
            "passthrough"
        },
        args.seconds,
        args.ramp_ms,
        args.answer_after_ms,
        args.media_workers
    );
    gateway::report::print(&line, &outcome);
    if args.media_core_seconds > 0 {
        let (path, name) = if args.transcode {
            (peers::Path::Transcode, "transcode")
        } else {
            (peers::Path::Passthrough, "passthrough")
        };
        let alone = media_core(args, path, Duration::from_secs(1), args.media_core_seconds)?;
        gateway::report::print_media_core(name, &alone);
    }
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
