//! Events from the sandbox translated (slack-api.md §5.4, §7.8, §9): huddles and DND set by
//! hand, uninstalls that delete every token at once, and workspaces kept apart.

mod common;

use callbridge_adapter::{AdapterError, Secret, TokenSet, TokenVault};
use callbridge_model::{
    Availability, CallId, LegId, OwnershipFingerprint, Platform, PlatformCommand, PlatformEvent,
    Presence, PresenceOrigin, PresenceSource, UserRef,
};
use callbridge_sandbox::slack::{SeedUser, SeedUserToken, SlackSeed};
use callbridge_slack::{bot_key, user_key};
use common::{BOB, CAROL, Harness, SECRET, TEAM, signed_headers, until};
use url::Url;

fn presences(h: &Harness) -> Vec<(UserRef, Presence)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            PlatformEvent::PresenceChanged { user, presence, .. } => Some((user, presence)),
            _ => None,
        })
        .collect()
}

fn slack(team: &str, user: &str) -> UserRef {
    UserRef::Slack {
        team: team.parse().unwrap(),
        user: user.parse().unwrap(),
    }
}

#[tokio::test]
async fn a_huddle_is_a_call_and_dnd_by_hand_is_the_persons_own() {
    let h = Harness::demo().await;
    h.slack.start_huddle(BOB).unwrap();
    until(|| !presences(&h).is_empty()).await;
    let (user, huddle) = presences(&h).remove(0);
    assert_eq!(user, slack(TEAM, BOB));
    assert_eq!(huddle.availability, Availability::Busy);
    assert_eq!(
        huddle.activity.as_ref().map(|a| a.as_str()),
        Some("InACall")
    );
    assert_eq!(huddle.source.origin, PresenceOrigin::User);
    h.take_events();

    h.slack.set_dnd(CAROL, Some(30)).unwrap();
    until(|| !presences(&h).is_empty()).await;
    let (user, dnd) = presences(&h).remove(0);
    assert_eq!(user, slack(TEAM, CAROL));
    assert_eq!(dnd.availability, Availability::DoNotDisturb);
    assert!(dnd.expires_at.is_some());
    assert_eq!(dnd.source.origin, PresenceOrigin::User);
}

#[tokio::test]
async fn an_uninstall_deletes_every_token_and_revokes_the_installation() {
    let h = Harness::demo().await;
    // Bob's user token is known to the adapter once it has used it.
    h.platform()
        .execute(PlatformCommand::SetPresence {
            user: slack(TEAM, BOB),
            presence: busy(),
        })
        .await
        .unwrap();
    h.slack.uninstall().unwrap();
    until(|| {
        h.events()
            .iter()
            .filter(|e| matches!(e, PlatformEvent::InstallationRevoked { .. }))
            .count()
            >= 2
    })
    .await;
    for event in h
        .events()
        .iter()
        .filter(|e| matches!(e, PlatformEvent::InstallationRevoked { .. }))
    {
        let PlatformEvent::InstallationRevoked {
            platform,
            external_id,
            ..
        } = event
        else {
            unreachable!()
        };
        assert_eq!((*platform, external_id.as_str()), (Platform::Slack, TEAM));
    }
    assert!(h.vault.load(&bot_key(TEAM)).await.unwrap().is_none());
    for user in [BOB, CAROL, common::DAN] {
        assert!(
            h.vault.load(&user_key(TEAM, user)).await.unwrap().is_none(),
            "{user}"
        );
    }
    let result = h
        .platform()
        .execute(PlatformCommand::SendNotice {
            to: slack(TEAM, BOB),
            notice: callbridge_model::Notice::Info { text: "x".into() },
        })
        .await;
    assert!(
        matches!(result, Err(AdapterError::ReconnectRequired { .. })),
        "{result:?}"
    );
}

fn user_tokens(token: &str) -> TokenSet {
    TokenSet {
        access_token: Secret::new(token),
        refresh_token: None,
        expires_at: None,
        scopes: vec!["users.profile:write".into()],
    }
}

#[tokio::test]
async fn an_uninstall_deletes_user_tokens_stored_before_this_process_started() {
    let h = Harness::demo().await;
    // Stored by an earlier process: this adapter never used them and Slack's `tokens_revoked`
    // does not name them, so only deleting the whole workspace's keys reaches them.
    const GHOST: &str = "U0GHOST001";
    let ghost = user_key(TEAM, GHOST);
    let dan = user_key(TEAM, common::DAN);
    // Another workspace, and one whose id merely starts with the demo workspace's.
    let elsewhere = [
        user_key(OTHER, ZOE),
        bot_key(OTHER),
        user_key(&format!("{TEAM}0"), GHOST),
    ];
    for key in [&ghost, &dan].into_iter().chain(&elsewhere) {
        h.vault
            .store(key, &user_tokens(&format!("xoxp-{}", key.owner)))
            .await
            .unwrap();
    }

    h.slack.uninstall().unwrap();
    until(|| {
        h.events()
            .iter()
            .filter(|e| matches!(e, PlatformEvent::InstallationRevoked { .. }))
            .count()
            >= 2
    })
    .await;

    for key in [&ghost, &dan, &bot_key(TEAM)] {
        assert!(h.vault.load(key).await.unwrap().is_none(), "{}", key.owner);
    }
    for key in &elsewhere {
        assert_eq!(
            h.vault.load(key).await.unwrap(),
            Some(user_tokens(&format!("xoxp-{}", key.owner))),
            "{}",
            key.owner
        );
    }
}

fn busy() -> Presence {
    Presence {
        availability: Availability::Busy,
        activity: None,
        status_text: None,
        status_emoji: None,
        expires_at: None,
        source: PresenceSource {
            platform: Platform::Teams,
            origin: PresenceOrigin::Callbridge,
            fingerprint: Some(OwnershipFingerprint::parse("cb1:feedf00d").unwrap()),
        },
    }
}

const OTHER: &str = "T0SECOND01";
const ZOE: &str = "U0SECONDZ1";

/// The demo workspace plus a second one, installed too.
fn two_workspaces() -> SlackSeed {
    let mut seed = SlackSeed::demo();
    let mut second = seed.workspaces[0].clone();
    second.id = OTHER.into();
    second.name = "Second Workspace".into();
    second.domain = "second".into();
    let zoe = SeedUser {
        id: ZOE.into(),
        name: "zoe".into(),
        real_name: "Zoe Second".into(),
        email: "zoe@example.org".into(),
        ..second.users[0].clone()
    };
    second.users = vec![zoe];
    second.channels = Vec::new();
    let mut install = second.install.clone().unwrap();
    install.bot_user_id = "U0SECONDB0".into();
    install.bot_token = "xoxb-second-bot".into();
    install.user_tokens = vec![SeedUserToken {
        user: ZOE.into(),
        token: "xoxp-second-zoe".into(),
        scopes: install.user_tokens[0].scopes.clone(),
    }];
    second.install = Some(install);
    seed.workspaces.push(second);
    seed
}

#[tokio::test]
async fn two_workspaces_never_see_each_others_data() {
    let h = Harness::start(two_workspaces(), true).await;
    // A card for Zoe is registered and posted in her workspace, with its own bot token.
    let (call, leg) = (CallId::generate(), LegId::generate());
    h.platform()
        .execute(PlatformCommand::PostCallCard {
            call,
            leg,
            to: slack(OTHER, ZOE),
            join_url: Url::parse("https://calls.example.com/join/z").unwrap(),
            title: "Call".into(),
        })
        .await
        .unwrap();
    let cards = h.call_cards().await;
    assert_eq!(cards[0]["call"]["created_by"], ZOE);
    let dm = h.slack.dm_with_app(ZOE).unwrap();
    assert_eq!(h.messages(&dm).await.len(), 1);

    // Bob exists only in the demo workspace. Addressed in the second one (the same user id),
    // nothing of his demo-workspace token is used and his status stays as it was.
    let result = h
        .platform()
        .execute(PlatformCommand::SetPresence {
            user: slack(OTHER, BOB),
            presence: busy(),
        })
        .await;
    assert!(
        matches!(result, Err(AdapterError::PlatformRejected { ref error, .. }) if error == "user_not_authorized"),
        "{result:?}"
    );
    assert_eq!(h.user_view(BOB).await["status_text"], "");

    // callbridge's write for Bob in the demo workspace is its echo there, and only there: the
    // same status reported for the same user id in the other workspace is that person's own.
    h.platform()
        .execute(PlatformCommand::SetPresence {
            user: slack(TEAM, BOB),
            presence: busy(),
        })
        .await
        .unwrap();
    until(|| !presences(&h).is_empty()).await;
    assert!(
        presences(&h)
            .iter()
            .all(|(_, p)| p.source.origin == PresenceOrigin::Callbridge)
    );
    let body = serde_json::json!({"type": "event_callback", "event_id": "EvOTHER1", "team_id": OTHER,
        "event": {"type": "user_change", "user": {"id": BOB, "team_id": OTHER,
            "profile": {"status_text": "Busy on Teams", "status_emoji": ":red_circle:", "status_expiration": 0}}}})
    .to_string();
    let now = h.slack.clock().unix();
    let inbound = h
        .platform()
        .handle_inbound(h.request(
            http::Method::POST,
            "/events",
            signed_headers(SECRET, "application/json", now, body.as_bytes()),
            body,
        ))
        .await
        .unwrap();
    let [PlatformEvent::PresenceChanged { user, presence, .. }] = inbound.events.as_slice() else {
        panic!("{:?}", inbound.events)
    };
    assert_eq!(user, &slack(OTHER, BOB));
    assert_eq!(presence.source.origin, PresenceOrigin::User);
    assert_eq!(presence.source.fingerprint, None);

    // Uninstalling from one workspace leaves the other's tokens alone.
    let body =
        serde_json::json!({"type": "event_callback", "event_id": "EvUNINST", "team_id": OTHER,
        "event": {"type": "app_uninstalled"}})
        .to_string();
    h.platform()
        .handle_inbound(h.request(
            http::Method::POST,
            "/events",
            signed_headers(SECRET, "application/json", now, body.as_bytes()),
            body,
        ))
        .await
        .unwrap();
    assert!(h.vault.load(&bot_key(OTHER)).await.unwrap().is_none());
    assert!(h.vault.load(&bot_key(TEAM)).await.unwrap().is_some());
}

/// An Enterprise Grid workspace (`fixtures/slack-grid.toml`): global `W…` users call, and
/// status writes use the workspace's tokens.
#[tokio::test]
async fn a_grid_workspace_and_its_global_users_work_like_any_other() {
    let fixture = include_str!("../../../crates/sandbox/fixtures/slack-grid.toml");
    let h = Harness::start(SlackSeed::from_toml_str(fixture).unwrap(), true).await;
    let outcome = h
        .slack
        .type_slash_command("W0GRIDERIN", "/call +14155550100")
        .await
        .unwrap();
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let events = h.events();
    let [PlatformEvent::CallRequested { caller, .. }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(caller, &slack("T0GRIDTEAM", "W0GRIDERIN"));
    h.platform()
        .execute(PlatformCommand::SetPresence {
            user: slack("T0GRIDTEAM", "W0GRIDERIN"),
            presence: busy(),
        })
        .await
        .unwrap();
    assert_eq!(
        h.user_view("W0GRIDERIN").await["status_text"],
        "Busy on Teams"
    );
}
