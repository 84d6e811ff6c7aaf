//! Log output: JSON lines in production, readable lines for people.

use tracing_subscriber::EnvFilter;

pub use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level.
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
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
