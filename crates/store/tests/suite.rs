//! The store suite: every test runs against SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use callbridge_model::{
    Availability, Call, CallId, CallState, Cdr, Direction, Leg, LegId, LegState, Platform,
    Presence, PresenceOrigin, PresenceSource, TenantId, TerminationCause, UserRef,
};
use callbridge_store::{
    CallStore, EventInbox, InboxClaim, Installation, InstallationStore, Keyring, LeaseStore,
    MirrorState, OAuthToken, PresenceMirrorStore, SecretStore, SecretString, StoreError,
    TokenOwner, UserLink, UserLinkStore,
};
use chrono::{DateTime, TimeZone, Utc};
use common::{TestDb, key, keyring};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_764_000_000 + secs, 0).unwrap()
}

fn slack_user(n: u32) -> UserRef {
    UserRef::Slack {
        team: "T0123ABCD".parse().unwrap(),
        user: format!("U{n:08}").parse().unwrap(),
    }
}

fn teams_user(n: u32) -> UserRef {
    UserRef::Teams {
        tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47".parse().unwrap(),
        user: format!("8b4c2a1e-3d5f-4a6b-9c7d-{n:012}").parse().unwrap(),
    }
}

pub(crate) fn new_call(n: u32) -> Call {
    Call {
        id: CallId::generate(),
        tenant: TenantId::generate(),
        direction: Direction::SlackToTeams,
        state: CallState::Ringing,
        legs: vec![
            Leg {
                id: LegId::generate(),
                user: slack_user(n),
                state: LegState::Placing,
                platform_ref: Some("R0789IJKL".into()),
            },
            Leg {
                id: LegId::generate(),
                user: teams_user(n),
                state: LegState::Ringing,
                platform_ref: None,
            },
        ],
        created_at: at(0),
        answered_at: None,
        ended_at: None,
        termination: None,
    }
}

fn ended(mut call: Call, cause: TerminationCause) -> (Call, Cdr) {
    call.state = CallState::Ended;
    call.ended_at = Some(at(60));
    call.termination = Some(cause);
    for leg in &mut call.legs {
        leg.state = LegState::Ended;
    }
    let cdr = Cdr {
        call_id: call.id,
        tenant: call.tenant,
        direction: call.direction,
        caller: call.legs[0].user.clone(),
        callee: call.legs[1].user.clone(),
        started_at: call.created_at,
        answered_at: call.answered_at,
        ended_at: at(60),
        cause,
    };
    (call, cdr)
}

async fn calls_round_trip(db: &TestDb) {
    let store = db.open(keyring()).await;
    let call = new_call(1);
    store.create_call(&call).await.unwrap();
    assert_eq!(store.call(call.id).await.unwrap(), Some(call.clone()));
    let mut connected = call.clone();
    connected.state = CallState::Connected;
    connected.answered_at = Some(at(5));
    connected.legs[1].state = LegState::Active;
    store.update_call(&connected).await.unwrap();
    assert_eq!(store.call(call.id).await.unwrap(), Some(connected.clone()));
    assert_eq!(store.live_calls().await.unwrap(), vec![connected]);
    assert_eq!(store.call(CallId::generate()).await.unwrap(), None);
    // The same call twice is a conflict, not a second record.
    assert!(matches!(
        store.create_call(&call).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn exactly_one_cdr_per_call(db: &TestDb) {
    let store = db.open(keyring()).await;
    let call = new_call(2);
    store.create_call(&call).await.unwrap();
    let (done, cdr) = ended(call.clone(), TerminationCause::Normal);
    store.finish_call(&done, &cdr).await.unwrap();
    let (again, second) = ended(call.clone(), TerminationCause::Error);
    assert!(matches!(
        store.finish_call(&again, &second).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.recent_cdrs(10).await.unwrap(), vec![cdr]);
    // The failed second finish rolled back: the call keeps the first termination.
    assert_eq!(
        store.call(call.id).await.unwrap().unwrap().termination,
        Some(TerminationCause::Normal)
    );
    assert!(store.live_calls().await.unwrap().is_empty());
}

async fn updating_an_unknown_call_is_refused(db: &TestDb) {
    let store = db.open(keyring()).await;
    assert!(matches!(
        store.update_call(&new_call(3)).await,
        Err(StoreError::Conflict(_))
    ));
    let call = new_call(4);
    let (done, cdr) = ended(call, TerminationCause::NoAnswer);
    assert!(store.finish_call(&done, &cdr).await.is_err());
    assert!(
        store.recent_cdrs(10).await.unwrap().is_empty(),
        "no CDR without its call"
    );
}

async fn installations_upsert_and_revoke(db: &TestDb) {
    let store = db.open(keyring()).await;
    let mut install = Installation {
        platform: Platform::Slack,
        external_id: "T0123ABCD".into(),
        tenant: TenantId::generate(),
        display_name: "Contoso".into(),
        installed_at: at(0),
        revoked_at: None,
    };
    store.upsert_installation(&install).await.unwrap();
    install.display_name = "Contoso Ltd".into();
    store.upsert_installation(&install).await.unwrap();
    assert_eq!(store.installations().await.unwrap(), vec![install.clone()]);
    assert!(
        store
            .revoke_installation(Platform::Slack, "T0123ABCD", at(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_installation(Platform::Teams, "T0123ABCD", at(10))
            .await
            .unwrap()
    );
    let revoked = store
        .installation(Platform::Slack, "T0123ABCD")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at(10)));
}

async fn user_links_are_one_to_one(db: &TestDb) {
    let store = db.open(keyring()).await;
    let link = UserLink {
        tenant: TenantId::generate(),
        slack_team: "T0123ABCD".parse().unwrap(),
        slack_user: "U0456EFGH".parse().unwrap(),
        teams_tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47".parse().unwrap(),
        teams_user: "8b4c2a1e-3d5f-4a6b-9c7d-1e2f3a4b5c6d".parse().unwrap(),
        created_at: at(0),
    };
    store.link_users(&link).await.unwrap();
    let mut other_slack = link.clone();
    other_slack.slack_user = "U0999ZZZZ".parse().unwrap();
    assert!(matches!(
        store.link_users(&other_slack).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .link_for_teams(&link.teams_tenant, &link.teams_user)
            .await
            .unwrap(),
        Some(link.clone())
    );
    assert_eq!(
        store
            .link_for_slack(&link.slack_team, &link.slack_user)
            .await
            .unwrap(),
        Some(link.clone())
    );
    assert!(
        store
            .unlink_slack(&link.slack_team, &link.slack_user)
            .await
            .unwrap()
    );
    assert!(store.links().await.unwrap().is_empty());
    store.link_users(&other_slack).await.unwrap();
}

const PLAINTEXT_ACCESS: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
const PLAINTEXT_REFRESH: &str = "xoxe-1-My0xLTE3NjUzNjcyNDgxLTE5ODc0Njk4MzIzLXJlZnJlc2g";
const PLAINTEXT_SIGNING: &str = "8f742231b10e8888abcd99yyyzzz85a5";

async fn tokens_are_sealed_at_rest(db: &TestDb) {
    let store = db.open(keyring()).await;
    let owner = TokenOwner {
        platform: Platform::Slack,
        owner: "T0123ABCD".into(),
    };
    let token = OAuthToken {
        access_token: SecretString::new(PLAINTEXT_ACCESS),
        refresh_token: Some(SecretString::new(PLAINTEXT_REFRESH)),
        expires_at: Some(at(43_200)),
        scopes: vec!["calls:write".into(), "chat:write".into()],
    };
    store.put_token(&owner, &token, at(0)).await.unwrap();
    store
        .put_secret("slack.signing_secret", PLAINTEXT_SIGNING.as_bytes(), at(0))
        .await
        .unwrap();
    assert_eq!(store.token(&owner).await.unwrap(), Some(token));
    assert_eq!(
        store.secret("slack.signing_secret").await.unwrap().unwrap(),
        PLAINTEXT_SIGNING.as_bytes()
    );
    store.close().await;

    let raw = db.raw_contents();
    assert!(!raw.is_empty());
    for secret in [PLAINTEXT_ACCESS, PLAINTEXT_REFRESH, PLAINTEXT_SIGNING] {
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "plaintext secret found in the database"
        );
    }
    // The scopes stay readable for the token health view.
    assert!(raw.windows(11).any(|w| w == b"calls:write"));
}

fn owned(platform: Platform, owner: &str) -> TokenOwner {
    TokenOwner {
        platform,
        owner: owner.into(),
    }
}

async fn tokens_delete_by_exact_prefix(db: &TestDb) {
    let store = db.open(keyring()).await;
    let token = OAuthToken {
        access_token: SecretString::new("xoxp-1-2-3"),
        refresh_token: None,
        expires_at: None,
        scopes: vec!["users.profile:write".into()],
    };
    let slack = [
        "user:T1:U1",
        "user:T1:U2",
        "user:T10:U3",
        "bot:T1",
        "user:T_:U4",
    ];
    for owner in slack {
        store
            .put_token(&owned(Platform::Slack, owner), &token, at(0))
            .await
            .unwrap();
    }
    // Same owner key on another platform: out of reach of a Slack deletion.
    let teams = owned(Platform::Teams, "user:T1:U1");
    store.put_token(&teams, &token, at(0)).await.unwrap();

    // Wildcards are plain characters: as LIKE patterns these would match every `user:T…` key.
    for pattern in ["user:T%", "user:T_:U%", "%"] {
        assert_eq!(
            store
                .delete_tokens_with_prefix(Platform::Slack, pattern)
                .await
                .unwrap(),
            0,
            "{pattern}"
        );
    }
    let refused = store
        .delete_tokens_with_prefix(Platform::Slack, "")
        .await
        .unwrap_err();
    assert!(matches!(refused, StoreError::Refused(_)), "{refused}");
    assert!(!refused.is_retryable());

    assert_eq!(
        store
            .delete_tokens_with_prefix(Platform::Slack, "user:T1:")
            .await
            .unwrap(),
        2
    );
    for (owner, kept) in [
        ("user:T1:U1", false),
        ("user:T1:U2", false),
        ("user:T10:U3", true),
        ("bot:T1", true),
        ("user:T_:U4", true),
    ] {
        assert_eq!(
            store
                .token(&owned(Platform::Slack, owner))
                .await
                .unwrap()
                .is_some(),
            kept,
            "{owner}"
        );
    }
    assert_eq!(store.token(&teams).await.unwrap(), Some(token));
    assert_eq!(
        store
            .delete_tokens_with_prefix(Platform::Slack, "user:T1:")
            .await
            .unwrap(),
        0
    );
    // The wildcard-bearing key itself is reachable by its exact prefix.
    assert_eq!(
        store
            .delete_tokens_with_prefix(Platform::Slack, "user:T_:")
            .await
            .unwrap(),
        1
    );
}

async fn rotation_rewraps_every_secret(db: &TestDb) {
    let old_spec = common::key_spec("old");
    let new_spec = common::key_spec("new");
    let parse = |spec: &str| callbridge_store::SecretKey::parse(spec).unwrap();
    let owner = TokenOwner {
        platform: Platform::Teams,
        owner: "72f988bf".into(),
    };
    let token = OAuthToken {
        access_token: SecretString::new("eyJ0eXAi.a.b"),
        refresh_token: None,
        expires_at: None,
        scopes: vec![],
    };

    let store = db.open(Keyring::new(parse(&old_spec), [])).await;
    store.put_token(&owner, &token, at(0)).await.unwrap();
    store
        .put_secret("srtp.master", b"\x01\x02\x03", at(0))
        .await
        .unwrap();
    store.close().await;

    let rotating = db
        .open(Keyring::new(parse(&new_spec), [parse(&old_spec)]))
        .await;
    assert_eq!(rotating.rewrap_secrets().await.unwrap(), 2);
    assert_eq!(
        rotating.rewrap_secrets().await.unwrap(),
        0,
        "rotation is idempotent"
    );
    rotating.close().await;

    let new_only = db.open(Keyring::new(parse(&new_spec), [])).await;
    assert_eq!(new_only.token(&owner).await.unwrap(), Some(token));
    assert_eq!(
        new_only.secret("srtp.master").await.unwrap().unwrap(),
        b"\x01\x02\x03"
    );
    new_only.close().await;

    let old_only = db.open(Keyring::new(parse(&old_spec), [])).await;
    assert!(matches!(
        old_only.token(&owner).await,
        Err(StoreError::SecretUnreadable { .. })
    ));
    let wrong = db.open(Keyring::new(key("new"), [])).await;
    assert!(matches!(
        wrong.secret("srtp.master").await,
        Err(StoreError::SecretUnreadable { .. })
    ));
}

async fn inbox_makes_side_effects_happen_once(db: &TestDb) {
    let store = db.open(keyring()).await;
    // Four deliveries of one event, all at once: exactly one wins.
    let claims = futures::future::join_all(
        (0..4).map(|_| store.claim_event(Platform::Slack, "Ev01", "{}", at(0))),
    )
    .await;
    let new = claims
        .iter()
        .filter(|c| matches!(c, Ok(InboxClaim::New)))
        .count();
    assert_eq!(new, 1, "{claims:?}");
    assert!(claims.iter().all(Result::is_ok));
    assert_eq!(
        store
            .claim_event(Platform::Slack, "Ev01", "{}", at(1))
            .await
            .unwrap(),
        InboxClaim::InProgress
    );
    // The same id from the other platform is another event.
    assert_eq!(
        store
            .claim_event(Platform::Teams, "Ev01", "{}", at(1))
            .await
            .unwrap(),
        InboxClaim::New
    );
    let pending = store
        .pending_events(at(40), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].payload, "{}");
    store
        .complete_event(Platform::Slack, "Ev01", at(2))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_event(Platform::Slack, "Ev01", "{}", at(3))
            .await
            .unwrap(),
        InboxClaim::Done
    );
    assert_eq!(
        store
            .pending_events(at(40), Duration::from_secs(30))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.prune_events(at(100)).await.unwrap(), 1);
}

async fn mirror_state_round_trips(db: &TestDb) {
    let store = db.open(keyring()).await;
    let target = slack_user(7);
    assert_eq!(
        store.mirror_state(&target).await.unwrap(),
        MirrorState::default()
    );
    let state = MirrorState {
        last_written: Some(Presence {
            availability: Availability::Busy,
            activity: None,
            status_text: None,
            status_emoji: Some(":telephone_receiver:".into()),
            expires_at: None,
            source: PresenceSource {
                platform: Platform::Slack,
                origin: PresenceOrigin::Callbridge,
                fingerprint: Some(
                    callbridge_model::OwnershipFingerprint::parse("cb1:0123abcd").unwrap(),
                ),
            },
        }),
        previous: None,
        last_sync: Some(at(5)),
        error_count: 2,
        last_error: Some("ratelimited".into()),
        paused: true,
    };
    store
        .save_mirror_state(&target, &state, at(5))
        .await
        .unwrap();
    assert_eq!(store.mirror_state(&target).await.unwrap(), state);
    assert_eq!(
        store.mirror_state(&slack_user(8)).await.unwrap(),
        MirrorState::default()
    );
}

async fn leases_exclude_and_fence(db: &TestDb) {
    let store = db.open(keyring()).await;
    let ttl = Duration::from_secs(30);
    let first = store
        .acquire_lease("graph-renewal", "node-a", ttl, at(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.fence, 1);
    assert!(
        store
            .acquire_lease("graph-renewal", "node-b", ttl, at(10))
            .await
            .unwrap()
            .is_none()
    );
    let renewed = store
        .acquire_lease("graph-renewal", "node-a", ttl, at(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((renewed.fence, renewed.expires_at), (1, at(50)));
    let taken = store
        .acquire_lease("graph-renewal", "node-b", ttl, at(51))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken.holder.as_str(), taken.fence), ("node-b", 2));
    assert!(
        !store
            .release_lease("graph-renewal", "node-a")
            .await
            .unwrap()
    );
    assert!(
        store
            .release_lease("graph-renewal", "node-b")
            .await
            .unwrap()
    );
    let back = store
        .acquire_lease("graph-renewal", "node-a", ttl, at(52))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.fence, 3);
}

async fn migrations_are_idempotent_and_store_pings(db: &TestDb) {
    let store = db.open(keyring()).await;
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

async fn corrupt_rows_are_reported_not_panicked_on(db: &TestDb) {
    let store = db.open(keyring()).await;
    let call = new_call(9);
    store.create_call(&call).await.unwrap();
    store.close().await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url()).await.unwrap();
    sqlx::query("UPDATE calls SET body = '{\"id\": 12' WHERE id = $1")
        .bind(call.id.to_string())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = db.open(keyring()).await;
    let error = store.call(call.id).await.unwrap_err();
    assert!(
        matches!(error, StoreError::Corrupt { what: "call", .. }),
        "{error}"
    );
    assert!(!error.is_retryable());
}

both_backends! {
    calls_round_trip;
    exactly_one_cdr_per_call;
    updating_an_unknown_call_is_refused;
    installations_upsert_and_revoke;
    user_links_are_one_to_one;
    tokens_are_sealed_at_rest;
    tokens_delete_by_exact_prefix;
    rotation_rewraps_every_secret;
    inbox_makes_side_effects_happen_once;
    mirror_state_round_trips;
    leases_exclude_and_fence;
    migrations_are_idempotent_and_store_pings;
    corrupt_rows_are_reported_not_panicked_on;
}
