//! Log output: JSON lines in production, readable lines for people.

use tracing_subscriber::EnvFilter;

pub use crate::config::LogFormat;

/// Libraries that log whole protocol messages (SIP with SDP, so addresses and SRTP keys) at
/// `info` and below: held at `warn` whatever the configured level, since secrets never reach
/// logs.
const QUIETED: &[&str] = &["rsipstack=warn"];

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level; the
/// [`QUIETED`] libraries stay at `warn` either way.
pub fn init_logging(format: LogFormat, level: &str) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    for directive in QUIETED {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber already exists (tests); keeping that one is right.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
