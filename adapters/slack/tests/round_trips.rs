//! Each command and each inbound kind, end to end against the in-process Slack sandbox: people
//! act in the sandbox, the adapter (hosted as the gateway hosts it) translates, and what
//! Slack then shows is read back through the sandbox's control routes.

mod common;

use std::time::Duration;

use callbridge_adapter::AdapterError;
use callbridge_model::{
    Availability, CallId, CallTarget, LegId, LegState, Notice, OwnershipFingerprint, Platform,
    PlatformCommand, PlatformEvent, Presence, PresenceOrigin, PresenceSource, StatusText,
    TerminationCause, UserRef,
};
use chrono::Utc;
use common::{BOB, CAROL, Harness, TEAM, until};
use url::Url;

fn slack(user: &str) -> UserRef {
    UserRef::Slack {
        team: TEAM.parse().unwrap(),
        user: user.parse().unwrap(),
    }
}

#[tokio::test]
async fn call_with_a_mention_is_acked_at_once_and_requests_the_call() {
    let h = Harness::demo().await;
    let outcome = h
        .slack
        .type_slash_command(BOB, "/call @carol")
        .await
        .unwrap();
    assert_eq!(outcome.status, Some(200));
    assert_eq!(outcome.error, None);
    assert!(
        outcome.response_body.contains("Calling"),
        "{}",
        outcome.response_body
    );
    let events = h.events();
    assert_eq!(events.len(), 1);
    let PlatformEvent::CallRequested {
        caller,
        target,
        event_id,
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(caller, &slack(BOB));
    assert_eq!(target, &CallTarget::User(slack(CAROL)));
    assert!(event_id.as_str().contains(&outcome.trigger_id));
}

#[tokio::test]
async fn call_with_an_email_or_a_number_names_the_target() {
    let h = Harness::demo().await;
    h.slack
        .type_slash_command(BOB, "/call Alice@Contoso.com")
        .await
        .unwrap();
    h.slack
        .type_slash_command(BOB, "/call +14155550100")
        .await
        .unwrap();
    let targets: Vec<CallTarget> = h
        .events()
        .into_iter()
        .map(|e| match e {
            PlatformEvent::CallRequested { target, .. } => target,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        targets,
        vec![
            CallTarget::Email("alice@contoso.com".parse().unwrap()),
            CallTarget::Phone("+14155550100".parse().unwrap())
        ]
    );
}

#[tokio::test]
async fn help_and_unparseable_targets_get_an_immediate_ephemeral_answer_and_no_call() {
    let h = Harness::demo().await;
    for (line, expect) in [
        ("/call", "Call someone on Microsoft Teams"),
        ("/call help", "Call someone on Microsoft Teams"),
        ("/call #general", "Channels and groups cannot be called"),
        ("/call bob and carol", "one person at a time"),
        ("/call +0123", "international form"),
    ] {
        let outcome = h.slack.type_slash_command(BOB, line).await.unwrap();
        assert_eq!(outcome.status, Some(200), "{line}");
        let body: serde_json::Value = serde_json::from_str(&outcome.response_body).unwrap();
        assert_eq!(body["response_type"], "ephemeral", "{line}");
        assert!(
            body["text"].as_str().unwrap().contains(expect),
            "{line}: {body}"
        );
    }
    assert!(h.events().is_empty(), "{:?}", h.events());
}

#[tokio::test]
async fn ssl_check_is_answered_without_a_signature() {
    let h = Harness::demo().await;
    assert_eq!(h.slack.send_ssl_check().await.unwrap(), Some(200));
    assert!(h.events().is_empty());
}

#[tokio::test]
async fn reply_answers_the_person_through_the_commands_response_url() {
    let h = Harness::demo().await;
    let outcome = h
        .slack
        .type_slash_command(BOB, "/call dana@contoso.com")
        .await
        .unwrap();
    let PlatformEvent::CallRequested { event_id, .. } = h.events().remove(0) else {
        panic!()
    };
    h.platform()
        .execute(PlatformCommand::Reply {
            to_event: event_id.clone(),
            text: "Dana is not linked to Slack yet.".into(),
        })
        .await
        .unwrap();
    let shown = h.messages(&outcome.channel).await;
    let reply = shown
        .iter()
        .find(|m| m["text"] == "Dana is not linked to Slack yet.")
        .unwrap_or_else(|| panic!("{shown:?}"));
    assert_eq!(reply["ephemeral_to"], BOB);
    // A reply to an event that never carried a response_url is refused, not guessed.
    let unknown = PlatformCommand::Reply {
        to_event: "slack:command:nope".parse().unwrap(),
        text: "x".into(),
    };
    assert!(matches!(
        h.platform().execute(unknown).await,
        Err(AdapterError::PlatformRejected { .. })
    ));
    // Five uses in 30 minutes (§0.5); the sixth is refused by the adapter itself.
    for _ in 0..4 {
        h.platform()
            .execute(PlatformCommand::Reply {
                to_event: event_id.clone(),
                text: "again".into(),
            })
            .await
            .unwrap();
    }
    let sixth = h
        .platform()
        .execute(PlatformCommand::Reply {
            to_event: event_id,
            text: "too many".into(),
        })
        .await;
    assert!(
        matches!(sixth, Err(AdapterError::PlatformRejected { ref error, .. }) if error == "expired_url"),
        "{sixth:?}"
    );
}

async fn post_card(h: &Harness, call: CallId, leg: LegId) -> String {
    let outcome = h
        .platform()
        .execute(PlatformCommand::PostCallCard {
            call,
            leg,
            to: slack(BOB),
            join_url: Url::parse("https://calls.example.com/join/abc?sig=1").unwrap(),
            title: "Call with Alice (Teams)".into(),
        })
        .await
        .unwrap();
    outcome.platform_ref.unwrap()
}

#[tokio::test]
async fn a_call_card_is_registered_posted_updated_and_ended() {
    let h = Harness::demo().await;
    h.slack.clock().freeze();
    let (call, leg) = (CallId::generate(), LegId::generate());
    let slack_call = post_card(&h, call, leg).await;
    assert!(slack_call.starts_with('R'));
    // Posting again (a retried command) does not post a second card.
    assert_eq!(post_card(&h, call, leg).await, slack_call);

    let cards = h.call_cards().await;
    assert_eq!(cards.len(), 1, "{cards:?}");
    let card = &cards[0];
    assert_eq!(card["state"], "active");
    assert_eq!(card["call"]["id"], slack_call.as_str());
    assert_eq!(card["call"]["external_unique_id"], call.to_string());
    assert_eq!(
        card["call"]["join_url"],
        "https://calls.example.com/join/abc?sig=1"
    );
    assert_eq!(card["call"]["created_by"], BOB);
    let dm = card["channel"].as_str().unwrap().to_owned();
    let message = h
        .messages(&dm)
        .await
        .into_iter()
        .find(|m| m["ts"] == card["ts"])
        .unwrap();
    let buttons: Vec<String> = message["blocks"][1]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["action_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        buttons,
        [
            callbridge_slack::ACTION_JOIN,
            callbridge_slack::ACTION_DECLINE
        ]
    );

    h.platform()
        .execute(PlatformCommand::UpdateCallCard {
            call,
            leg,
            state: LegState::Active,
        })
        .await
        .unwrap();
    // Repeating a state is harmless (`bad_users` is "already so").
    h.platform()
        .execute(PlatformCommand::UpdateCallCard {
            call,
            leg,
            state: LegState::Active,
        })
        .await
        .unwrap();
    let cards = h.call_cards().await;
    assert_eq!(
        cards[0]["call"]["users"],
        serde_json::json!([{ "slack_id": BOB }])
    );
    h.platform()
        .execute(PlatformCommand::UpdateCallCard {
            call,
            leg,
            state: LegState::OnHold,
        })
        .await
        .unwrap();
    assert_eq!(
        h.call_cards().await[0]["call"]["title"],
        "Call with Alice (Teams) · on hold"
    );

    h.slack.clock().advance(Duration::from_secs(95));
    h.platform()
        .execute(PlatformCommand::HangUp {
            call,
            leg,
            cause: TerminationCause::Normal,
        })
        .await
        .unwrap();
    let cards = h.call_cards().await;
    assert_eq!(cards[0]["state"], "ended");
    let c = &cards[0]["call"];
    assert_eq!(
        c["date_end"].as_i64().unwrap() - c["date_start"].as_i64().unwrap(),
        95
    );
    let message = h
        .messages(&dm)
        .await
        .into_iter()
        .find(|m| m["ts"] == cards[0]["ts"])
        .unwrap();
    assert_eq!(message["text"], "Call ended.");
    assert_eq!(message["edited"], true);
    // Hanging up again is a no-op, not an error.
    h.platform()
        .execute(PlatformCommand::HangUp {
            call,
            leg,
            cause: TerminationCause::Normal,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn decline_on_the_card_ends_the_leg_and_join_is_only_acked() {
    let h = Harness::demo().await;
    let (call, leg) = (CallId::generate(), LegId::generate());
    post_card(&h, call, leg).await;
    let card = h.call_cards().await.remove(0);
    let (dm, ts) = (
        card["channel"].as_str().unwrap(),
        card["ts"].as_str().unwrap(),
    );
    let join = h
        .slack
        .click_button(BOB, dm, ts, callbridge_slack::ACTION_JOIN)
        .await
        .unwrap();
    assert_eq!(join.status, Some(200));
    assert!(h.events().is_empty());
    let decline = h
        .slack
        .click_button(BOB, dm, ts, callbridge_slack::ACTION_DECLINE)
        .await
        .unwrap();
    assert_eq!(decline.status, Some(200));
    assert_eq!(
        h.events(),
        vec![PlatformEvent::LegEnded {
            call,
            leg,
            cause: TerminationCause::Declined
        }]
    );
}

#[tokio::test]
async fn rejecting_the_call_in_slack_ends_the_leg() {
    let h = Harness::demo().await;
    let (call, leg) = (CallId::generate(), LegId::generate());
    let slack_call = post_card(&h, call, leg).await;
    h.slack.reject_call(BOB, &slack_call).unwrap();
    until(|| !h.events().is_empty()).await;
    assert_eq!(
        h.events(),
        vec![PlatformEvent::LegEnded {
            call,
            leg,
            cause: TerminationCause::Declined
        }]
    );
}

#[tokio::test]
async fn a_missed_call_notice_offers_call_back_which_requests_a_call() {
    let h = Harness::demo().await;
    let alice = UserRef::Teams {
        tenant: "6f1b8f4e-0f5f-4c53-9a43-3c1f0b0f7a11".parse().unwrap(),
        user: "0c7d2b1a-2f44-4d4f-8d9e-5b3e2a1c9f00".parse().unwrap(),
    };
    let ts = h
        .platform()
        .execute(PlatformCommand::SendNotice {
            to: slack(BOB),
            notice: Notice::MissedCall {
                caller: alice.clone(),
                caller_name: "Alice <Teams>".into(),
            },
        })
        .await
        .unwrap()
        .platform_ref
        .unwrap();
    let dm = h.slack.dm_with_app(BOB).unwrap();
    let message = h
        .messages(&dm)
        .await
        .into_iter()
        .find(|m| m["ts"] == ts.as_str())
        .unwrap();
    assert!(
        message["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Alice &lt;Teams&gt;")
    );
    let click = h
        .slack
        .click_button(BOB, &dm, &ts, callbridge_slack::ACTION_CALL_BACK)
        .await
        .unwrap();
    assert_eq!(click.status, Some(200));
    let events = h.events();
    let [PlatformEvent::CallRequested { caller, target, .. }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(caller, &slack(BOB));
    assert_eq!(target, &CallTarget::User(alice));

    h.platform()
        .execute(PlatformCommand::SendNotice {
            to: slack(BOB),
            notice: Notice::Info {
                text: "Alice is in Do not disturb.".into(),
            },
        })
        .await
        .unwrap();
    assert!(
        h.messages(&dm)
            .await
            .iter()
            .any(|m| m["text"] == "Alice is in Do not disturb.")
    );
}

fn busy_in_call(fingerprint: &str) -> Presence {
    Presence {
        availability: Availability::Busy,
        activity: Some(callbridge_model::Activity::parse("InACall").unwrap()),
        status_text: None,
        status_emoji: None,
        expires_at: None,
        source: PresenceSource {
            platform: Platform::Teams,
            origin: PresenceOrigin::Callbridge,
            fingerprint: Some(OwnershipFingerprint::parse(fingerprint).unwrap()),
        },
    }
}

fn presence_events(h: &Harness) -> Vec<Presence> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            PlatformEvent::PresenceChanged { presence, .. } => Some(presence),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn status_writes_land_in_slack_and_their_echo_is_recognised() {
    let h = Harness::demo().await;
    h.platform()
        .execute(PlatformCommand::SetPresence {
            user: slack(BOB),
            presence: busy_in_call("cb1:0011aabb"),
        })
        .await
        .unwrap();
    let view = h.user_view(BOB).await;
    assert_eq!(view["status_text"], "In a call on Teams");
    assert_eq!(view["status_emoji"], ":telephone_receiver:");
    until(|| presence_events(&h).len() >= 2).await;
    for echo in presence_events(&h) {
        assert_eq!(echo.source.origin, PresenceOrigin::Callbridge, "{echo:?}");
        assert_eq!(
            echo.source
                .fingerprint
                .as_ref()
                .map(OwnershipFingerprint::as_str),
            Some("cb1:0011aabb")
        );
        assert!(echo.is_own_echo(&OwnershipFingerprint::parse("cb1:0011aabb").unwrap()));
    }
    h.take_events();
    // Bob types his own status: it is his, and callbridge's clear must leave it alone.
    h.slack
        .set_status_by_hand(BOB, "Lunch", ":taco:", 0)
        .unwrap();
    until(|| presence_events(&h).len() >= 2).await;
    for by_hand in presence_events(&h) {
        assert_eq!(by_hand.source.origin, PresenceOrigin::User);
        assert_eq!(
            by_hand.status_text,
            Some(StatusText::parse("Lunch").unwrap())
        );
    }
    let available = Presence {
        availability: Availability::Available,
        activity: None,
        ..busy_in_call("cb1:0011aabc")
    };
    h.platform()
        .execute(PlatformCommand::SetPresence {
            user: slack(BOB),
            presence: available.clone(),
        })
        .await
        .unwrap();
    assert_eq!(h.user_view(BOB).await["status_text"], "Lunch");
}

#[tokio::test]
async fn a_status_callbridge_wrote_is_cleared_when_teams_frees_up() {
    let h = Harness::demo().await;
    let mut busy = busy_in_call("cb1:0011aabb");
    let until_ts = Utc::now() + chrono::Duration::hours(2);
    busy.expires_at = Some(until_ts);
    h.platform()
        .execute(PlatformCommand::SetPresence {
            user: slack(CAROL),
            presence: busy.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        h.user_view(CAROL).await["status_expiration"],
        until_ts.timestamp()
    );
    let available = Presence {
        availability: Availability::Available,
        activity: None,
        expires_at: None,
        ..busy
    };
    h.platform()
        .execute(PlatformCommand::SetPresence {
            user: slack(CAROL),
            presence: available,
        })
        .await
        .unwrap();
    let view = h.user_view(CAROL).await;
    assert_eq!(view["status_text"], "");
    assert_eq!(view["status_emoji"], "");
}

#[tokio::test]
async fn do_not_disturb_snoozes_and_away_marks_away_until_teams_says_otherwise() {
    let h = Harness::demo().await;
    h.slack.clock().freeze();
    let now = h.slack.clock().now_utc();
    let dnd = Presence {
        availability: Availability::DoNotDisturb,
        activity: None,
        expires_at: Some(now + chrono::Duration::minutes(45)),
        ..busy_in_call("cb1:00000001")
    };
    h.platform()
        .execute(PlatformCommand::SetPresence {
            user: slack(BOB),
            presence: dnd,
        })
        .await
        .unwrap();
    let view = h.user_view(BOB).await;
    assert_eq!(view["dnd_snoozing"], true);
    assert_eq!(
        view["snooze_endtime"],
        (now + chrono::Duration::minutes(45)).timestamp()
    );
    assert_eq!(view["status_emoji"], ":no_bell:");
    until(|| {
        presence_events(&h).iter().any(|p| {
            p.availability == Availability::DoNotDisturb
                && p.source.origin == PresenceOrigin::Callbridge
        })
    })
    .await;

    let away = Presence {
        availability: Availability::Away,
        activity: None,
        expires_at: None,
        ..busy_in_call("cb1:00000002")
    };
    h.platform()
        .execute(PlatformCommand::SetPresence {
            user: slack(BOB),
            presence: away,
        })
        .await
        .unwrap();
    let view = h.user_view(BOB).await;
    assert_eq!(view["dnd_snoozing"], false);
    assert_eq!(view["presence"], "away");
    assert_eq!(view["manual_away"], true);
    assert_eq!(
        view["status_text"], "",
        "callbridge's DND status is cleared on leaving DND"
    );

    let back = Presence {
        availability: Availability::Available,
        activity: None,
        expires_at: None,
        ..busy_in_call("cb1:00000003")
    };
    h.platform()
        .execute(PlatformCommand::SetPresence {
            user: slack(BOB),
            presence: back,
        })
        .await
        .unwrap();
    let view = h.user_view(BOB).await;
    assert_eq!(view["manual_away"], false);
    assert_eq!(view["presence"], "active");
}

#[tokio::test]
async fn presence_is_polled_within_the_budget() {
    let h = Harness::demo().await;
    h.slack.set_online(CAROL, false).unwrap();
    let users = [BOB.parse().unwrap(), CAROL.parse().unwrap()];
    let outcome = h
        .adapter
        .poll_presence(&TEAM.parse().unwrap(), &users)
        .await
        .unwrap();
    assert!(outcome.unpolled.is_empty());
    let seen: Vec<(UserRef, Availability)> = outcome
        .events
        .into_iter()
        .map(|e| match e {
            PlatformEvent::PresenceChanged { user, presence, .. } => (user, presence.availability),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (slack(BOB), Availability::Available),
            (slack(CAROL), Availability::Away)
        ]
    );
}
