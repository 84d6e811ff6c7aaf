//! Presence subscriptions against the Microsoft sandbox over real HTTP (reference
//! `teams-graph.md` §4): the validation handshake the sandbox performs on creation, rich
//! notifications decrypted into presence events, `clientState` and tampering rejected,
//! renewal, lifecycle events and the inventory after a restart.

mod graph_support;

use std::sync::Arc;

use callbridge_adapter::{AdapterError, InboundRequest, PlatformAdapter};
use callbridge_model::{Availability, PlatformEvent, UserRef};
use callbridge_sandbox::microsoft::PresenceState;
use chrono::Utc;
use graph_support::{ALICE, BOB, CAROL, Options, start};
use http::Method;
use serde_json::{Value, json};

fn ids(users: &[&str]) -> Vec<callbridge_model::AadObjectId> {
    users.iter().map(|id| id.parse().unwrap()).collect()
}

fn presence_events(events: &[PlatformEvent], user: &str) -> Vec<(Availability, String)> {
    events
        .iter()
        .filter_map(|event| match event {
            PlatformEvent::PresenceChanged {
                user: UserRef::Teams { user: id, .. },
                presence,
                ..
            } if id.to_string() == user => Some((
                presence.availability,
                presence
                    .activity
                    .as_ref()
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

async fn graph_subscriptions(harness: &graph_support::Harness, subscriber: &str) -> Vec<Value> {
    let token = harness
        .adapter
        .entra()
        .delegated_token(subscriber, harness.now())
        .await
        .unwrap();
    let body: Value = graph_support::http()
        .get(format!("{}/v1.0/subscriptions", harness.sandbox.base_url()))
        .bearer_auth(token.expose())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn rich_notifications_become_presence_events_after_a_validated_subscription() {
    let harness = start(Options::default()).await;
    assert_eq!(harness.sign_in("alice", ALICE).await, 200);
    harness
        .adapter
        .presence()
        .set_users(ids(&[ALICE, BOB, CAROL]));
    harness.settle().await;

    // Created only because the adapter answered both validation handshakes.
    let subscriptions = graph_subscriptions(&harness, "alice").await;
    assert_eq!(subscriptions.len(), 1);
    let subscription = &subscriptions[0];
    assert_eq!(subscription["includeResourceData"], true);
    assert!(subscription["clientState"].as_str().unwrap().len() >= 22);
    let handshakes = harness.seen.statuses.lock().unwrap().clone();
    assert!(handshakes.contains(&("/notifications".to_owned(), 200)));
    assert!(handshakes.contains(&("/lifecycle".to_owned(), 200)));

    // Carol starts a call in her Teams client.
    harness
        .sandbox
        .set_presence_in_client(CAROL, Some(PresenceState::new("Busy", "InACall")))
        .unwrap();
    harness
        .eventually("carol's rich notification", |h| {
            presence_events(&h.events(), CAROL)
                .contains(&(Availability::Busy, "InACall".to_owned()))
        })
        .await;
    // Acked with 202.
    assert!(
        harness
            .seen
            .statuses
            .lock()
            .unwrap()
            .contains(&("/notifications".to_owned(), 202))
    );

    // The genuine batch with its encrypted data or signature altered is refused outright.
    let genuine = harness.seen.batches.lock().unwrap()[0].clone();
    let batch: Value = serde_json::from_slice(&genuine.body).unwrap();
    assert!(batch["validationTokens"][0].is_string());
    for (field, value) in [
        (
            "dataSignature",
            json!("c2lnbmF0dXJlIG92ZXIgc29tZXRoaW5nIGVsc2U="),
        ),
        ("data", json!("QUFBQUFBQUFBQUFBQUFBQQ==")),
    ] {
        let mut tampered = batch.clone();
        tampered["value"][0]["encryptedContent"][field] = value;
        let mut request = genuine.clone();
        request.body = serde_json::to_vec(&tampered).unwrap().into();
        let result = harness.adapter.handle_inbound(request).await;
        assert!(
            matches!(result, Err(AdapterError::Unauthenticated(_))),
            "{field}: {result:?}"
        );
    }
    // Replayed as sent, it is accepted again with the same event id (the inbox drops it).
    let replay = harness.adapter.handle_inbound(genuine).await.unwrap();
    assert_eq!(replay.events.len(), 1);
    let first = harness
        .events()
        .into_iter()
        .find(|event| !presence_events(std::slice::from_ref(event), CAROL).is_empty())
        .unwrap();
    assert_eq!(replay.events[0].event_id(), first.event_id());
}

#[tokio::test]
async fn wrong_or_missing_client_state_and_tampered_items_change_nothing() {
    let harness = start(Options::default()).await;
    assert_eq!(harness.sign_in("alice", ALICE).await, 200);
    harness.adapter.presence().set_users(ids(&[ALICE, BOB]));
    harness.settle().await;
    harness
        .sandbox
        .set_presence_in_client(BOB, Some(PresenceState::new("DoNotDisturb", "Presenting")))
        .unwrap();
    harness
        .eventually("bob's notification", |h| {
            !presence_events(&h.events(), BOB).is_empty()
        })
        .await;

    let adapter = Arc::clone(&harness.adapter);
    let post = |body: Value| {
        let adapter = Arc::clone(&adapter);
        async move {
            adapter
                .handle_inbound(InboundRequest {
                    method: Method::POST,
                    path: "/notifications".to_owned(),
                    query: None,
                    headers: http::HeaderMap::new(),
                    body: serde_json::to_vec(&body).unwrap().into(),
                    received_at: Utc::now(),
                })
                .await
        }
    };
    let item = |client_state: Option<&str>| {
        let mut item = json!({
            "subscriptionId": "00000000-0000-0000-0000-000000000001",
            "changeType": "updated",
            "resource": format!("communications/presences?$filter=id+in+(%27{BOB}%27)"),
            "resourceData": {"@odata.type": "#Microsoft.Graph.presence", "id": BOB},
            "tenantId": graph_support::TENANT,
        });
        if let Some(state) = client_state {
            item["clientState"] = json!(state);
        }
        item
    };
    for body in [
        json!({"value": [item(Some("not-the-secret"))]}),
        json!({"value": [item(None)]}),
    ] {
        let result = post(body).await;
        assert!(
            matches!(result, Err(AdapterError::Unauthenticated(_))),
            "{result:?}"
        );
    }
    let malformed = post(json!({"value": "nope"})).await;
    assert!(matches!(malformed, Err(AdapterError::Malformed(_))));

    // A genuine clientState with forged encrypted content: no event, and the change is
    // re-read instead of trusted.
    let client_state = graph_subscriptions(&harness, "alice").await[0]["clientState"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut forged = item(Some(&client_state));
    forged["encryptedContent"] = json!({
        "data": "AAAAAAAAAAAAAAAAAAAAAA==",
        "dataSignature": "AAAA",
        "dataKey": "AAAA",
        "encryptionCertificateId": "callbridge-notifications-1",
        "encryptionCertificateThumbprint": "00",
    });
    let result = post(json!({"value": [forged], "validationTokens": ["not.a.jwt"]})).await;
    assert!(
        matches!(
            result,
            Err(AdapterError::Unauthenticated(
                "notification validationTokens"
            ))
        ),
        "{result:?}"
    );
    // A basic item with the right clientState is accepted with 202 and carries no event of
    // its own: the presence is re-read.
    let accepted = post(json!({"value": [item(Some(&client_state))]}))
        .await
        .unwrap();
    assert_eq!(accepted.reply.status, 202);
    assert!(accepted.events.is_empty());
}

#[tokio::test]
async fn subscriptions_are_renewed_and_lifecycle_events_handled() {
    let harness = start(Options::default()).await;
    assert_eq!(harness.sign_in("alice", ALICE).await, 200);
    harness
        .adapter
        .presence()
        .set_users(ids(&[ALICE, BOB, CAROL]));
    harness.settle().await;
    let first = graph_subscriptions(&harness, "alice").await[0].clone();
    let expiry = |subscription: &Value| {
        subscription["expirationDateTime"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap()
    };

    // 31 minutes later, the subscription is renewed well before its hour is up.
    harness.advance(31 * 60);
    harness.settle().await;
    let renewed = graph_subscriptions(&harness, "alice").await;
    assert_eq!(renewed.len(), 1);
    assert_eq!(renewed[0]["id"], first["id"]);
    assert!(expiry(&renewed[0]) > expiry(&first) + chrono::Duration::minutes(25));

    // reauthorizationRequired pauses delivery; the adapter reauthorizes and deliveries resume.
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(
        harness
            .sandbox
            .send_lifecycle_event(&id, "reauthorizationRequired")
    );
    harness
        .eventually("the lifecycle notification", |h| {
            h.seen
                .statuses
                .lock()
                .unwrap()
                .contains(&("/lifecycle".to_owned(), 202))
        })
        .await;
    harness.settle().await;
    harness
        .sandbox
        .set_presence_in_client(ALICE, Some(PresenceState::new("Busy", "InAMeeting")))
        .unwrap();
    harness
        .eventually("delivery after reauthorization", |h| {
            presence_events(&h.events(), ALICE)
                .contains(&(Availability::Busy, "InAMeeting".to_owned()))
        })
        .await;

    // subscriptionRemoved: Graph dropped it, the adapter makes a new one.
    assert!(
        harness
            .sandbox
            .send_lifecycle_event(&id, "subscriptionRemoved")
    );
    harness
        .eventually("the removal notice", |h| {
            h.seen
                .statuses
                .lock()
                .unwrap()
                .iter()
                .filter(|(path, status)| path == "/lifecycle" && *status == 202)
                .count()
                >= 2
        })
        .await;
    harness.settle().await;
    let recreated = graph_subscriptions(&harness, "alice").await;
    assert_eq!(recreated.len(), 1);
    assert_ne!(recreated[0]["id"], first["id"]);
}

#[tokio::test]
async fn a_restarted_adapter_adopts_its_subscription_instead_of_duplicating_it() {
    let harness = start(Options::default()).await;
    assert_eq!(harness.sign_in("alice", ALICE).await, 200);
    harness.adapter.presence().set_users(ids(&[ALICE, BOB]));
    harness.settle().await;
    let before = graph_subscriptions(&harness, "alice").await;
    assert_eq!(before.len(), 1);

    // A second adapter over the same vault (a restart): same clientState, same tokens.
    let mut config = harness.adapter.config().clone();
    config.notification_certificate = None;
    let restarted = callbridge_teams::TeamsAdapter::with_client(
        config,
        Arc::clone(&harness.vault) as Arc<dyn callbridge_adapter::TokenVault>,
        graph_support::client(),
    )
    .await
    .unwrap();
    restarted.presence().set_users(ids(&[ALICE, BOB]));
    let now = harness.now();
    restarted.presence().step(now).await;
    let adopted = restarted.presence().subscriptions();
    assert_eq!(adopted.len(), 1);
    assert_eq!(adopted[0].1, before[0]["id"].as_str().unwrap());
    let after = graph_subscriptions(&harness, "alice").await;
    assert_eq!(after.len(), 1, "no duplicate");
}
