//! Directory reads against the in-process Slack sandbox: `person` (`users.info`),
//! `person_by_email` (`users.lookupByEmail`), `in_dnd` (`dnd.info`), and the cache in front of
//! the first two. Requests reaching the sandbox are counted with a zero-latency fault rule per
//! method, whose remaining uses drop by one per request.

mod common;

use std::time::Duration;

use callbridge_adapter::AdapterError;
use callbridge_model::{Email, SlackTeamId, SlackUserId, UserRef};
use callbridge_sandbox::control::{FaultAction, FaultRule};
use callbridge_sandbox::slack::SlackSeed;
use common::{BOB, CAROL, DAN, Harness, TEAM};

const BOT: &str = "U0DEMOBOT0";
const NOBODY: &str = "U0NOBODY99";
/// Uses given to each counting rule; far more than any test sends.
const COUNTER_USES: u32 = 1_000;

fn team() -> SlackTeamId {
    TEAM.parse().unwrap()
}

fn id(user: &str) -> SlackUserId {
    user.parse().unwrap()
}

fn email(address: &str) -> Email {
    address.parse().unwrap()
}

fn slack(user: &str) -> UserRef {
    UserRef::Slack {
        team: team(),
        user: id(user),
    }
}

impl Harness {
    /// Starts counting requests to Web API `method`.
    fn count_requests(&self, method: &str) {
        self.slack.state().faults().add(FaultRule {
            path_prefix: format!("/api/{method}"),
            action: FaultAction::Latency { millis: 0 },
            remaining: Some(COUNTER_USES),
        });
    }

    /// Requests to `method` since [`Self::count_requests`].
    fn requests(&self, method: &str) -> u32 {
        let prefix = format!("/api/{method}");
        let rules = self.slack.state().faults().list();
        let rule = rules.iter().find(|r| r.path_prefix == prefix);
        COUNTER_USES - rule.and_then(|r| r.remaining).unwrap_or(0)
    }

    /// `user` changes their display name in Slack, with their own token.
    async fn set_display_name(&self, user: &str, name: &str) {
        let token = format!("xoxp-demo-{user}");
        let answer: serde_json::Value = reqwest::Client::new()
            .post(self.slack.api_url().join("users.profile.set").unwrap())
            .bearer_auth(token)
            .json(&serde_json::json!({"profile": {"display_name": name}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["ok"], true, "{answer}");
    }
}

#[tokio::test]
async fn a_person_is_found_by_id_with_name_email_and_flags() {
    let h = Harness::demo().await;
    let carol = h
        .adapter
        .person(&team(), &id(CAROL))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(carol.user, slack(CAROL));
    // The demo's display names are the handles.
    assert_eq!(carol.name, "carol");
    assert_eq!(carol.email, Some(email("carol@example.com")));
    assert!(!carol.is_bot && !carol.deleted);

    let bot = h.adapter.person(&team(), &id(BOT)).await.unwrap().unwrap();
    assert!(bot.is_bot);
    assert_eq!(bot.email, None);
}

#[tokio::test]
async fn an_unknown_user_is_none_not_an_error() {
    let h = Harness::demo().await;
    assert_eq!(h.adapter.person(&team(), &id(NOBODY)).await.unwrap(), None);
    // Someone of a workspace this installation is not in is unknown here too.
    let elsewhere: SlackTeamId = "T0OTHERTEAM".parse().unwrap();
    let error = h.adapter.person(&elsewhere, &id(BOB)).await.unwrap_err();
    assert!(
        matches!(error, AdapterError::ReconnectRequired { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn a_person_is_found_by_email_or_is_none() {
    let h = Harness::demo().await;
    let dan = h
        .adapter
        .person_by_email(&team(), &email("dan@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dan.user, slack(DAN));
    assert_eq!(dan.name, "dan");
    let nobody = h
        .adapter
        .person_by_email(&team(), &email("nobody@example.com"))
        .await
        .unwrap();
    assert_eq!(nobody, None);
}

#[tokio::test]
async fn the_display_name_wins_then_the_real_name() {
    let h = Harness::demo().await;
    h.set_display_name("bob", "Bobby B").await;
    h.set_display_name("carol", "").await;
    let bob = h.adapter.person(&team(), &id(BOB)).await.unwrap().unwrap();
    assert_eq!(bob.name, "Bobby B");
    let carol = h
        .adapter
        .person(&team(), &id(CAROL))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(carol.name, "Carol Danvers");
}

#[tokio::test]
async fn a_person_without_any_name_is_named_by_id() {
    let mut seed = SlackSeed::demo();
    let h = Harness::start_with(
        |seed| {
            let dan = &mut seed.workspaces[0].users[2];
            dan.name = String::new();
            dan.real_name = String::new();
        },
        &mut seed,
        true,
    )
    .await;
    let dan = h.adapter.person(&team(), &id(DAN)).await.unwrap().unwrap();
    assert_eq!(dan.name, DAN);
}

#[tokio::test]
async fn dnd_follows_the_persons_snooze() {
    let h = Harness::demo().await;
    assert!(!h.adapter.in_dnd(&team(), &id(BOB)).await.unwrap());
    h.slack.state().set_dnd(BOB, Some(30)).unwrap();
    assert!(h.adapter.in_dnd(&team(), &id(BOB)).await.unwrap());
    // Others are unaffected.
    assert!(!h.adapter.in_dnd(&team(), &id(CAROL)).await.unwrap());
    // The snooze runs out on the clock.
    h.slack.clock().advance(Duration::from_secs(31 * 60));
    assert!(!h.adapter.in_dnd(&team(), &id(BOB)).await.unwrap());
    h.slack.state().set_dnd(BOB, Some(10)).unwrap();
    assert!(h.adapter.in_dnd(&team(), &id(BOB)).await.unwrap());
    h.slack.state().set_dnd(BOB, None).unwrap();
    assert!(!h.adapter.in_dnd(&team(), &id(BOB)).await.unwrap());
}

#[tokio::test]
async fn dnd_is_never_cached() {
    let h = Harness::demo().await;
    h.count_requests("dnd.info");
    for _ in 0..3 {
        assert!(!h.adapter.in_dnd(&team(), &id(BOB)).await.unwrap());
    }
    assert_eq!(h.requests("dnd.info"), 3);
}

#[tokio::test]
async fn dnd_without_a_readable_token_is_an_error_for_the_caller_to_weigh() {
    // Dan never opted in (no user token) and the bot lacks `dnd:read`.
    let mut seed = SlackSeed::demo();
    let h = Harness::start_with(
        |seed| {
            let install = seed.workspaces[0].install.as_mut().unwrap();
            install.user_tokens.retain(|t| t.user != DAN);
        },
        &mut seed,
        true,
    )
    .await;
    let error = h.adapter.in_dnd(&team(), &id(DAN)).await.unwrap_err();
    match &error {
        AdapterError::PlatformRejected { method, error } => {
            assert_eq!(method, "dnd.info");
            assert_eq!(error, "missing_scope");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(!error.to_string().contains("dan"), "{error}");
}

#[tokio::test]
async fn a_second_lookup_within_the_ttl_asks_slack_nothing() {
    let h = Harness::demo().await;
    h.count_requests("users.info");
    h.count_requests("users.lookupByEmail");
    let first = h.adapter.person(&team(), &id(BOB)).await.unwrap();
    let second = h.adapter.person(&team(), &id(BOB)).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(h.requests("users.info"), 1);
    // Found by id, the person is also known by their email.
    let by_email = h
        .adapter
        .person_by_email(&team(), &email("bob@example.com"))
        .await
        .unwrap();
    assert_eq!(by_email, first);
    assert_eq!(h.requests("users.lookupByEmail"), 0);
    // "Not found" is cached too, for a shorter time.
    for _ in 0..2 {
        assert_eq!(h.adapter.person(&team(), &id(NOBODY)).await.unwrap(), None);
    }
    assert_eq!(h.requests("users.info"), 2);

    // Past the TTL, Slack is asked again and changes show.
    h.set_display_name("bob", "Robert").await;
    assert_eq!(
        h.adapter
            .person(&team(), &id(BOB))
            .await
            .unwrap()
            .unwrap()
            .name,
        "bob"
    );
    h.slack.clock().advance(Duration::from_secs(5 * 60 + 1));
    let fresh = h.adapter.person(&team(), &id(BOB)).await.unwrap().unwrap();
    assert_eq!(fresh.name, "Robert");
    assert_eq!(h.requests("users.info"), 3);
}

#[tokio::test]
async fn lookups_by_email_are_cached_too() {
    let h = Harness::demo().await;
    h.count_requests("users.lookupByEmail");
    h.count_requests("users.info");
    for _ in 0..3 {
        let carol = h
            .adapter
            .person_by_email(&team(), &email("carol@example.com"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(carol.user, slack(CAROL));
    }
    assert_eq!(h.requests("users.lookupByEmail"), 1);
    h.adapter
        .person(&team(), &id(CAROL))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.requests("users.info"), 0);
}
