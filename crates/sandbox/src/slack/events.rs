//! The Events API: `url_verification`, `event_callback` envelopes, and delivery with Slack's
//! retry schedule (slack-api.md §9).

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::ids;
use super::state::{SlackState, World};
use super::tokens::TokenKind;

/// Delay before retry 1, 2 and 3 after a failed delivery: at once, 1 minute, 5 minutes (§9.3).
pub const RETRY_DELAYS_SECS: [i64; 3] = [0, 60, 300];

/// How often the delivery pump looks for due work, in real time.
const PUMP_INTERVAL: Duration = Duration::from_millis(20);

/// How often an unverified events URL is challenged again.
const REVERIFY_INTERVAL: Duration = Duration::from_secs(2);

/// One request Slack sent to the app, as recorded for tests and the demo.
#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    /// `url_verification`, `event_callback`, `slash_command` or `block_actions`.
    pub kind: String,
    /// The event's `event_id`, for `event_callback`.
    pub event_id: Option<String>,
    /// The inner event's `type`, for `event_callback`.
    pub event_type: Option<String>,
    /// `X-Slack-Retry-Num` (0 for the first attempt, which carries no retry headers).
    pub retry_num: u32,
    /// `X-Slack-Retry-Reason`, on retries.
    pub retry_reason: Option<String>,
    /// Sandbox time (Unix seconds) it was sent at.
    pub at: i64,
    /// The app's HTTP status, when it answered in time.
    pub status: Option<u16>,
    /// `ok`, or the failure: `http_timeout`, `http_error`, `connection_failed`, ….
    pub outcome: String,
    /// Real milliseconds the app took.
    pub elapsed_ms: u64,
}

/// An event waiting for its next delivery attempt.
#[derive(Clone, Debug)]
pub(crate) struct PendingEvent {
    event_id: String,
    event_type: String,
    /// The envelope; identical on every attempt, so `event_id` stays stable (§14 item 5).
    body: Vec<u8>,
    /// Attempts made so far.
    attempts: u32,
    last_reason: Option<&'static str>,
    due: i64,
    in_flight: bool,
}

/// Events waiting to go out, and the record of everything sent.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    pending: Vec<PendingEvent>,
    pub(crate) deliveries: Vec<Delivery>,
    /// Whether the events URL answered the `url_verification` challenge.
    pub(crate) verified: bool,
    /// Real time, not sandbox time: this paces network retries and is no Slack timing rule.
    last_challenge: Option<Instant>,
}

/// Who an event is delivered on behalf of: one `authorizations` entry (§9.2).
pub(crate) struct Authorization<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) is_bot: bool,
}

impl World {
    /// Queues an `event_callback` for `team_id` if the app subscribes to the event and is
    /// entitled to it; `None` when it is not delivered.
    pub(crate) fn enqueue_event(
        &mut self,
        team_id: &str,
        event: Value,
        auth: &Authorization<'_>,
        now: i64,
    ) -> Option<String> {
        let event_type = event["type"].as_str()?.to_owned();
        let subscribed = if auth.is_bot {
            self.app.bot_events.contains(&event_type)
        } else {
            self.app.user_events.contains(&event_type)
        };
        if !subscribed || self.app_urls.events.is_none() {
            return None;
        }
        let ws = self.workspace(team_id)?;
        let event_id = ids::new_id("Ev");
        let mut envelope = json!({
            "token": self.app.verification_token,
            "team_id": team_id,
            "enterprise_id": ws.enterprise_id(),
            "context_team_id": team_id,
            "context_enterprise_id": ws.enterprise_id(),
            "api_app_id": self.app.app_id,
            "event": null,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": now,
            "event_context": format!("4-{}", ids::secret(40)),
            "authorizations": [{
                "enterprise_id": ws.enterprise_id(),
                "team_id": team_id,
                "user_id": auth.user_id,
                "is_bot": auth.is_bot,
                "is_enterprise_install": false,
            }],
            "is_ext_shared_channel": false,
        });
        envelope["event"] = event;
        let body = serde_json::to_vec(&envelope).ok()?;
        self.events.pending.push(PendingEvent {
            event_id: event_id.clone(),
            event_type,
            body,
            attempts: 0,
            last_reason: None,
            due: now,
            in_flight: false,
        });
        Some(event_id)
    }

    /// Queues a user-level event (`user_change` and friends) with the bot's authorization,
    /// when the bot token can read users (§9.4).
    pub(crate) fn enqueue_user_event(&mut self, kind: &str, user_id: &str, now: i64) {
        let Some(team_id) = self.users.get(user_id).map(|u| u.team_id.clone()) else {
            return;
        };
        let Some(bot) = self.live_bot(&team_id, "users:read", now) else {
            return;
        };
        if let Some(event) = self.user_event(kind, user_id, now) {
            let auth = Authorization {
                user_id: &bot,
                is_bot: true,
            };
            self.enqueue_event(&team_id, event, &auth, now);
        }
    }

    /// `dnd_updated_user`, delivered for users who granted a user token with `dnd:read` (§7.7).
    pub(crate) fn enqueue_dnd_event(&mut self, user_id: &str, now: i64) {
        let Some(user) = self.users.get(user_id) else {
            return;
        };
        let team_id = user.team_id.clone();
        let granted = self.tokens.access.values().any(|t| {
            t.kind == TokenKind::User
                && t.user_id == user_id
                && !t.revoked
                && t.expires_at.is_none_or(|end| end > now)
                && t.has_scope("dnd:read")
        });
        if !granted {
            return;
        }
        let event = json!({
            "type": "dnd_updated_user",
            "user": user_id,
            "dnd_status": {
                "dnd_enabled": user.snooze_end.is_some(),
                "next_dnd_start_ts": 1,
                "next_dnd_end_ts": 1,
                "snooze_enabled": user.snooze_end.is_some(),
                "snooze_endtime": user.snooze_end.unwrap_or(0),
            },
            "event_ts": self.ts.next(now),
        });
        let auth = Authorization {
            user_id,
            is_bot: false,
        };
        self.enqueue_event(&team_id, event, &auth, now);
    }

    /// The bot user of `team_id` if the app is installed with a live token holding `scope`.
    pub(crate) fn live_bot(&self, team_id: &str, scope: &str, now: i64) -> Option<String> {
        let bot = self.workspace(team_id)?.bot_user_id.clone()?;
        self.tokens
            .access
            .values()
            .any(|t| {
                t.kind == TokenKind::Bot
                    && t.team_id == team_id
                    && !t.revoked
                    && t.expires_at.is_none_or(|end| end > now)
                    && t.has_scope(scope)
            })
            .then_some(bot)
    }

    /// Clears statuses and snoozes whose time has passed, with their events (§14 item 9).
    pub(crate) fn sweep(&mut self, now: i64) {
        let expired: Vec<String> = self
            .users
            .values()
            .filter(|u| u.status_expiration != 0 && u.status_expiration <= now)
            .map(|u| u.id.clone())
            .collect();
        for user_id in expired {
            if let Some(user) = self.users.get_mut(&user_id) {
                user.status_text.clear();
                user.status_emoji.clear();
                user.status_expiration = 0;
                user.updated = now;
            }
            self.enqueue_user_event("user_change", &user_id, now);
            self.enqueue_user_event("user_status_changed", &user_id, now);
        }
        let woken: Vec<String> = self
            .users
            .values()
            .filter(|u| u.snooze_end.is_some_and(|end| end <= now))
            .map(|u| u.id.clone())
            .collect();
        for user_id in woken {
            if let Some(user) = self.users.get_mut(&user_id) {
                user.snooze_end = None;
            }
            self.enqueue_dnd_event(&user_id, now);
        }
    }
}

impl SlackState {
    /// Runs forever: expires statuses and snoozes, and delivers due events and retries.
    pub(crate) async fn pump(self) {
        loop {
            tokio::time::sleep(PUMP_INTERVAL).await;
            self.pump_once().await;
        }
    }

    /// One round of the pump.
    pub(crate) async fn pump_once(&self) {
        let now = self.now();
        let (due, challenge) = {
            let mut world = self.world();
            let has_events_url = world.app_urls.events.is_some();
            let queue = &mut world.events;
            // An unverified events URL is challenged again every few seconds, so that an app
            // started after the sandbox still gets its events.
            let challenge = !queue.verified
                && has_events_url
                && queue
                    .last_challenge
                    .is_none_or(|at| at.elapsed() >= REVERIFY_INTERVAL);
            let mut due = Vec::new();
            if queue.verified {
                for pending in &mut queue.pending {
                    if !pending.in_flight && pending.due <= now {
                        pending.in_flight = true;
                        due.push(pending.clone());
                    }
                }
            }
            (due, challenge)
        };
        if challenge {
            self.verify_events_url().await;
        }
        for pending in due {
            let state = self.clone();
            tokio::spawn(async move { state.deliver(pending).await });
        }
    }

    /// Sends the `url_verification` challenge to the events URL; true when it was echoed (§9.1).
    pub async fn verify_events_url(&self) -> bool {
        let (url, token) = {
            let mut world = self.world();
            world.events.last_challenge = Some(Instant::now());
            (
                world.app_urls.events.clone(),
                world.app.verification_token.clone(),
            )
        };
        let Some(url) = url else {
            return false;
        };
        let challenge = ids::secret(48);
        let body = json!({"token": token, "challenge": challenge, "type": "url_verification"});
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let answer = self.signed_post(url, "application/json", body, &[]).await;
        let echoed = answer.failure.is_none() && challenge_echoed(&answer.body, &challenge);
        let mut world = self.world();
        world.events.verified = echoed;
        let at = answer.signed_ts - world.signing.skew_secs;
        world.events.deliveries.push(Delivery {
            kind: "url_verification".to_owned(),
            event_id: None,
            event_type: None,
            retry_num: 0,
            retry_reason: None,
            at,
            status: answer.status,
            outcome: match answer.failure {
                Some(reason) => reason.to_owned(),
                None if echoed => "ok".to_owned(),
                None => "challenge_mismatch".to_owned(),
            },
            elapsed_ms: answer.elapsed_ms,
        });
        echoed
    }

    async fn deliver(&self, pending: PendingEvent) {
        let url = self.world().app_urls.events.clone();
        let Some(url) = url else {
            self.world()
                .events
                .pending
                .retain(|p| p.event_id != pending.event_id);
            return;
        };
        let mut headers = Vec::new();
        if pending.attempts > 0 {
            headers.push(("x-slack-retry-num", pending.attempts.to_string()));
            headers.push((
                "x-slack-retry-reason",
                pending.last_reason.unwrap_or("unknown_error").to_owned(),
            ));
        }
        let answer = self
            .signed_post(url, "application/json", pending.body.clone(), &headers)
            .await;
        let now = self.now();
        let mut world = self.world();
        let at = answer.signed_ts - world.signing.skew_secs;
        world.events.deliveries.push(Delivery {
            kind: "event_callback".to_owned(),
            event_id: Some(pending.event_id.clone()),
            event_type: Some(pending.event_type.clone()),
            retry_num: pending.attempts,
            retry_reason: (pending.attempts > 0)
                .then(|| pending.last_reason.unwrap_or("unknown_error").to_owned()),
            at,
            status: answer.status,
            outcome: answer.failure.unwrap_or("ok").to_owned(),
            elapsed_ms: answer.elapsed_ms,
        });
        let queue = &mut world.events.pending;
        let Some(index) = queue.iter().position(|p| p.event_id == pending.event_id) else {
            return;
        };
        let attempts = pending.attempts + 1;
        let retry_delay = usize::try_from(pending.attempts)
            .ok()
            .and_then(|i| RETRY_DELAYS_SECS.get(i).copied());
        match (answer.failure, retry_delay) {
            (Some(reason), Some(delay)) if !answer.no_retry => {
                let entry = &mut queue[index];
                entry.attempts = attempts;
                entry.last_reason = Some(reason);
                entry.due = now + delay;
                entry.in_flight = false;
            }
            _ => {
                queue.remove(index);
            }
        }
    }
}

/// Whether an answer to `url_verification` carries the challenge in one of the accepted forms:
/// plain text, `challenge=…` form, or JSON `{"challenge": …}` (§9.1).
fn challenge_echoed(body: &[u8], challenge: &str) -> bool {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text == challenge {
        return true;
    }
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return value["challenge"] == challenge;
    }
    url::form_urlencoded::parse(text.as_bytes()).any(|(k, v)| k == "challenge" && v == challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_challenge_answer_is_accepted() {
        assert!(challenge_echoed(b"abc", "abc"));
        assert!(challenge_echoed(br#"{"challenge":"abc"}"#, "abc"));
        assert!(challenge_echoed(b"challenge=abc", "abc"));
        assert!(!challenge_echoed(b"", "abc"));
        assert!(!challenge_echoed(br#"{"challenge":"abd"}"#, "abc"));
    }
}
