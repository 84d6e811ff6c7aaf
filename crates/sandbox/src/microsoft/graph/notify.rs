//! Change-notification delivery (reference `teams-graph.md` §4.2–§4.7): the validation
//! handshake, basic and rich payloads with validationTokens, retries with back-off, slow-endpoint
//! throttling and dropping, and lifecycle events.

use std::collections::HashMap;
use std::time::{Duration as StdDuration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::error::GraphError;
use super::subscriptions::{DeliveryOutcome, DeliveryRecord, Subscription, graph_time};
use crate::microsoft::state::{MicrosoftState, lock};

/// The Graph change-notification publisher's app id, the `appid` of validationTokens (§4.6).
pub(crate) const PUBLISHER_APP_ID: &str = "0bf30f3b-4a52-48df-9a82-234910c4a086";
/// A reply must come within this long (§4.3).
const REPLY_DEADLINE: StdDuration = StdDuration::from_secs(3);
/// Notifications are retried for up to four hours of sandbox time (§4.3).
const RETRY_WINDOW_HOURS: i64 = 4;
/// Slow-reply counters reset every ten minutes, and throttled endpoints wait that long (§4.3).
const STATS_WINDOW_MINUTES: i64 = 10;
/// Counters need this many publishes before they judge an endpoint (§4.3).
const MIN_SAMPLES: u32 = 100;

/// A user id and the (availability, activity) to notify.
type ShownItem = (String, (String, String));

/// Publish counters of one notification URL.
#[derive(Debug, Clone)]
pub(crate) struct EndpointStats {
    window_start: DateTime<Utc>,
    total: u32,
    slow: u32,
}

/// How an endpoint is treated given its slow-reply ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndpointHealth {
    Healthy,
    /// ≥10% slow: deliveries wait ten minutes.
    Throttled,
    /// ≥15% slow: notifications are dropped.
    Dropping,
}

impl EndpointStats {
    fn health(&self) -> EndpointHealth {
        if self.total < MIN_SAMPLES {
            return EndpointHealth::Healthy;
        }
        let ratio = f64::from(self.slow) / f64::from(self.total);
        if ratio >= 0.15 {
            EndpointHealth::Dropping
        } else if ratio >= 0.10 {
            EndpointHealth::Throttled
        } else {
            EndpointHealth::Healthy
        }
    }
}

fn endpoint_health(state: &MicrosoftState, url: &str) -> EndpointHealth {
    let now = state.inner.clock.now_utc();
    let mut book = lock(&state.inner.subscriptions);
    match book.endpoint_stats.get_mut(url) {
        Some(stats) if now - stats.window_start >= Duration::minutes(STATS_WINDOW_MINUTES) => {
            book.endpoint_stats.remove(url);
            EndpointHealth::Healthy
        }
        Some(stats) => stats.health(),
        None => EndpointHealth::Healthy,
    }
}

fn record_publish(state: &MicrosoftState, url: &str, slow: bool) {
    let now = state.inner.clock.now_utc();
    let mut book = lock(&state.inner.subscriptions);
    let stats = book
        .endpoint_stats
        .entry(url.to_owned())
        .or_insert(EndpointStats {
            window_start: now,
            total: 0,
            slow: 0,
        });
    stats.total += 1;
    stats.slow += u32::from(slow);
}

/// The documented validation request: `POST {url}?validationToken=…` answered with the decoded
/// token as `text/plain` 200 within 10 s (§4.2).
pub(crate) async fn validate_endpoint(state: &MicrosoftState, url: &str) -> Result<(), GraphError> {
    let failed = || {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
        )
    };
    // Graph's real token contains spaces and a colon, so an endpoint that echoes it still
    // URL-encoded fails, as it does against Graph.
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {}",
        uuid::Uuid::new_v4()
    );
    let mut target = url::Url::parse(url).map_err(|_| failed())?;
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let request = state
        .inner
        .http
        .post(target)
        .header("content-type", "text/plain; charset=utf-8")
        .send();
    let response = tokio::time::timeout(state.inner.tunables.validation_timeout, request)
        .await
        .map_err(|_| failed())?
        .map_err(|_| failed())?;
    let plain = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/plain"));
    if response.status() != StatusCode::OK || !plain {
        return Err(failed());
    }
    let body = tokio::time::timeout(state.inner.tunables.validation_timeout, response.text())
        .await
        .map_err(|_| failed())?
        .map_err(|_| failed())?;
    if body != token {
        return Err(failed());
    }
    Ok(())
}

/// Compares every subscribed user's aggregate with what was last notified and posts the
/// changes (also catches fades and expiries that happen with time alone).
pub(crate) fn presence_changed(state: &MicrosoftState) {
    let now = state.inner.clock.now_utc();
    let users = lock(&state.inner.presence).user_ids();
    let current: HashMap<String, (String, String)> = {
        let presence = lock(&state.inner.presence);
        users
            .into_iter()
            .filter_map(|id| {
                presence
                    .aggregate(&id, now)
                    .map(|s| (id, (s.availability, s.activity)))
            })
            .collect()
    };
    let mut changed = Vec::new();
    let batches: Vec<(Subscription, Vec<ShownItem>)> = {
        let mut book = lock(&state.inner.subscriptions);
        for (id, shown) in &current {
            match book.last_notified.insert(id.clone(), shown.clone()) {
                Some(previous) if &previous != shown => changed.push(id.clone()),
                _ => {}
            }
        }
        book.sweep(now);
        book.subscriptions
            .values()
            .filter(|s| !s.paused)
            .filter_map(|s| {
                let items: Vec<_> = s
                    .user_ids
                    .iter()
                    .filter(|u| changed.iter().any(|c| c.eq_ignore_ascii_case(u)))
                    .filter_map(|u| {
                        current
                            .get(&u.to_ascii_lowercase())
                            .map(|shown| (u.clone(), shown.clone()))
                    })
                    .collect();
                (!items.is_empty()).then(|| (s.clone(), items))
            })
            .collect()
    };
    for (subscription, items) in batches {
        match build_payload(state, &subscription, &items) {
            Ok(payload) => spawn_delivery(state, &subscription, "change", payload),
            Err(error) => tracing::warn!(%error, "could not build a presence notification"),
        }
    }
}

fn build_payload(
    state: &MicrosoftState,
    subscription: &Subscription,
    items: &[ShownItem],
) -> Result<Value, String> {
    let mut value = Vec::new();
    for (user, (availability, activity)) in items {
        let mut item = json!({
            "subscriptionId": subscription.id,
            "clientState": subscription.client_state,
            "changeType": "updated",
            "resource": format!("communications/presences?$filter=id+in+(%27{user}%27)"),
            "subscriptionExpirationDateTime": graph_time(subscription.expires_at),
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.presence",
                "@odata.id": format!("users/{user}/presence"),
                "id": user,
            },
            "tenantId": subscription.tenant_id,
            "organizationId": subscription.tenant_id,
        });
        if let Some(certificate) = &subscription.certificate {
            let data = json!({
                "@odata.id": format!("users/{user}/presence"),
                "@odata.type": "#microsoft.graph.presence",
                "id": user,
                "availability": availability,
                "activity": activity,
            });
            item["encryptedContent"] = certificate.encrypt(data.to_string().as_bytes())?;
        }
        value.push(item);
    }
    let mut payload = json!({ "value": value });
    if subscription.certificate.is_some() {
        payload["validationTokens"] = json!([validation_token(state, subscription)?]);
    }
    Ok(payload)
}

/// A validationTokens JWT for the subscription's (app, tenant) pair (§4.6).
fn validation_token(state: &MicrosoftState, subscription: &Subscription) -> Result<String, String> {
    let now = state.inner.clock.unix();
    let issuer = format!("https://sts.windows.net/{}/", subscription.tenant_id);
    let claims = json!({
        "aud": subscription.app_id, "iss": issuer, "idp": issuer,
        "iat": now, "nbf": now, "exp": now + 3600,
        "appid": PUBLISHER_APP_ID, "appidacr": "2", "tid": subscription.tenant_id,
        "ver": "1.0", "oid": uuid::Uuid::new_v4(), "sub": uuid::Uuid::new_v4(),
    });
    state
        .inner
        .entra_key
        .mint(&claims)
        .map_err(|e| e.to_string())
}

fn spawn_delivery(state: &MicrosoftState, subscription: &Subscription, kind: &str, payload: Value) {
    let url = if kind == "change" {
        subscription.notification_url.clone()
    } else {
        match &subscription.lifecycle_url {
            Some(url) => url.clone(),
            None => return,
        }
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime to deliver a notification on");
        return;
    };
    let state = state.clone();
    let subscription_id = subscription.id.clone();
    let kind = kind.to_owned();
    runtime.spawn(async move {
        let outcome = deliver(&state, &url, &payload).await;
        lock(&state.inner.subscriptions)
            .deliveries
            .push(DeliveryRecord {
                subscription_id,
                url,
                kind,
                outcome,
            });
    });
}

/// Posts until a 2xx, backing off exponentially; drops as documented.
async fn deliver(state: &MicrosoftState, url: &str, payload: &Value) -> DeliveryOutcome {
    let first_try = state.inner.clock.now_utc();
    let mut delay = state.inner.tunables.retry_base;
    let mut attempts = 0;
    loop {
        match endpoint_health(state, url) {
            EndpointHealth::Dropping => {
                return DeliveryOutcome::Dropped {
                    reason: "endpoint_too_slow".to_owned(),
                };
            }
            EndpointHealth::Throttled => {
                let until = state.inner.clock.now_utc() + Duration::minutes(STATS_WINDOW_MINUTES);
                wait_for_sandbox_time(state, until).await;
            }
            EndpointHealth::Healthy => {}
        }
        attempts += 1;
        let started = Instant::now();
        let request = state.inner.http.post(url).json(payload).send();
        let result = tokio::time::timeout(REPLY_DEADLINE, request).await;
        record_publish(
            state,
            url,
            started.elapsed() > state.inner.tunables.slow_publish,
        );
        if let Ok(Ok(response)) = result
            && response.status().is_success()
        {
            return DeliveryOutcome::Delivered { attempts };
        }
        if state.inner.clock.now_utc() - first_try >= Duration::hours(RETRY_WINDOW_HOURS) {
            return DeliveryOutcome::Dropped {
                reason: "retry_window_elapsed".to_owned(),
            };
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(StdDuration::from_secs(600));
    }
}

/// Sleeps until the sandbox clock reaches `until` (tests advance it instead of waiting).
async fn wait_for_sandbox_time(state: &MicrosoftState, until: DateTime<Utc>) {
    while state.inner.clock.now_utc() < until {
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// Sends a lifecycle event (§4.7). `reauthorizationRequired` pauses delivery until the app
/// reauthorizes or renews; `subscriptionRemoved` deletes the subscription.
pub(crate) fn lifecycle(state: &MicrosoftState, subscription_id: &str, event: &str) -> bool {
    let subscription = {
        let mut book = lock(&state.inner.subscriptions);
        match event {
            "subscriptionRemoved" => book.subscriptions.remove(subscription_id),
            _ => book.subscriptions.get_mut(subscription_id).map(|s| {
                s.paused = true;
                s.clone()
            }),
        }
    };
    let Some(subscription) = subscription else {
        return false;
    };
    let payload = json!({"value": [{
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": graph_time(subscription.expires_at),
        "tenantId": subscription.tenant_id,
        "clientState": subscription.client_state,
        "lifecycleEvent": event,
    }]});
    spawn_delivery(state, &subscription, event, payload);
    true
}

/// Periodic work: warn subscriptions about to expire and notify changes that came with time.
pub(crate) fn tick(state: &MicrosoftState) {
    let now = state.inner.clock.now_utc();
    let expiring: Vec<String> = {
        let mut book = lock(&state.inner.subscriptions);
        book.sweep(now);
        book.subscriptions
            .values_mut()
            .filter(|s| !s.expiry_warned && s.expires_at - now <= Duration::minutes(5))
            .map(|s| {
                s.expiry_warned = true;
                s.id.clone()
            })
            .collect()
    };
    for id in expiring {
        lifecycle(state, &id, "reauthorizationRequired");
    }
    presence_changed(state);
}
