//! What the gateway logs during calls holds no personal data and no secrets: the gateway runs
//! as a process logging JSON lines at `debug` for its own crates (as an operator chasing a
//! problem would run it), carries a Slack → Teams call, a Teams → Slack call from the bot, a
//! Teams user dialling a linked Slack user's number, a declined call and a call to nobody, and
//! then every line it wrote is read. No line may hold an email address, a phone number, an IP
//! address (loopback included: peers are named by call and leg ids, not addresses; the one
//! exception is the gateway's own listening address in its startup line), a token, a key or a
//! secret.

use std::time::Duration;

use callbridge_sandbox::microsoft::{Answer, CallRecord};
use callbridge_store::CallStore;
use callbridge_testkit::{
    BrowserStandIn, CallWorld, SLACK_NUMBERS_FROM, connected_call, demo_slack, demo_teams,
    eventually, hears_tone, patience, phone, phone_reaches, slack_message, slash_call,
};

const ALICE: &str = "alice@contoso.test";
/// The admin API's token, configured so that a leak of it would show.
const ADMIN_TOKEN: &str = "admin-token-never-logged-0123456789";
/// Fewer JSON lines than this for these calls means the logging is not on.
const MIN_LINES: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_leave_no_personal_data_or_secrets_in_the_logs() {
    // Bob on Slack is linked to Bob Brown on Teams, so the first number of the Slack range
    // is his; Carol is linked to Alice, so callbridge knows Alice's number too.
    let mut world = CallWorld::start_process_logged(
        env!("CARGO_BIN_EXE_callbridge").as_ref(),
        &format!("[admin]\ntoken = \"{ADMIN_TOKEN}\"\n"),
        &[
            (demo_slack::BOB, demo_teams::BOB),
            ("U0DEMOCAR2", demo_teams::ALICE),
        ],
    )
    .await;

    slack_to_teams(&world).await;
    teams_to_slack_from_the_bot(&world).await;
    teams_dials_a_slack_number(&world).await;
    refused_calls(&world).await;

    world.drain().await;
    let log = world.gateway_log();
    let lines: Vec<&str> = log.lines().filter(|line| !line.trim().is_empty()).collect();
    let not_json: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| serde_json::from_str::<serde_json::Value>(line).is_err())
        .collect();
    assert!(
        not_json.is_empty(),
        "every log line is JSON; these are not:\n{}",
        not_json.join("\n")
    );
    assert!(
        lines.len() >= MIN_LINES,
        "the calls logged only {} lines:\n{log}",
        lines.len()
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("\"level\":\"DEBUG\"")),
        "the gateway logged nothing at debug: the test would not see what debug logs hold"
    );

    let secrets = [
        demo_slack::SIGNING_SECRET,
        demo_slack::CLIENT_SECRET,
        demo_slack::BOT_TOKEN,
        demo_teams::CLIENT_SECRET,
        ADMIN_TOKEN,
        world.store.key_spec(),
    ];
    // The one address allowed: the gateway's own listening address, once, in the startup
    // line. It is the operator's configuration, not a peer's, and says which interface the
    // gateway is reachable on; anything else holding it (a peer's address is a different
    // host or port) is still caught.
    let own_addr = format!(r#""addr":"{}""#, world.gateway_addr);
    let leaks: Vec<String> = lines
        .iter()
        .filter_map(|line| {
            let checked = if line.contains(r#""message":"callbridge serving""#) {
                line.replacen(&own_addr, r#""addr":"(own listening address)""#, 1)
            } else {
                (*line).to_owned()
            };
            let found = leaks_in(&checked, &secrets);
            (!found.is_empty()).then(|| format!("[{}] {line}", found.join(", ")))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "{} of {} log lines leak personal data or secrets:\n{}",
        leaks.len(),
        lines.len(),
        leaks.join("\n")
    );
}

/// Bob (Slack) calls Alice (Teams), who answers; both hear each other; Bob hangs up.
async fn slack_to_teams(world: &CallWorld) {
    let (browser, sip_call) = connected_call(world, demo_slack::BOB, ALICE).await;
    let media = world
        .microsoft
        .state()
        .call(&sip_call)
        .and_then(|call| call.media)
        .expect("Alice's phone answered with media");
    hears_tone(
        "Alice to hear Bob's 440 Hz",
        Duration::from_secs(15),
        || media.report().dominant_frequency(),
        440.0,
    )
    .await;
    browser.hang_up().await.expect("Bob hangs up");
    phone_reaches(world, &sip_call, "ended", Duration::from_secs(5)).await;
    cdrs_reach(world, 1).await;
}

/// Alice asks the bot to call Bob; Bob joins from his card; Alice hangs up.
async fn teams_to_slack_from_the_bot(world: &CallWorld) {
    world
        .microsoft
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::AfterSecs { secs: 0.2 }))
        .expect("Alice's phone");
    world
        .microsoft
        .message_bot(demo_teams::ALICE, "call bob@example.com")
        .await
        .expect("Alice messages the bot");
    let join_url = new_card(world, 1).await;
    let sip_call = new_phone_call(world, 1).await.call_id;
    let browser = BrowserStandIn::join(&join_url, 440.0)
        .await
        .expect("Bob joins from the card");
    hears_tone(
        "Bob to hear Alice's 1000 Hz",
        Duration::from_secs(15),
        || browser.dominant_frequency(),
        1000.0,
    )
    .await;
    world
        .microsoft
        .state()
        .hang_up(&sip_call)
        .await
        .expect("Alice hangs up");
    cdrs_reach(world, 2).await;
}

/// Alice dials the number of Bob's Slack line; Bob answers from his card and hangs up.
async fn teams_dials_a_slack_number(world: &CallWorld) {
    let dialled = world.dial(ALICE, SLACK_NUMBERS_FROM).await;
    let join_url = new_card(world, 2).await;
    let browser = BrowserStandIn::join(&join_url, 440.0)
        .await
        .expect("Bob answers from the card");
    hears_tone(
        "Bob to hear Alice's 1000 Hz",
        Duration::from_secs(15),
        || browser.dominant_frequency(),
        1000.0,
    )
    .await;
    browser.hang_up().await.expect("Bob hangs up");
    phone_reaches(world, &dialled, "ended", Duration::from_secs(5)).await;
    cdrs_reach(world, 3).await;
}

/// Calls that do not connect, whose paths log reasons: Alice declines Bob's call, then Bob
/// calls someone the gateway cannot find.
async fn refused_calls(world: &CallWorld) {
    world
        .microsoft
        .state()
        .set_phone_behaviour(ALICE, phone(Answer::Decline { secs: 0.2 }))
        .expect("Alice's phone");
    slash_call(world, demo_slack::BOB, ALICE).await;
    let rung = new_phone_call(world, 3).await;
    phone_reaches(world, &rung.call_id, "declined", Duration::from_secs(5)).await;
    slack_message(world, "Alice Adams declined the call.").await;
    cdrs_reach(world, 4).await;
    slash_call(world, demo_slack::BOB, "nobody@contoso.test").await;
    slack_message(world, "I could not find that person").await;
}

/// The join URL of the call card after the first `seen` ones, once Slack shows it.
async fn new_card(world: &CallWorld, seen: usize) -> url::Url {
    let cards = eventually(
        "a new call card",
        patience(10),
        || async { world.slack.state().call_cards() },
        |cards| cards.len() > seen,
    )
    .await;
    url::Url::parse(&cards[seen].call.join_url).expect("the card's join URL")
}

/// The call the Teams side saw after the first `seen` ones, once there is one.
async fn new_phone_call(world: &CallWorld, seen: usize) -> CallRecord {
    let calls = eventually(
        "a new call to reach a Teams phone",
        patience(10),
        || async { world.microsoft.state().calls() },
        |calls| calls.len() > seen,
    )
    .await;
    calls[seen].clone()
}

/// Waits until the store holds `count` CDRs: the call before has ended on both sides.
async fn cdrs_reach(world: &CallWorld, count: usize) {
    eventually(
        &format!("{count} CDRs"),
        patience(10),
        || async { world.store.store.recent_cdrs(10).await.expect("CDRs") },
        |cdrs| cdrs.len() >= count,
    )
    .await;
}

/// What `line` leaks, by kind; `secrets` are configured values that must never show.
fn leaks_in(line: &str, secrets: &[&str]) -> Vec<&'static str> {
    let mut found = Vec::new();
    if has_email(line) {
        found.push("email");
    }
    if has_phone_number(line) {
        found.push("phone number");
    }
    if has_ipv4(line) {
        found.push("IP address");
    }
    for (marker, kind) in [
        ("xoxb-", "Slack bot token"),
        ("xoxp-", "Slack user token"),
        ("Bearer ", "bearer token"),
        ("eyJ", "JWT"),
        ("inline:", "SDES key"),
    ] {
        if line.contains(marker) {
            found.push(kind);
        }
    }
    if has_join_token(line) {
        found.push("join link token");
    }
    if secrets.iter().any(|secret| line.contains(secret)) {
        found.push("configured secret");
    }
    found
}

/// Any `x@y.z` shape: a local part, `@`, and a domain with a dot and an alphabetic last label.
fn has_email(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.iter().enumerate().any(|(at, &byte)| {
        if byte != b'@' || at == 0 {
            return false;
        }
        let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
        if !local(bytes[at - 1]) {
            return false;
        }
        let domain: &[u8] = &bytes[at + 1..];
        let end = domain
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'.' || c == b'-'))
            .unwrap_or(domain.len());
        let domain = &domain[..end];
        let labels: Vec<&[u8]> = domain.split(|&c| c == b'.').collect();
        labels.len() >= 2
            && labels[0].first().is_some_and(u8::is_ascii_alphanumeric)
            && labels
                .iter()
                .rev()
                .find(|label| !label.is_empty())
                .is_some_and(|last| last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic))
    })
}

/// `+` followed by 8 or more digits.
fn has_phone_number(line: &str) -> bool {
    line.match_indices('+').any(|(plus, _)| {
        line[plus + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count()
            >= 8
    })
}

/// A dotted quad: four dot-separated numbers of one to three digits, each at most 255.
fn has_ipv4(line: &str) -> bool {
    line.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .any(|run| {
            let parts: Vec<&str> = run.split('.').collect();
            parts.windows(4).any(|quad| {
                quad.iter().all(|part| {
                    (1..=3).contains(&part.len()) && part.parse::<u16>().is_ok_and(|n| n <= 255)
                })
            })
        })
}

/// A `/join/…` path that carries a token: anything but the page's assets, a route pattern,
/// or the redacted form.
fn has_join_token(line: &str) -> bool {
    line.match_indices("/join/").any(|(at, marker)| {
        let rest = &line[at + marker.len()..];
        !(rest.is_empty()
            || rest.starts_with("assets/")
            || rest.starts_with('…')
            || rest.starts_with('{')
            || rest.starts_with(':')
            || rest.starts_with('"'))
    })
}

#[test]
fn the_detectors_see_what_they_look_for() {
    assert!(has_email(r#"{"callee":"alice@contoso.test"}"#));
    assert!(has_email("to bob@example.com."));
    assert!(!has_email("rsip@0.7.14"));
    assert!(!has_email("@ not an address"));
    assert!(has_phone_number(r#"{"from":"+14255550100"}"#));
    assert!(has_phone_number("sip:+15550001000@sbc"));
    assert!(!has_phone_number("+1234567 and 3+4"));
    assert!(has_ipv4("peer=127.0.0.1:5061"));
    assert!(has_ipv4("c=IN IP4 10.0.0.7"));
    assert!(!has_ipv4("version 0.1.0 at 2026-12-03T18:25:35.123456Z"));
    assert!(!has_ipv4("1000000001.2000000002"));
    assert!(has_join_token(r#"{"uri":"/join/Zk3q9aXbWc"}"#));
    assert!(!has_join_token(r#"{"uri":"/join/…"}"#));
    assert!(!has_join_token(r#"{"uri":"/join/assets/join.js"}"#));
    assert!(leaks_in("Authorization: Bearer abc", &[]).contains(&"bearer token"));
    assert!(leaks_in("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJD", &[]).contains(&"SDES key"));
    assert!(leaks_in("token eyJhbGciOi.x.y", &[]).contains(&"JWT"));
    assert!(leaks_in("s3cret here", &["s3cret"]).contains(&"configured secret"));
    assert!(leaks_in(r#"{"call_id":"0192","leg":"teams"}"#, &[]).is_empty());
}
