//! Presence mirroring end to end: Bob (Slack) and Alice (Teams) are linked and Bob granted
//! his user token before the gateway starts. A Teams change shows as Bob's Slack status within
//! 5 s of sandbox time and a Slack change shows in Teams; the platforms' echoes of callbridge's
//! own writes are never written back (writes counted in the sandboxes); a status Bob set by
//! hand is never overwritten by a Teams change.

use std::time::Duration;

use callbridge_sandbox::control::{FaultAction, FaultRule, Faults};
use callbridge_sandbox::microsoft::PresenceState;
use callbridge_sandbox::slack::UserView;
use callbridge_testkit::{
    Patience, PresencePair, PresenceWorld, demo_slack, demo_teams, eventually,
};

const BOB: &str = demo_slack::BOB;
const ALICE: &str = demo_teams::ALICE;
/// The promise: a change shows on the other side within this much sandbox time.
const WITHIN: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// Long enough for a write that should not happen to have happened: the mirror coalesces
/// for 2 s, then the write and its echo cross HTTP.
const SETTLE: Duration = Duration::from_secs(4);
/// The use count a counting rule starts with; a rule consumes one per matching request.
const COUNTER: u32 = 1_000_000;

fn patience(secs: u64) -> Patience {
    Patience {
        within: Duration::from_secs(secs),
        every: Duration::from_millis(20),
    }
}

/// Counts requests to a path prefix with a fault rule that does nothing (0 ms latency) and
/// consumes one use per request.
struct Counter {
    faults: Faults,
    prefix: String,
}

impl Counter {
    fn install(faults: Faults, prefix: String) -> Self {
        faults.add(FaultRule {
            path_prefix: prefix.clone(),
            action: FaultAction::Latency { millis: 0 },
            remaining: Some(COUNTER),
        });
        Self { faults, prefix }
    }

    fn count(&self) -> u32 {
        self.faults
            .list()
            .iter()
            .find(|rule| rule.path_prefix == self.prefix)
            .and_then(|rule| rule.remaining)
            .map_or(COUNTER, |left| COUNTER - left)
    }
}

/// Writes into Slack for Bob's status (`users.profile.set`) and into Teams for Alice (every
/// mirrored Teams write sets the status message exactly once).
struct Writes {
    slack: Counter,
    teams: Counter,
}

impl Writes {
    fn install(world: &PresenceWorld) -> Self {
        Self {
            slack: Counter::install(
                world.slack.state().faults().clone(),
                "/api/users.profile.set".to_owned(),
            ),
            teams: Counter::install(
                world.microsoft.faults(),
                format!("/v1.0/users/{ALICE}/presence/setStatusMessage"),
            ),
        }
    }

    fn now(&self) -> (u32, u32) {
        (self.slack.count(), self.teams.count())
    }
}

async fn start() -> PresenceWorld {
    PresenceWorld::start(&[PresencePair {
        slack_user: BOB,
        slack_token: "xoxp-demo-bob",
        teams_user: ALICE,
    }])
    .await
}

fn bob(world: &PresenceWorld) -> UserView {
    world.slack.state().user_view(BOB).expect("Bob is seeded")
}

fn alice_in_client(world: &PresenceWorld, availability: &str, activity: &str) {
    world
        .microsoft
        .state()
        .set_presence_in_client(ALICE, Some(PresenceState::new(availability, activity)))
        .expect("Alice changes her Teams state");
}

/// Alice changes her Teams state; returns how much sandbox time passed until Bob's Slack
/// status showed `text`.
async fn alice_changes_and_bob_shows(
    world: &PresenceWorld,
    (availability, activity): (&str, &str),
    text: &str,
    secs: u64,
) -> chrono::TimeDelta {
    let clock = world.microsoft.clock();
    let from = clock.now_utc();
    alice_in_client(world, availability, activity);
    eventually(
        &format!("Bob's Slack status to show {text:?}"),
        patience(secs),
        || async { bob(world).status_text },
        |shown| shown == text,
    )
    .await;
    clock.now_utc() - from
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_mirrors_both_ways_and_echoes_are_not_written_back() {
    let world = start().await;
    let writes = Writes::install(&world);

    // The first change also waits for the Teams subscription the mirror asked for.
    alice_changes_and_bob_shows(&world, ("Busy", "Focusing"), "Busy", 30).await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        writes.now(),
        (1, 0),
        "one write into Slack, its echo not written back"
    );

    // Teams -> Slack, timed, several times.
    let changes = [
        (("Busy", "InAMeeting"), "In a meeting"),
        (("Busy", "InACall"), "In a call"),
        (("Busy", "Focusing"), "Busy"),
    ];
    for (n, (state, text)) in (2..).zip(changes) {
        let took = alice_changes_and_bob_shows(&world, state, text, 10).await;
        assert!(took <= WITHIN, "{text:?} took {took} of sandbox time");
        tokio::time::sleep(SETTLE).await;
        assert_eq!(
            writes.now(),
            (n, 0),
            "after {text:?}: no write back into Teams"
        );
    }

    // Slack -> Teams: Bob snoozes notifications by hand; Alice shows Do not disturb.
    let clock = world.slack.clock().clone();
    let from = clock.now_utc();
    world
        .slack
        .state()
        .set_dnd(BOB, Some(30))
        .expect("Bob snoozes notifications");
    eventually(
        "Alice to show Do not disturb in Teams",
        patience(10),
        || async {
            world
                .microsoft
                .state()
                .presence_of(ALICE)
                .expect("Alice's presence")
        },
        |shown| shown.availability == "DoNotDisturb",
    )
    .await;
    let took = clock.now_utc() - from;
    assert!(took <= WITHIN, "DND took {took} of sandbox time");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        writes.now(),
        (4, 1),
        "one write into Teams, its echo not written back"
    );
    assert_eq!(
        bob(&world).status_text,
        "Busy",
        "Bob's Slack status is still the one mirrored from Teams"
    );

    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_set_by_hand_is_never_overwritten() {
    let world = start().await;
    let writes = Writes::install(&world);
    alice_changes_and_bob_shows(&world, ("Busy", "InAMeeting"), "In a meeting", 30).await;

    // Bob sets his own status; it goes to Teams as Alice's status message.
    world
        .slack
        .state()
        .set_status_by_hand(BOB, "Lunch", ":hamburger:", 0)
        .expect("Bob sets a status");
    eventually(
        "Bob's status line to show in Teams",
        patience(10),
        || async {
            world
                .microsoft
                .state()
                .presence_of(ALICE)
                .expect("Alice's presence")
        },
        |shown| shown.status_message.as_deref() == Some("Lunch"),
    )
    .await;
    let before = writes.now();

    // Alice changes twice; Bob's hand-set status stays, nothing is written into Slack.
    alice_in_client(&world, "Busy", "InACall");
    tokio::time::sleep(SETTLE).await;
    alice_in_client(&world, "Available", "Available");
    tokio::time::sleep(SETTLE).await;
    let shown = bob(&world);
    assert_eq!(
        (shown.status_text.as_str(), shown.status_emoji.as_str()),
        ("Lunch", ":hamburger:")
    );
    assert_eq!(writes.now(), before, "no write either way");

    // Once Bob clears it, Teams changes show in Slack again.
    world
        .slack
        .state()
        .set_status_by_hand(BOB, "", "", 0)
        .expect("Bob clears his status");
    tokio::time::sleep(SETTLE).await;
    alice_changes_and_bob_shows(&world, ("Busy", "InACall"), "In a call", 10).await;

    world.stop().await;
}
