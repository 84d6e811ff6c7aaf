//! Settings of an [`ApiClient`](super::ApiClient): timeouts, retries and how long a call may wait.

use std::time::Duration;

/// How an [`ApiClient`](super::ApiClient) times out, retries and waits. Build it from
/// [`ClientConfig::default`] and override fields:
/// `ClientConfig { max_retries: 2, ..ClientConfig::default() }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Whole-request timeout for one attempt (connect, send, response headers and body).
    pub timeout: Duration,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Resends after the first attempt, for 429s (always) and for 5xx and transport failures
    /// (idempotent calls only).
    pub max_retries: u32,
    /// The longest a call waits for its rate budget before it is refused with
    /// `PlatformUnavailable` (zero: refuse at once when the budget is spent).
    pub max_budget_wait: Duration,
    /// The longest a call waits on one `Retry-After`; a platform asking for more is answered
    /// with `PlatformUnavailable` carrying its `retry_after` at once, so that a caller on a
    /// deadline (a ringing call) can decide for itself.
    pub max_retry_wait: Duration,
    /// The first back-off after a 5xx or a transport failure; doubled for each further retry.
    pub base_backoff: Duration,
    /// The cap of the exponential back-off.
    pub max_backoff: Duration,
    /// The `User-Agent` header sent with every request.
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            // Slack and Graph answer well within this; a hung socket must not hold a call flow.
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_retries: 3,
            max_budget_wait: Duration::from_secs(5),
            max_retry_wait: Duration::from_secs(30),
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            user_agent: concat!("callbridge/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}
