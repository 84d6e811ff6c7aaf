//! The shared outbound HTTP client layer: every adapter talks to its platform through one
//! [`ApiClient`], so rate budgets, `Retry-After`, back-off, timeouts, metrics and log hygiene are
//! solved once and behave the same on every platform.
//!
//! ```no_run
//! # async fn demo(url: &str, token: &str) -> Result<(), callbridge_adapter::AdapterError> {
//! use callbridge_adapter::client::{ApiCall, ApiClient, ClientConfig};
//! use callbridge_model::Platform;
//!
//! let client = ApiClient::new(Platform::Slack, ClientConfig::default())
//!     .with_budget("users.profile.set", 10); // calls per minute per budget key
//! let response = client
//!     .send(
//!         ApiCall { method: "users.profile.set", budget_key: "T0123", idempotent: true },
//!         |http| http.post(url).bearer_auth(token),
//!     )
//!     .await?;
//! # let _ = response;
//! # Ok(())
//! # }
//! ```
//!
//! What [`ApiClient::send`] does with each outcome:
//!
//! | outcome | what happens |
//! |---|---|
//! | budget for `(method, budget_key)` spent | waits up to [`ClientConfig::max_budget_wait`], else `PlatformUnavailable` with `retry_after` |
//! | 429 | waits `Retry-After` (seconds, fractional seconds or an HTTP date) plus jitter and resends, idempotent or not (the platform did not process it), up to [`ClientConfig::max_retries`]; then, or when the wait exceeds [`ClientConfig::max_retry_wait`], `PlatformUnavailable` with `retry_after` |
//! | 5xx, timeout, connection failure | idempotent calls: jittered exponential back-off (or the server's `Retry-After`) and resend, up to `max_retries`; others: `PlatformUnavailable` at once, since the platform may have acted |
//! | any other status | returned for the adapter to interpret |
//!
//! [`RefreshGate`] makes token refresh single-flight per key.
//!
//! Metrics: `callbridge_api_requests_total{platform,method,outcome}` per attempt, `outcome`
//! being `success` (1xx-3xx), `client_error` (4xx but 429), `rate_limited`, `server_error`,
//! `timeout`, `connect_failed`, `transport_failed` or `invalid_request`, plus one
//! `budget_exhausted` per call refused by its budget; and the
//! `callbridge_api_request_seconds{platform,method}` histogram per attempt sent. Logs name the
//! platform, the method, the status and the retry; never a URL (reqwest's errors are stripped
//! of theirs), a query, a body or a token.
//!
//! Each attempt is bounded by [`ClientConfig::timeout`]; a call's whole duration is at most
//! that times `max_retries + 1`, plus the waits, each bounded by `max_budget_wait` or
//! `max_retry_wait`.

mod api;
mod budget;
mod config;
mod refresh;
mod retry_after;

pub use api::{ApiCall, ApiClient};
pub use config::ClientConfig;
pub use refresh::RefreshGate;
pub use retry_after::parse_retry_after;
