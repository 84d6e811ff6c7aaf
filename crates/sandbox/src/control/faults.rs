//! Fault injection: make a sandbox slow, failing or throttled on chosen routes, so that
//! callbridge's retries, back-off and error handling are tested against the platform's real
//! failure shapes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::CONTROL_PREFIX;

/// What a matching request suffers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer normally, but only after this many milliseconds.
    Latency {
        /// Added delay in milliseconds.
        millis: u64,
    },
    /// Answer with this HTTP status (5xx for outages) and an empty JSON object.
    Status {
        /// The status code to answer with.
        status: u16,
    },
    /// Answer 429 with `Retry-After`, as a throttled platform does.
    RateLimit {
        /// Seconds the client is told to wait.
        retry_after_secs: u64,
    },
}

/// One fault: which requests it hits, what it does, and how many times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Requests whose path starts with this prefix are hit (`/` hits every platform route).
    pub path_prefix: String,
    /// What happens to them.
    #[serde(flatten)]
    pub action: FaultAction,
    /// How many requests the rule hits before it lapses; `None` means until cleared.
    #[serde(default)]
    pub remaining: Option<u32>,
}

/// Builds the response of a `status` or `rate_limit` fault for a request path, in the error
/// shape the platform uses there. `Retry-After` is added by the middleware.
pub type FaultRenderer = Arc<dyn Fn(&str, StatusCode) -> Response + Send + Sync>;

/// The fault rules in force for one sandbox. Cloning shares them.
#[derive(Clone)]
pub struct Faults {
    rules: Arc<Mutex<Vec<FaultRule>>>,
    render: FaultRenderer,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("rules", &self.list())
            .finish_non_exhaustive()
    }
}

impl Default for Faults {
    fn default() -> Self {
        Self::with_renderer(Arc::new(slack_shaped))
    }
}

/// Slack's shapes: `{"ok":false,"error":"ratelimited"}` for 429, `{}` otherwise.
fn slack_shaped(_path: &str, status: StatusCode) -> Response {
    let body = if status == StatusCode::TOO_MANY_REQUESTS {
        serde_json::json!({"ok": false, "error": "ratelimited"})
    } else {
        serde_json::json!({})
    };
    (status, axum::Json(body)).into_response()
}

impl Faults {
    /// No faults; fault responses in Slack's shapes.
    pub fn new() -> Self {
        Self::default()
    }

    /// No faults; fault responses built by `render` (for platforms with other error shapes).
    pub fn with_renderer(render: FaultRenderer) -> Self {
        Self {
            rules: Arc::default(),
            render,
        }
    }

    /// Adds a rule; the first matching rule wins, in insertion order.
    pub fn add(&self, rule: FaultRule) {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The rules in force.
    pub fn list(&self) -> Vec<FaultRule> {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The action for a request to `path`, consuming one use of the matching rule.
    /// Control routes are never faulted: a test must always be able to clear a storm.
    pub fn take(&self, path: &str) -> Option<FaultAction> {
        if path.starts_with(CONTROL_PREFIX) {
            return None;
        }
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        let index = rules
            .iter()
            .position(|rule| path.starts_with(&rule.path_prefix))?;
        let action = rules[index].action.clone();
        match &mut rules[index].remaining {
            Some(1) => {
                rules.remove(index);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(action)
    }
}

/// Axum middleware applying [`Faults`] to every request of a sandbox router
/// (`axum::middleware::from_fn_with_state(faults, apply_faults)`).
pub async fn apply_faults(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    match faults.take(request.uri().path()) {
        None => next.run(request).await,
        Some(FaultAction::Latency { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(request).await
        }
        Some(FaultAction::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            (faults.render)(request.uri().path(), status)
        }
        Some(FaultAction::RateLimit { retry_after_secs }) => {
            let mut response = (faults.render)(request.uri().path(), StatusCode::TOO_MANY_REQUESTS);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str, remaining: Option<u32>) -> FaultRule {
        FaultRule {
            path_prefix: prefix.to_owned(),
            action: FaultAction::Status { status: 503 },
            remaining,
        }
    }

    #[test]
    fn counted_rule_lapses_after_its_uses() {
        let faults = Faults::new();
        faults.add(rule("/api/chat.", Some(2)));
        assert!(faults.take("/api/chat.postMessage").is_some());
        assert!(faults.take("/api/users.info").is_none());
        assert!(faults.take("/api/chat.update").is_some());
        assert!(faults.take("/api/chat.update").is_none());
        assert!(faults.list().is_empty());
    }

    #[test]
    fn control_routes_are_never_faulted() {
        let faults = Faults::new();
        faults.add(rule("/", None));
        assert!(faults.take("/_sandbox/faults").is_none());
        assert!(faults.take("/api/auth.test").is_some());
    }

    #[test]
    fn rule_json_shape_is_flat() {
        let parsed: FaultRule = serde_json::from_str(
            r#"{"path_prefix":"/v1.0/","kind":"rate_limit","retry_after_secs":7,"remaining":3}"#,
        )
        .unwrap();
        assert_eq!(
            parsed.action,
            FaultAction::RateLimit {
                retry_after_secs: 7
            }
        );
        assert_eq!(parsed.remaining, Some(3));
    }
}
