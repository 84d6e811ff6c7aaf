//! Entra OAuth against the Microsoft sandbox (reference `teams-graph.md` §1): the app-only token
//! cached until shortly before expiry, the PKCE sign-in of a subscriber account, refresh with
//! rotation done once for many concurrent callers, revoked consent turning into "reconnect
//! required" until an admin consents again, and callbacks with forged state refused.

mod graph_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use callbridge_adapter::{
    AdapterError, BoxFuture, HealthState, InboundRequest, MemoryVault, PlatformAdapter, TokenKey,
    TokenSet, TokenVault,
};
use callbridge_model::{Platform, PlatformCommand, PlatformEvent};
use chrono::Utc;
use graph_support::{ALICE, CLIENT, Options, TENANT, http, start};

/// A vault that counts its writes.
struct CountingVault {
    inner: Arc<MemoryVault>,
    stores: AtomicUsize,
}

impl TokenVault for CountingVault {
    fn load(&self, key: &TokenKey) -> BoxFuture<'_, Result<Option<TokenSet>, AdapterError>> {
        self.inner.load(key)
    }
    fn store(&self, key: &TokenKey, tokens: &TokenSet) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.stores.fetch_add(1, Ordering::SeqCst);
        self.inner.store(key, tokens)
    }
    fn delete(&self, key: &TokenKey) -> BoxFuture<'_, Result<bool, AdapterError>> {
        self.inner.delete(key)
    }
    fn delete_prefix(
        &self,
        platform: Platform,
        owner_prefix: &str,
    ) -> BoxFuture<'_, Result<u64, AdapterError>> {
        self.inner.delete_prefix(platform, owner_prefix)
    }
}

#[tokio::test]
async fn app_token_is_cached_until_shortly_before_expiry() {
    let harness = start(Options::default()).await;
    let entra = harness.adapter.entra();
    let first = entra.app_token(harness.now()).await.unwrap();
    harness.advance(60);
    assert_eq!(entra.app_token(harness.now()).await.unwrap(), first);
    // Entra's tokens last 3599 s; within five minutes of that a new one is fetched.
    harness.advance(55 * 60);
    let second = entra.app_token(harness.now()).await.unwrap();
    assert_ne!(second, first);
}

#[tokio::test]
async fn subscriber_signs_in_with_pkce_and_refresh_rotates_once_for_concurrent_callers() {
    let harness = start(Options::default()).await;
    let link = harness
        .adapter
        .entra()
        .sign_in_url(
            &callbridge_teams::SubscriberAccount {
                name: "alice".to_owned(),
                login_hint: Some("alice@contoso.test".to_owned()),
            },
            harness.now(),
        )
        .unwrap();
    // Tenant-specific authority, exact redirect URI, S256 challenge, offline access.
    assert!(
        link.path()
            .starts_with(&format!("/{TENANT}/oauth2/v2.0/authorize"))
    );
    let query: std::collections::HashMap<_, _> = link.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(
        query["redirect_uri"],
        format!("{}/oauth/callback", harness.public_base)
    );
    assert!(query["scope"].contains("offline_access"));
    assert!(query["scope"].contains("Presence.Read.All"));
    assert_eq!(query["login_hint"], "alice@contoso.test");

    assert_eq!(harness.sign_in("alice", ALICE).await, 200);
    let key = harness.adapter.entra().subscriber_key("alice");
    let stored = harness.vault.load(&key).await.unwrap().unwrap();
    let first_refresh = stored.refresh_token.clone().unwrap();

    // A second adapter over a counting view of the same vault: 50 callers after expiry.
    let counting = Arc::new(CountingVault {
        inner: Arc::clone(&harness.vault),
        stores: AtomicUsize::new(0),
    });
    let other = Arc::new(
        callbridge_teams::TeamsAdapter::with_client(
            harness.adapter.config().clone(),
            Arc::clone(&counting) as Arc<dyn TokenVault>,
            graph_support::client(),
        )
        .await
        .unwrap(),
    );
    harness.advance(3600);
    let now = harness.now();
    let calls = (0..50).map(|_| {
        let other = Arc::clone(&other);
        async move { other.entra().delegated_token("alice", now).await }
    });
    let tokens = futures::future::join_all(calls).await;
    let first = tokens[0].as_ref().unwrap().clone();
    assert!(tokens.iter().all(|token| token.as_ref().unwrap() == &first));
    assert_eq!(
        counting.stores.load(Ordering::SeqCst),
        1,
        "one refresh, stored once"
    );
    let rotated = harness.vault.load(&key).await.unwrap().unwrap();
    assert_ne!(rotated.refresh_token.unwrap(), first_refresh);
    assert_ne!(rotated.access_token, stored.access_token);
}

#[tokio::test]
async fn revoked_consent_requires_reconnect_until_an_admin_consents() {
    let harness = start(Options::default()).await;
    let mut events = harness.adapter.events().unwrap();
    harness.sandbox.revoke_consent(CLIENT);

    let refused = harness.adapter.entra().app_token(harness.now()).await;
    assert!(
        matches!(refused, Err(AdapterError::ReconnectRequired { .. })),
        "{refused:?}"
    );
    let health = harness.adapter.health();
    assert_eq!(health.state, HealthState::Down);
    assert!(health.problems[0].contains("reconnect required"));
    // Presence writes stop without reaching Graph.
    let write = harness
        .adapter
        .execute(PlatformCommand::SetPresence {
            user: callbridge_model::UserRef::Teams {
                tenant: TENANT.parse().unwrap(),
                user: ALICE.parse().unwrap(),
            },
            presence: busy(),
        })
        .await;
    assert!(matches!(write, Err(AdapterError::ReconnectRequired { .. })));

    // A subscriber whose tokens are gone surfaces the same way, and the host hears of it.
    harness
        .adapter
        .presence()
        .set_users([ALICE.parse().unwrap()]);
    harness.adapter.presence().step(harness.now()).await;
    let stopped = harness.adapter.presence().step(harness.now()).await;
    assert!(stopped > harness.now(), "no busy loop while stopped");

    // The admin follows the consent link; the callback restores the installation.
    let link = harness
        .adapter
        .entra()
        .admin_consent_url(harness.now())
        .unwrap();
    assert!(
        link.path()
            .starts_with(&format!("/{TENANT}/v2.0/adminconsent"))
    );
    let mut form: Vec<(String, String)> = link.query_pairs().into_owned().collect();
    form.push(("sandbox_decision".to_owned(), "accept".to_owned()));
    let mut target = link.clone();
    target.set_query(None);
    let response = http().post(target).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("admin_consent=True"));
    assert_eq!(http().get(location).send().await.unwrap().status(), 200);
    assert!(
        harness
            .adapter
            .entra()
            .app_token(harness.now())
            .await
            .is_ok()
    );

    // Still down for the subscriber that never signed in; signing in clears it.
    harness.adapter.presence().step(harness.now()).await;
    assert_eq!(harness.adapter.health().state, HealthState::Down);
    assert_eq!(harness.sign_in("alice", ALICE).await, 200);
    assert_eq!(harness.adapter.health().state, HealthState::Healthy);
    let revoked = events.try_recv();
    assert!(
        matches!(revoked, Ok(PlatformEvent::InstallationRevoked { .. })),
        "{revoked:?}"
    );
}

#[tokio::test]
async fn callbacks_with_forged_or_replayed_state_are_refused() {
    let harness = start(Options::default()).await;
    let callback = |query: &str| InboundRequest {
        method: http::Method::GET,
        path: "/oauth/callback".to_owned(),
        query: Some(query.to_owned()),
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new(),
        received_at: Utc::now(),
    };
    let forged = harness
        .adapter
        .handle_inbound(callback("code=abc&state=forged"))
        .await;
    assert!(matches!(forged, Err(AdapterError::Unauthenticated(_))));
    let missing = harness.adapter.handle_inbound(callback("code=abc")).await;
    assert!(matches!(missing, Err(AdapterError::Unauthenticated(_))));
    // A state the adapter issued is accepted.
    assert_eq!(harness.sign_in("alice", ALICE).await, 200);
    let statuses = harness.seen.statuses.lock().unwrap().clone();
    assert!(statuses.contains(&("/oauth/callback".to_owned(), 200)));
}

fn busy() -> callbridge_model::Presence {
    callbridge_model::Presence {
        availability: callbridge_model::Availability::Busy,
        activity: None,
        status_text: None,
        status_emoji: None,
        expires_at: None,
        source: callbridge_model::PresenceSource {
            platform: Platform::Slack,
            origin: callbridge_model::PresenceOrigin::Callbridge,
            fingerprint: None,
        },
    }
}
