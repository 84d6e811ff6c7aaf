//! Writing presence to Teams against the Microsoft sandbox (reference `teams-graph.md` §3.4,
//! §3.5, §3.7, §6): the app session with an allowed pair, kept from fading by refreshes, cleared
//! when there is nothing to show, the status line, and a 429 with `Retry-After` honoured.

mod graph_support;

use callbridge_adapter::PlatformAdapter;
use callbridge_model::{
    Activity, Availability, Platform, PlatformCommand, Presence, PresenceOrigin, PresenceSource,
    StatusText, UserRef,
};
use callbridge_sandbox::control::{FaultAction, FaultRule};
use graph_support::{BOB, CAROL, Options, TENANT, start};

fn presence(availability: Availability, activity: Option<&str>, text: Option<&str>) -> Presence {
    Presence {
        availability,
        activity: activity.map(|a| Activity::parse(a).unwrap()),
        status_text: text.map(|t| StatusText::parse(t).unwrap()),
        status_emoji: None,
        expires_at: None,
        source: PresenceSource {
            platform: Platform::Slack,
            origin: PresenceOrigin::Callbridge,
            fingerprint: None,
        },
    }
}

fn shown(harness: &graph_support::Harness, user: &str) -> (String, String, Option<String>) {
    let shown = harness.sandbox.presence_of(user).unwrap();
    (shown.availability, shown.activity, shown.status_message)
}

#[tokio::test]
async fn available_session_is_refreshed_before_it_fades_and_cleared_when_offline() {
    let harness = start(Options::default()).await;
    // Carol's own client is signed out: only callbridge's session shows.
    harness.sandbox.set_presence_in_client(CAROL, None).unwrap();
    let carol = CAROL.parse().unwrap();
    let sync = harness.adapter.presence();
    sync.set_presence(
        carol,
        &presence(Availability::Available, None, Some("On a Slack huddle")),
        harness.now(),
    )
    .await
    .unwrap();
    assert_eq!(
        shown(&harness, CAROL),
        (
            "Available".to_owned(),
            "Available".to_owned(),
            Some("On a Slack huddle".to_owned())
        )
    );
    // Driven minute by minute for a quarter of an hour: without refreshes the session would
    // fade to AvailableInactive at five minutes and to Away at ten.
    for _ in 0..15 {
        harness.advance(60);
        let next = sync.step(harness.now()).await;
        assert!(next > harness.now());
        assert_eq!(
            (
                shown(&harness, CAROL).0.as_str(),
                shown(&harness, CAROL).1.as_str()
            ),
            ("Available", "Available")
        );
    }

    // Offline: the session is cleared and the status line emptied.
    sync.set_presence(
        carol,
        &presence(Availability::Offline, None, None),
        harness.now(),
    )
    .await
    .unwrap();
    let (availability, activity, status) = shown(&harness, CAROL);
    assert_eq!(
        (availability.as_str(), activity.as_str()),
        ("Offline", "Offline")
    );
    assert!(status.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn commands_write_allowed_pairs_and_honour_retry_after() {
    let harness = start(Options::default()).await;
    harness.sandbox.set_presence_in_client(BOB, None).unwrap();
    let command = |value: Presence| PlatformCommand::SetPresence {
        user: UserRef::Teams {
            tenant: TENANT.parse().unwrap(),
            user: BOB.parse().unwrap(),
        },
        presence: value,
    };
    harness
        .adapter
        .execute(command(presence(
            Availability::Busy,
            Some("InAConferenceCall"),
            None,
        )))
        .await
        .unwrap();
    assert_eq!(
        (shown(&harness, BOB).0, shown(&harness, BOB).1),
        ("Busy".to_owned(), "InAConferenceCall".to_owned())
    );
    // Slack's "be right back" has no app pair: it is written as Away/Away.
    harness
        .adapter
        .execute(command(presence(Availability::BeRightBack, None, None)))
        .await
        .unwrap();
    assert_eq!(shown(&harness, BOB).1, "Away");

    // Graph throttles once: the write waits and goes through.
    harness.sandbox.faults().add(FaultRule {
        path_prefix: "/v1.0/users/".to_owned(),
        action: FaultAction::RateLimit {
            retry_after_secs: 1,
        },
        remaining: Some(1),
    });
    harness
        .adapter
        .execute(command(presence(Availability::DoNotDisturb, None, None)))
        .await
        .unwrap();
    assert!(
        harness.sandbox.faults().list().is_empty(),
        "the 429 was served"
    );
    assert_eq!(
        (shown(&harness, BOB).0, shown(&harness, BOB).1),
        ("DoNotDisturb".to_owned(), "Presenting".to_owned())
    );
}
