//! [`ApiClient`]: one reqwest client per platform, with budgets, retries, metrics and log
//! hygiene around every request an adapter sends.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use callbridge_model::Platform;
use http::StatusCode;
use tokio::time::Instant;

use super::budget::{Admission, Budgets};
use super::config::ClientConfig;
use super::retry_after::{backoff, jittered_wait, parse_retry_after};
use crate::error::AdapterError;

/// One outbound call, as the budget and retry logic see it.
#[derive(Clone, Copy, Debug)]
pub struct ApiCall<'a> {
    /// The platform's name for the operation (`calls.add`, `updatePresence`): the budget it
    /// draws on and its metrics label. Static, so metrics labels stay bounded.
    pub method: &'static str,
    /// Whose budget (a Slack team id, a Graph tenant id); ignored for methods without one.
    pub budget_key: &'a str,
    /// Whether sending it twice is harmless; only idempotent calls are resent after a 5xx or
    /// a transport failure, since the platform may have acted before failing.
    pub idempotent: bool,
}

/// The shared outbound HTTP client of one platform. Cloning is cheap and shares the connection
/// pool and the budgets.
#[derive(Clone, Debug)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    platform: Platform,
    config: ClientConfig,
    http: reqwest::Client,
    budgets: Budgets,
}

/// Why an attempt did not produce a usable response.
enum Failure {
    /// 429: always resendable.
    RateLimited(Option<Duration>),
    /// 5xx: resendable when idempotent, after the server's `Retry-After` if it gave one.
    ServerError(StatusCode, Option<Duration>),
    /// Timeout, connection refused or reset: resendable when idempotent.
    Transport(&'static str),
    /// The request could not be built (a malformed URL from configuration): never resent.
    Invalid,
}

impl ApiClient {
    /// A client for `platform`: one connection pool over rustls, with the configured timeouts.
    ///
    /// # Panics
    ///
    /// Only if the TLS backend cannot initialise, which happens at start-up or never.
    pub fn new(platform: Platform, config: ClientConfig) -> Self {
        // The builder fails only when the TLS provider cannot load: a broken build, not input.
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .expect("the HTTP client's TLS backend initialises");
        Self {
            inner: Arc::new(Inner {
                platform,
                config,
                http,
                budgets: Budgets::default(),
            }),
        }
    }

    /// Gives `method` a budget of `per_minute` calls per budget key (Slack: per workspace;
    /// Graph: per tenant). Calls beyond it wait up to [`ClientConfig::max_budget_wait`]. Meant
    /// for construction time: budgets set on a clone that shares its state are not seen by
    /// the others.
    #[must_use]
    pub fn with_budget(mut self, method: &'static str, per_minute: u32) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.budgets.set(method, per_minute),
            None => {
                // Shared already: this handle gets its own table, sharing the buckets so far.
                let mut budgets = self.inner.budgets.clone();
                budgets.set(method, per_minute);
                self.inner = Arc::new(Inner {
                    platform: self.inner.platform,
                    config: self.inner.config.clone(),
                    http: self.inner.http.clone(),
                    budgets,
                });
            }
        }
        self
    }

    /// The platform this client speaks to.
    pub fn platform(&self) -> Platform {
        self.inner.platform
    }

    /// The configuration in force.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The underlying reqwest client, for libraries that take one (an OAuth client), bypassing
    /// budgets and retries.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Sends one call: waits for its budget, builds the request with `build` (again for each
    /// resend), and retries as the module documentation describes. Returns the response for any
    /// status but 429 and 5xx.
    pub async fn send(
        &self,
        call: ApiCall<'_>,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AdapterError> {
        let config = &self.inner.config;
        let mut retry = 0;
        loop {
            self.wait_for_budget(call).await?;
            let failure = match self.attempt(call, &build).await {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            // The server's own wait gets jitter on top; back-off is jittered already.
            let (wait, server_asked) = match &failure {
                Failure::Invalid => return Err(misconfigured(call.method)),
                // The platform may have acted before failing: only idempotent calls go again.
                Failure::ServerError(..) | Failure::Transport(_) if !call.idempotent => {
                    return Err(self.give_up(call, &failure, retry));
                }
                Failure::RateLimited(Some(after)) | Failure::ServerError(_, Some(after)) => {
                    (*after, true)
                }
                Failure::RateLimited(None)
                | Failure::ServerError(_, None)
                | Failure::Transport(_) => (
                    backoff(config.base_backoff, config.max_backoff, retry),
                    false,
                ),
            };
            if retry >= config.max_retries || wait > config.max_retry_wait {
                return Err(self.give_up(call, &failure, retry));
            }
            retry += 1;
            let wait = if server_asked {
                jittered_wait(wait)
            } else {
                wait
            };
            tracing::debug!(
                platform = self.inner.platform.as_str(),
                method = call.method,
                retry,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "resending"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits until the call's budget admits it, or refuses it when that would take longer than
    /// `max_budget_wait` in all.
    async fn wait_for_budget(&self, call: ApiCall<'_>) -> Result<(), AdapterError> {
        let budgets = &self.inner.budgets;
        let deadline = Instant::now() + self.inner.config.max_budget_wait;
        loop {
            let wait = match budgets.admit(call.method, call.budget_key) {
                Admission::Go => return Ok(()),
                Admission::Wait(wait) => wait,
            };
            if Instant::now() + wait > deadline {
                self.count(call.method, "budget_exhausted");
                budgets.shrink();
                return Err(AdapterError::PlatformUnavailable {
                    method: call.method.to_owned(),
                    reason: "rate budget spent".to_owned(),
                    retry_after: Some(wait),
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One request: sends it, measures it, classifies the answer.
    async fn attempt(
        &self,
        call: ApiCall<'_>,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Failure> {
        let platform = self.inner.platform.as_str();
        let started = Instant::now();
        let sent = build(&self.inner.http).send().await;
        metrics::histogram!(
            "callbridge_api_request_seconds",
            "platform" => platform,
            "method" => call.method,
        )
        .record(started.elapsed().as_secs_f64());
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                let kind = transport_kind(&error);
                self.count(call.method, kind);
                // Without the URL: its query may carry a token.
                let error = error.without_url();
                tracing::info!(platform, method = call.method, kind, %error, "request failed");
                return Err(if error.is_builder() {
                    Failure::Invalid
                } else {
                    Failure::Transport(kind)
                });
            }
        };
        let status = response.status();
        let outcome = match status.as_u16() {
            200..=399 => "success",
            429 => "rate_limited",
            400..=499 => "client_error",
            _ => "server_error",
        };
        self.count(call.method, outcome);
        tracing::debug!(
            platform,
            method = call.method,
            status = status.as_u16(),
            "response"
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            Err(Failure::RateLimited(parse_retry_after(
                response.headers(),
                SystemTime::now(),
            )))
        } else if status.is_server_error() {
            Err(Failure::ServerError(
                status,
                parse_retry_after(response.headers(), SystemTime::now()),
            ))
        } else {
            Ok(response)
        }
    }

    /// The error for a call that will not be resent.
    fn give_up(&self, call: ApiCall<'_>, failure: &Failure, retries: u32) -> AdapterError {
        let (reason, retry_after) = match failure {
            Failure::Invalid => return misconfigured(call.method),
            Failure::RateLimited(after) => ("rate limited (HTTP 429)".to_owned(), *after),
            Failure::ServerError(status, after) => (format!("HTTP {}", status.as_u16()), *after),
            Failure::Transport(kind) => ((*kind).to_owned(), None),
        };
        let reason = if retries == 0 {
            reason
        } else {
            format!("{reason} after {retries} retries")
        };
        tracing::warn!(
            platform = self.inner.platform.as_str(),
            method = call.method,
            %reason,
            "giving up"
        );
        AdapterError::PlatformUnavailable {
            method: call.method.to_owned(),
            reason,
            retry_after,
        }
    }

    fn count(&self, method: &'static str, outcome: &'static str) {
        metrics::counter!(
            "callbridge_api_requests_total",
            "platform" => self.inner.platform.as_str(),
            "method" => method,
            "outcome" => outcome,
        )
        .increment(1);
    }
}

/// The error for a request that could not even be built.
fn misconfigured(method: &str) -> AdapterError {
    AdapterError::Misconfigured(format!(
        "{method}: the request could not be built (check the platform's base URL)"
    ))
}

/// A stable label for a failed send.
fn transport_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect_failed"
    } else if error.is_builder() {
        "invalid_request"
    } else {
        "transport_failed"
    }
}
