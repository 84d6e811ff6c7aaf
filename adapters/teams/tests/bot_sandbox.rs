//! The bot against the Microsoft sandbox's Bot Connector (reference `teams-graph.md` §5): real
//! activities signed by the sandbox reach [`Bot::handle`] through an HTTP endpoint as the
//! gateway would mount it; what the bot writes back lands in the sandbox's conversations and is
//! read back through its control API.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use callbridge_adapter::client::{ApiClient, ClientConfig};
use callbridge_adapter::{AdapterError, InboundRequest, Secret};
use callbridge_model::{
    CallId, CallTarget, LegId, LegState, Notice, Platform, PlatformCommand, PlatformEvent,
    TerminationCause, UserRef,
};
use callbridge_sandbox::microsoft::{
    BotMessage, MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed, RunningMicrosoftSandbox,
};
use callbridge_teams::bot::{
    Bot, BotClient, BotClientConfig, BotVerifier, BotVerifierConfig, ConversationBook,
};
use serde_json::{Value, json};
use url::Url;

const APP: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";
const SECRET: &str = "sandbox-secret-change-me";
const TENANT: &str = "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b";
const ALICE: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
const BOB: &str = "4a3b2c1d-6e5f-4a70-9b8c-1d0e2f3a4b5c";

#[derive(Clone)]
struct Endpoint {
    bot: Arc<Bot>,
    sandbox_clock: callbridge_sandbox::control::SandboxClock,
    events: Arc<Mutex<Vec<PlatformEvent>>>,
    refusals: Arc<Mutex<Vec<String>>>,
}

/// `POST /messages` as the gateway mounts it: raw body and headers in, the adapter's reply out.
async fn messages(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request = InboundRequest {
        method: Method::POST,
        path: "/messages".to_owned(),
        query: None,
        headers,
        body,
        received_at: endpoint.sandbox_clock.now_utc(),
    };
    match endpoint.bot.handle(&request).await {
        Ok(inbound) => {
            endpoint.events.lock().unwrap().extend(inbound.events);
            let mut response = (inbound.reply.status, inbound.reply.body).into_response();
            response.headers_mut().extend(inbound.reply.headers);
            response
        }
        Err(error) => {
            endpoint
                .refusals
                .lock()
                .unwrap()
                .push(error.label().to_owned());
            let status = match error {
                AdapterError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                AdapterError::Malformed(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            status.into_response()
        }
    }
}

struct Rig {
    sandbox: RunningMicrosoftSandbox,
    endpoint: Endpoint,
}

fn bot_for(sandbox: &RunningMicrosoftSandbox, app_id: &str) -> Bot {
    let base = sandbox.base_url();
    let api = ApiClient::new(Platform::Teams, ClientConfig::default());
    let mut verifier = BotVerifierConfig::new(app_id).unwrap();
    verifier.openid_metadata =
        Url::parse(&format!("{base}/v1/.well-known/openidconfiguration")).unwrap();
    let client = BotClientConfig::single_tenant(
        &Url::parse(&base).unwrap(),
        TENANT,
        APP,
        Secret::new(SECRET),
    )
    .unwrap();
    Bot::new(
        BotVerifier::new(verifier, api.clone()),
        BotClient::new(client, &api),
    )
}

async fn rig_with(app_id: &str) -> Rig {
    let mut config = MicrosoftConfig::new(MicrosoftSeed::demo());
    config.sip_ip = None;
    let sandbox = MicrosoftSandbox::start(config).await.unwrap();
    let endpoint = Endpoint {
        bot: Arc::new(bot_for(&sandbox, app_id)),
        sandbox_clock: sandbox.clock(),
        events: Arc::default(),
        refusals: Arc::default(),
    };
    let app = Router::new()
        .route("/teams/messages", post(messages))
        .with_state(endpoint.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/teams/messages", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    sandbox.set_messaging_endpoint(APP, &url);
    Rig { sandbox, endpoint }
}

async fn rig() -> Rig {
    rig_with(APP).await
}

impl Rig {
    fn events(&self) -> Vec<PlatformEvent> {
        self.endpoint.events.lock().unwrap().clone()
    }

    fn shown(&self, user: &str) -> Vec<BotMessage> {
        self.sandbox.bot_messages(user).unwrap()
    }

    fn bot(&self) -> &Bot {
        &self.endpoint.bot
    }
}

fn alice() -> UserRef {
    UserRef::Teams {
        tenant: TENANT.parse().unwrap(),
        user: ALICE.parse().unwrap(),
    }
}

fn card_of(message: &BotMessage) -> &Value {
    assert_eq!(
        message.activity["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    &message.activity["attachments"][0]["content"]
}

fn texts(card: &Value) -> String {
    card["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test]
async fn a_typed_call_command_is_verified_and_becomes_a_call_request() {
    let rig = rig().await;
    let reply = rig
        .sandbox
        .message_bot(ALICE, "call Bob@Example.com")
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let events = rig.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let PlatformEvent::CallRequested {
        event_id,
        caller,
        target,
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(caller, &alice());
    assert_eq!(
        target,
        &CallTarget::Email("bob@example.com".parse().unwrap())
    );
    // The event id is the activity id Teams assigned (digits, per §5.1).
    assert!(
        event_id.as_str().bytes().all(|b| b.is_ascii_digit()),
        "{event_id}"
    );
    // The conversation is now known, for proactive messages.
    let reference = rig.bot().conversations().get(ALICE).unwrap();
    assert_eq!(reference.tenant_id, TENANT);
    assert_eq!(
        reference.service_url,
        format!("{}/amer/", rig.sandbox.base_url())
    );
    assert!(reference.conversation_id.starts_with("a:"));
    // A call request is answered by the engine's outcome, not by a chat line here.
    assert!(rig.shown(ALICE).is_empty());

    rig.sandbox
        .message_bot(ALICE, "call +1 (425) 555-0199")
        .await
        .unwrap();
    let events = rig.events();
    assert!(
        matches!(
            &events[1],
            PlatformEvent::CallRequested { target: CallTarget::Phone(n), .. } if n.as_str() == "+14255550199"
        ),
        "{events:?}"
    );
}

#[tokio::test]
async fn help_and_unusable_commands_are_answered_in_the_chat() {
    let rig = rig().await;
    rig.sandbox.message_bot(ALICE, "help").await.unwrap();
    rig.sandbox
        .message_bot(ALICE, "call @nobody")
        .await
        .unwrap();
    rig.sandbox.message_bot(ALICE, "dance").await.unwrap();
    assert!(rig.events().is_empty());
    let shown = rig.shown(ALICE);
    assert_eq!(shown.len(), 3, "{shown:?}");
    let help = card_of(&shown[0]);
    assert_eq!(help["version"], "1.5");
    assert!(help.to_string().contains("call name@company.com"));
    assert!(texts(card_of(&shown[1])).contains("could not find @nobody"));
    assert!(texts(card_of(&shown[2])).contains("did not understand"));
    // Each is a reply to the activity it answers.
    assert!(shown.iter().all(|m| m.activity["replyToId"].is_string()));
}

#[tokio::test]
async fn a_token_for_another_bot_is_refused_by_the_endpoint() {
    let rig = rig_with("00000000-0000-4000-8000-000000000009").await;
    let reply = rig
        .sandbox
        .message_bot(ALICE, "call bob@example.com")
        .await
        .unwrap();
    assert_eq!(reply.status, 401);
    assert!(rig.events().is_empty());
    assert_eq!(
        *rig.endpoint.refusals.lock().unwrap(),
        vec!["unauthenticated"]
    );
}

#[tokio::test]
async fn card_buttons_call_back_and_decline_with_a_replacement_card() {
    let rig = rig().await;
    let slack_bob = UserRef::Slack {
        team: "T0DEMOTEAM".parse().unwrap(),
        user: "U0DEMOBOB1".parse().unwrap(),
    };
    let target = serde_json::to_value(CallTarget::User(slack_bob.clone())).unwrap();
    let reply = rig
        .sandbox
        .press_card_action(
            ALICE,
            "callBack",
            json!({"verb": "callBack", "target": target}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let answer: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["type"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(answer["value"]["type"], "AdaptiveCard");

    let (call, leg) = (CallId::generate(), LegId::generate());
    let reply = rig
        .sandbox
        .press_card_action(
            ALICE,
            "decline",
            json!({"call": call.to_string(), "leg": leg.to_string()}),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let events = rig.events();
    assert!(
        matches!(
            &events[0],
            PlatformEvent::CallRequested { target: CallTarget::User(u), caller, .. } if *u == slack_bob && *caller == alice()
        ),
        "{events:?}"
    );
    assert_eq!(
        events[1],
        PlatformEvent::LegEnded {
            call,
            leg,
            cause: TerminationCause::Declined
        }
    );
}

#[tokio::test]
async fn replies_notices_and_ringing_cards_land_in_the_conversation() {
    let rig = rig().await;
    let now = rig.sandbox.clock().now_utc();
    rig.sandbox
        .message_bot(ALICE, "call bob@example.com")
        .await
        .unwrap();
    let Some(PlatformEvent::CallRequested { event_id, .. }) = rig.events().pop() else {
        panic!("no call request")
    };

    // Reply: answers the request where it was made.
    let reply = PlatformCommand::Reply {
        to_event: event_id,
        text: "Bob is not linked to a Teams account yet.".to_owned(),
    };
    rig.bot().execute(&reply, now).await.unwrap().unwrap();

    // Missed call with Call back (proactive).
    let slack_bob = UserRef::Slack {
        team: "T0DEMOTEAM".parse().unwrap(),
        user: "U0DEMOBOB1".parse().unwrap(),
    };
    let missed = PlatformCommand::SendNotice {
        to: alice(),
        notice: Notice::MissedCall {
            caller: slack_bob.clone(),
            caller_name: "Bob (Slack)".to_owned(),
        },
    };
    rig.bot().execute(&missed, now).await.unwrap().unwrap();

    // Info notice.
    let info = PlatformCommand::SendNotice {
        to: alice(),
        notice: Notice::Info {
            text: "Calls are paused for maintenance.".to_owned(),
        },
    };
    rig.bot().execute(&info, now).await.unwrap().unwrap();

    // Ringing card, then its update.
    let (call, leg) = (CallId::generate(), LegId::generate());
    let ringing = PlatformCommand::PostCallCard {
        call,
        leg,
        to: alice(),
        join_url: Url::parse("https://gw.example.com/join/abc").unwrap(),
        title: "Bob (Slack)".to_owned(),
    };
    let posted = rig.bot().execute(&ringing, now).await.unwrap().unwrap();

    let shown = rig.shown(ALICE);
    assert_eq!(shown.len(), 4, "{shown:?}");
    assert!(texts(card_of(&shown[0])).contains("not linked"));
    assert!(shown[0].activity["replyToId"].is_string());

    let missed_card = card_of(&shown[1]);
    assert!(texts(missed_card).contains("Missed call from Bob (Slack)"));
    let button = &missed_card["actions"][0];
    assert_eq!(button["type"], "Action.Execute");
    assert_eq!(button["title"], "Call back");
    // Pressing it calls Bob back.
    let pressed = rig
        .sandbox
        .press_card_action(
            ALICE,
            button["verb"].as_str().unwrap(),
            button["data"].clone(),
        )
        .await
        .unwrap();
    assert_eq!(pressed.status, 200);
    assert!(matches!(
        rig.events().last(),
        Some(PlatformEvent::CallRequested { target: CallTarget::User(u), .. }) if *u == slack_bob
    ));

    assert!(texts(card_of(&shown[2])).contains("paused for maintenance"));

    let ringing_card = card_of(&shown[3]);
    assert!(texts(ringing_card).contains("Bob (Slack) is calling"));
    assert_eq!(ringing_card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(
        ringing_card["actions"][0]["url"],
        "https://gw.example.com/join/abc"
    );
    assert_eq!(ringing_card["actions"][1]["verb"], "decline");
    assert_eq!(
        posted.platform_ref.as_deref(),
        Some(shown[3].activity_id.as_str())
    );
    // Pressing its Decline ends that leg.
    let decline = &ringing_card["actions"][1];
    let pressed = rig
        .sandbox
        .press_card_action(ALICE, "decline", decline["data"].clone())
        .await
        .unwrap();
    assert_eq!(pressed.status, 200);
    assert_eq!(
        rig.events().last(),
        Some(&PlatformEvent::LegEnded {
            call,
            leg,
            cause: TerminationCause::Declined
        })
    );

    let update = PlatformCommand::UpdateCallCard {
        call,
        leg,
        state: LegState::Ended,
    };
    rig.bot().execute(&update, now).await.unwrap().unwrap();
    let shown = rig.shown(ALICE);
    assert_eq!(shown.len(), 4, "an update replaces, it does not add");
    assert!(texts(card_of(&shown[3])).contains("Call ended"));
    assert!(
        card_of(&shown[3])["actions"].is_null(),
        "no buttons on an ended call"
    );
}

#[tokio::test]
async fn a_user_who_never_wrote_is_reached_through_a_new_conversation() {
    let rig = rig().await;
    let now = rig.sandbox.clock().now_utc();
    let notice = PlatformCommand::SendNotice {
        to: UserRef::Teams {
            tenant: TENANT.parse().unwrap(),
            user: BOB.parse().unwrap(),
        },
        notice: Notice::Info {
            text: "hello".to_owned(),
        },
    };
    let refused = rig.bot().execute(&notice, now).await.unwrap();
    assert!(
        matches!(refused, Err(AdapterError::PlatformRejected { .. })),
        "{refused:?}"
    );

    let service_url = format!("{}/amer/", rig.sandbox.base_url());
    let reference = rig
        .bot()
        .client()
        .create_conversation(&service_url, TENANT, BOB, now)
        .await
        .unwrap();
    rig.bot().conversations().remember(reference);
    rig.bot().execute(&notice, now).await.unwrap().unwrap();
    let shown = rig.shown(BOB);
    assert_eq!(shown.len(), 1);
    assert_eq!(texts(card_of(&shown[0])), "hello");
}

#[tokio::test]
async fn conversation_references_survive_an_export_and_import() {
    let rig = rig().await;
    rig.sandbox.message_bot(ALICE, "help").await.unwrap();
    let saved = rig.bot().conversations().export();
    assert_eq!(saved.len(), 1);
    let text = serde_json::to_string(&saved).unwrap();

    // A restarted process: a fresh bot that only has what the host persisted.
    let restarted = bot_for(&rig.sandbox, APP);
    let book: &ConversationBook = restarted.conversations();
    book.import(serde_json::from_str::<Vec<_>>(&text).unwrap());
    let now = rig.sandbox.clock().now_utc();
    let notice = PlatformCommand::SendNotice {
        to: alice(),
        notice: Notice::Info {
            text: "still here".to_owned(),
        },
    };
    restarted.execute(&notice, now).await.unwrap().unwrap();
    assert!(texts(card_of(rig.shown(ALICE).last().unwrap())).contains("still here"));
}

#[tokio::test]
async fn installing_the_app_makes_the_user_reachable_and_removing_it_forgets_them() {
    let rig = rig().await;
    assert!(rig.bot().conversations().is_empty());
    let reply = rig.sandbox.set_bot_installed(ALICE, true).await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(rig.events().is_empty());
    let reference = rig.bot().conversations().get(ALICE).unwrap();
    assert_eq!(reference.bot_id, format!("28:{APP}"));
    // The welcome note went to the new conversation.
    let shown = rig.shown(ALICE);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].conversation_id, reference.conversation_id);
    assert!(texts(card_of(&shown[0])).contains("ready"));

    rig.sandbox.set_bot_installed(ALICE, false).await.unwrap();
    assert!(rig.bot().conversations().get(ALICE).is_none());
}

#[tokio::test]
async fn a_legacy_submit_button_calls_back() {
    let rig = rig().await;
    let target = CallTarget::Email("bob@example.com".parse().unwrap());
    let reply = rig
        .sandbox
        .submit_card(ALICE, json!({"verb": "callBack", "target": target}))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert!(matches!(
        rig.events().as_slice(),
        [PlatformEvent::CallRequested { target: t, .. }] if *t == target
    ));
}

#[tokio::test]
async fn two_commands_under_a_frozen_clock_are_two_events_through_the_inbox() {
    use callbridge_adapter::{Inbox, MemoryInbox};
    let rig = rig().await;
    rig.sandbox.clock().freeze();
    rig.sandbox
        .message_bot(ALICE, "call bob@example.com")
        .await
        .unwrap();
    rig.sandbox
        .message_bot(ALICE, "call bob@example.com")
        .await
        .unwrap();
    let inbox = MemoryInbox::default();
    let mut fresh = 0;
    for event in rig.events() {
        let id = event.event_id().unwrap().clone();
        if inbox.claim(Platform::Teams, &id, "{}").await.unwrap() {
            fresh += 1;
        }
    }
    assert_eq!(
        fresh, 2,
        "each activity has its own id, so neither is taken for a redelivery"
    );
}
