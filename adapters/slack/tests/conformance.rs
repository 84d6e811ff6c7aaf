//! The shared adapter conformance suite, run against the Slack sandbox: signatures (v0, five
//! minutes both ways), deduplication through the inbox, unknown events, and each command
//! round-tripping, also under a 429 storm and a 503.

mod common;

use std::sync::Arc;

use axum::http::Method;
use callbridge_adapter::conformance::{CommandCase, ConformanceTarget, Delivery, Forgery};
use callbridge_adapter::{BoxFuture, InboundRequest, PlatformAdapter};
use callbridge_model::{
    Activity, Availability, CallId, LegId, Notice, OwnershipFingerprint, Platform, PlatformCommand,
    PlatformEvent, Presence, PresenceOrigin, PresenceSource, StatusText, TerminationCause, UserRef,
};
use common::{BOB, CAROL, Harness, SECRET, TEAM, signed_headers};
use serde_json::{Value, json};
use url::Url;

struct SlackConformance {
    h: Harness,
}

impl SlackConformance {
    async fn start() -> Self {
        Self {
            h: Harness::demo().await,
        }
    }

    fn body(event_id: &str) -> String {
        json!({
            "token": "sandboxVerificationTok", "team_id": TEAM, "api_app_id": "A0CALLBRDG",
            "type": "event_callback", "event_id": format!("Ev{event_id}"), "event_time": 1,
            "event": {"type": "user_change", "user": {"id": BOB, "team_id": TEAM,
                "profile": {"status_text": "Lunch", "status_emoji": ":taco:", "status_expiration": 0}}},
        })
        .to_string()
    }

    fn request(&self, body: String, ts_offset: i64, signed_body: Option<&str>) -> InboundRequest {
        let ts = self.h.slack.clock().unix() + ts_offset;
        let headers = signed_headers(
            SECRET,
            "application/json",
            ts,
            signed_body.unwrap_or(&body).as_bytes(),
        );
        self.h.request(Method::POST, "/events", headers, body)
    }
}

fn bob() -> UserRef {
    UserRef::Slack {
        team: TEAM.parse().unwrap(),
        user: BOB.parse().unwrap(),
    }
}

async fn control(base: &str, path: &str) -> Value {
    reqwest::get(format!("{base}/{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

impl ConformanceTarget for SlackConformance {
    fn adapter(&self) -> Arc<dyn PlatformAdapter> {
        self.h.adapter.clone()
    }

    fn sandbox_url(&self) -> String {
        self.h
            .slack
            .base_url()
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    fn signed_event<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let request = self.request(Self::body(event_id), 0, None);
            let events = vec![PlatformEvent::PresenceChanged {
                event_id: format!("Ev{event_id}").parse().unwrap(),
                user: bob(),
                presence: Presence {
                    availability: Availability::PresenceUnknown,
                    activity: None,
                    status_text: Some(StatusText::parse("Lunch").unwrap()),
                    status_emoji: Some(":taco:".into()),
                    expires_at: None,
                    source: PresenceSource {
                        platform: Platform::Slack,
                        origin: PresenceOrigin::User,
                        fingerprint: None,
                    },
                },
            }];
            Delivery { request, events }
        })
    }

    fn forged_event<'a>(
        &'a self,
        event_id: &'a str,
        forgery: Forgery,
    ) -> BoxFuture<'a, InboundRequest> {
        Box::pin(async move {
            let body = Self::body(event_id);
            match forgery {
                Forgery::Unsigned => {
                    let mut request = self.request(body, 0, None);
                    request.headers.remove("x-slack-signature");
                    request.headers.remove("x-slack-request-timestamp");
                    request
                }
                Forgery::SignedOverAnotherBody => {
                    self.request(body, 0, Some(&Self::body("another")))
                }
                Forgery::Stale => self.request(body, -301, None),
                Forgery::FromTheFuture => self.request(body, 301, None),
                other => panic!("forgery {other:?} not provided"),
            }
        })
    }

    fn unknown_event(&self) -> BoxFuture<'_, InboundRequest> {
        Box::pin(async move {
            let body = json!({"type": "event_callback", "event_id": "EvUNKNOWN", "team_id": TEAM,
                "event": {"type": "reaction_added", "user": BOB, "reaction": "thumbsup"}})
            .to_string();
            self.request(body, 0, None)
        })
    }

    fn command_cases(&self) -> BoxFuture<'_, Vec<CommandCase>> {
        Box::pin(async move {
            let base = self.sandbox_url();
            // A card to hang up, posted before the cases run.
            let (call, leg) = (CallId::generate(), LegId::generate());
            self.h
                .adapter
                .execute(PlatformCommand::PostCallCard {
                    call,
                    leg,
                    to: bob(),
                    join_url: Url::parse("https://calls.example.com/join/c").unwrap(),
                    title: "Conformance call".into(),
                })
                .await
                .unwrap();
            let busy = Presence {
                availability: Availability::Busy,
                activity: Some(Activity::parse("InACall").unwrap()),
                status_text: None,
                status_emoji: None,
                expires_at: None,
                source: PresenceSource {
                    platform: Platform::Teams,
                    origin: PresenceOrigin::Callbridge,
                    fingerprint: Some(OwnershipFingerprint::parse("cb1:c0ffee00").unwrap()),
                },
            };
            let carol = UserRef::Slack {
                team: TEAM.parse().unwrap(),
                user: CAROL.parse().unwrap(),
            };
            let (b1, b2, b3) = (base.clone(), base.clone(), base.clone());
            vec![
                CommandCase::new(
                    "set presence",
                    PlatformCommand::SetPresence {
                        user: bob(),
                        presence: busy,
                    },
                    true,
                    "/api/users.profile.set",
                    move |_| async move {
                        let users = control(&b1, "_sandbox/slack/users").await;
                        let bob = users
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|u| u["id"] == BOB)
                            .cloned()
                            .unwrap();
                        (bob["status_text"] == "In a call on Teams")
                            .then_some(())
                            .ok_or_else(|| format!("Bob shows {bob}"))
                    },
                ),
                CommandCase::new(
                    "send notice",
                    PlatformCommand::SendNotice {
                        to: carol,
                        notice: Notice::Info {
                            text: "conformance notice".into(),
                        },
                    },
                    false,
                    "/api/chat.postMessage",
                    move |outcome| async move {
                        let ts = outcome.platform_ref.ok_or("no message ts")?;
                        let messages = control(&b2, "_sandbox/slack/messages").await;
                        messages
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|m| m["ts"] == ts.as_str() && m["text"] == "conformance notice")
                            .then_some(())
                            .ok_or_else(|| "the notice is not in Slack".to_owned())
                    },
                ),
                CommandCase::new(
                    "hang up",
                    PlatformCommand::HangUp {
                        call,
                        leg,
                        cause: TerminationCause::Normal,
                    },
                    true,
                    "/api/calls.end",
                    move |_| async move {
                        let calls = control(&b3, "_sandbox/slack/calls").await;
                        calls["cards"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|c| {
                                c["call"]["external_unique_id"] == call.to_string()
                                    && c["state"] == "ended"
                            })
                            .then_some(())
                            .ok_or_else(|| format!("the card did not end: {calls}"))
                    },
                ),
            ]
        })
    }
}

callbridge_adapter::conformance_suite!(SlackConformance::start());
