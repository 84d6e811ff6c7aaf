//! Many user-made presence changes through the sandboxes, in real time: three linked pairs,
//! 21 changes made in Teams (each shown in Slack), then 21 made by hand in Slack (each shown in
//! Teams). Each side is written exactly 21 times, and never once for the echo of callbridge's
//! own writes. Writes are counted at the sandboxes' doors.
//!
//! Changes go round the pairs one at a time, each waited for and at least 3 s apart, so none is
//! coalesced with another and each person sees fewer than 8 writes a minute: the mirror's
//! per-person breaker (which keeps Slack's 10 profile writes a minute) is never what is tested.
//! The engine's own test runs 100 changes a side in virtual time
//! (`crates/engine/tests/presence_mirror.rs`); this one proves the same counts on real sockets.

use std::time::Duration;

use callbridge_sandbox::control::{FaultAction, FaultRule, Faults};
use callbridge_sandbox::microsoft::PresenceState;
use callbridge_testkit::{Patience, PresencePair, PresenceWorld, eventually};

/// The changes made on each side: seven per pair.
const EACH_SIDE: usize = 21;
/// The least time between two changes: with three pairs, 9 s between one person's changes.
const PACE: Duration = Duration::from_secs(3);
/// The use count a counting rule starts with; a rule consumes one per matching request.
const COUNTER: u32 = 1_000_000;
/// Long enough for a write that should not happen to have happened: the mirror coalesces
/// for 2 s, then the write and its echo cross HTTP.
const SETTLE: Duration = Duration::from_secs(4);

/// (Slack user, its user token, Teams object id) of the demo seeds.
const PAIRS: [(&str, &str, &str); 3] = [
    (
        "U0DEMOBOB1",
        "xoxp-demo-bob",
        "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b",
    ),
    (
        "U0DEMOCAR2",
        "xoxp-demo-carol",
        "4a3b2c1d-6e5f-4a70-9b8c-1d0e2f3a4b5c",
    ),
    (
        "U0DEMODAN3",
        "xoxp-demo-dan",
        "5b4c3d2e-7f6a-4b80-8c9d-2e1f3a4b5c6d",
    ),
];

/// Teams states a person moves through in their client, and the Slack status each maps to;
/// consecutive ones differ, so every change is a write.
const TEAMS_STATES: [((&str, &str), &str); 3] = [
    (("Busy", "InAMeeting"), "In a meeting"),
    (("Busy", "InACall"), "In a call"),
    (("Busy", "Focusing"), "Busy"),
];

/// Slack statuses a person sets by hand; each goes to Teams as the status message.
const SLACK_STATUSES: [(&str, &str); 3] = [
    ("Lunch", ":hamburger:"),
    ("Working from home", ":house_with_garden:"),
    ("Commuting", ":bus:"),
];

fn patience(secs: u64) -> Patience {
    Patience {
        within: Duration::from_secs(secs),
        every: Duration::from_millis(20),
    }
}

/// Counts requests to a path prefix with a fault rule that does nothing and consumes one use
/// per request.
fn count_requests(faults: &Faults, prefix: &str) {
    faults.add(FaultRule {
        path_prefix: prefix.to_owned(),
        action: FaultAction::Latency { millis: 0 },
        remaining: Some(COUNTER),
    });
}

fn requests(faults: &Faults, prefix: &str) -> u32 {
    faults
        .list()
        .iter()
        .filter(|rule| rule.path_prefix.starts_with(prefix))
        .map(|rule| COUNTER - rule.remaining.unwrap_or(COUNTER))
        .sum()
}

/// Writes into Slack (`users.profile.set`) and into Teams (every mirrored Teams write sets the
/// status message exactly once), over all pairs.
fn writes(world: &PresenceWorld) -> (u32, u32) {
    (
        requests(world.slack.state().faults(), "/api/users.profile.set"),
        requests(&world.microsoft.faults(), "/v1.0/users/"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_one_write_and_no_echo_is_written_back() {
    let pairs: Vec<PresencePair<'_>> = PAIRS
        .iter()
        .map(|&(slack_user, slack_token, teams_user)| PresencePair {
            slack_user,
            slack_token,
            teams_user,
        })
        .collect();
    let world = PresenceWorld::start(&pairs).await;
    count_requests(world.slack.state().faults(), "/api/users.profile.set");
    for (_, _, teams_user) in PAIRS {
        count_requests(
            &world.microsoft.faults(),
            &format!("/v1.0/users/{teams_user}/presence/setStatusMessage"),
        );
    }

    // Changes in Teams, each shown as the mapped Slack status. The first waits for the
    // presence subscription the mirror asked for.
    for n in 0..EACH_SIDE {
        let started = tokio::time::Instant::now();
        let (slack_user, _, teams_user) = PAIRS[n % PAIRS.len()];
        let ((availability, activity), text) = TEAMS_STATES[(n / PAIRS.len()) % TEAMS_STATES.len()];
        world
            .microsoft
            .state()
            .set_presence_in_client(teams_user, Some(PresenceState::new(availability, activity)))
            .expect("a Teams change");
        eventually(
            &format!("Teams change {n} to show in Slack as {text:?}"),
            patience(if n == 0 { 30 } else { 15 }),
            || async {
                world
                    .slack
                    .state()
                    .user_view(slack_user)
                    .map(|view| view.status_text)
            },
            |shown| shown.as_deref() == Some(text),
        )
        .await;
        tokio::time::sleep_until(started + PACE).await;
    }
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        writes(&world),
        (21, 0),
        "a write into Slack per change; none of their echoes written back into Teams"
    );

    // Statuses set by hand in Slack, each shown in Teams as the status message.
    for n in 0..EACH_SIDE {
        let started = tokio::time::Instant::now();
        let (slack_user, _, teams_user) = PAIRS[n % PAIRS.len()];
        let (text, emoji) = SLACK_STATUSES[(n / PAIRS.len()) % SLACK_STATUSES.len()];
        world
            .slack
            .state()
            .set_status_by_hand(slack_user, text, emoji, 0)
            .expect("a Slack change");
        eventually(
            &format!("Slack change {n} to show in Teams as {text:?}"),
            patience(15),
            || async {
                world
                    .microsoft
                    .state()
                    .presence_of(teams_user)
                    .ok()
                    .and_then(|shown| shown.status_message)
            },
            |shown| shown.as_deref() == Some(text),
        )
        .await;
        tokio::time::sleep_until(started + PACE).await;
    }
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        writes(&world),
        (21, 21),
        "a write into Teams per change; none of their echoes written back into Slack"
    );
    world.stop().await;
}
