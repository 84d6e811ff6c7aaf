//! Load generator and benchmark driver for the media core and the whole gateway.
//!
//! May depend on: `callbridge-media`, `callbridge-model` and their test peers.
//!
//! `callbridge-loadgen media --calls N --mode passthrough|transcode --seconds S` runs N bridged
//! calls through one media worker over loopback, SRTP on both legs, both directions at
//! 50 packets/s, and reports forwarded packets/s, worker CPU per call, calls per core, added
//! latency (per-packet send timestamps, passthrough), loss and RSS per call.

mod peers;
mod report;

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Which bridge path the calls take.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// G.711 on both legs: rewrite and re-protect only.
    Passthrough,
    /// Opus (leg A) ↔ G.722 (leg B): jitter buffer, decode, encode.
    Transcode,
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
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let result = peers::run(peers::Plan {
        calls: args.calls,
        transcode: matches!(args.mode, Mode::Transcode),
        warmup: Duration::from_secs(2),
        measure: Duration::from_secs(args.seconds),
        complexity: args.complexity,
    })
    .map_err(|error| anyhow::anyhow!(error))?;
    report::print(&args_line(&args), &result);
    Ok(())
}

fn args_line(a: &Args) -> String {
    format!(
        "calls={} mode={:?} seconds={} complexity={}",
        a.calls, a.mode, a.seconds, a.complexity
    )
}
