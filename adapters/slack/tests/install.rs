//! "Add to Slack" end to end (slack-api.md §5): install → the sandbox's consent page →
//! callback, with the state checks; then token rotation under concurrency: 50 calls on an
//! expiring token cause exactly one refresh, and the rotated pair is what the vault holds.

mod common;

use std::collections::HashMap;

use callbridge_adapter::{AdapterError, PlatformAdapter, TokenVault};
use callbridge_model::{Notice, PlatformCommand, UserRef};
use callbridge_sandbox::slack::SlackSeed;
use callbridge_slack::{STATE_COOKIE, bot_key, user_key};
use common::{BOB, Harness, TEAM};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use url::Url;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// `GET /slack/install`: the authorize URL and the state cookie.
async fn start_install(h: &Harness, mirror: bool) -> (Url, String) {
    let path = if mirror {
        "slack/install?mirror=1"
    } else {
        "slack/install"
    };
    let response = no_redirects()
        .get(h.app_url.join(path).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with(&format!("{STATE_COOKIE}=")), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let location = Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
    (location, cookie)
}

/// The person approves (or cancels) on the sandbox's consent page; returns the redirect back.
async fn decide(h: &Harness, authorize: &Url, allow: bool) -> Url {
    let page = reqwest::get(authorize.clone()).await.unwrap();
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "consent page refused the request"
    );
    let mut form = query(authorize);
    form.insert("team".into(), TEAM.into());
    form.insert("user".into(), BOB.into());
    form.insert(
        "decision".into(),
        if allow { "allow" } else { "deny" }.into(),
    );
    let url = h.slack.base_url().join("oauth/v2/authorize").unwrap();
    let response = no_redirects().post(url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap()
}

async fn callback(back: &Url, cookie: &str) -> (StatusCode, String) {
    let response = no_redirects()
        .get(back.clone())
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn rotating() -> Harness {
    let mut seed = SlackSeed::demo();
    seed.app.token_rotation = true;
    Harness::start(seed, false).await
}

#[tokio::test]
async fn install_stores_rotating_bot_and_user_tokens() {
    let h = rotating().await;
    h.slack.clock().freeze();
    let (authorize, cookie) = start_install(&h, true).await;
    let params = query(&authorize);
    assert_eq!(
        params["redirect_uri"],
        h.app_url.join("slack/oauth/callback").unwrap().as_str()
    );
    assert!(params["scope"].split(',').any(|s| s == "calls:write"));
    assert!(
        params["user_scope"]
            .split(',')
            .any(|s| s == "users.profile:write")
    );
    let back = decide(&h, &authorize, true).await;
    let (status, page) = callback(&back, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("callbridge is installed in Demo Workspace"),
        "{page}"
    );

    let now = h.slack.clock().now_utc();
    let bot = h
        .vault
        .load(&bot_key(TEAM))
        .await
        .unwrap()
        .expect("bot token stored");
    assert!(bot.access_token.expose().starts_with("xoxe.xoxb-1-"));
    assert!(
        bot.refresh_token
            .as_ref()
            .unwrap()
            .expose()
            .starts_with("xoxe-1-")
    );
    assert_eq!(
        bot.expires_at,
        Some(now + chrono::Duration::seconds(43_200))
    );
    assert!(bot.scopes.iter().any(|s| s == "commands"));
    let user = h
        .vault
        .load(&user_key(TEAM, BOB))
        .await
        .unwrap()
        .expect("user token stored");
    assert!(user.access_token.expose().starts_with("xoxe.xoxp-1-"));

    // The installation works: a notice goes out with the new bot token.
    h.platform()
        .execute(PlatformCommand::SendNotice {
            to: slack_bob(),
            notice: Notice::Info {
                text: "hello".into(),
            },
        })
        .await
        .unwrap();

    // The same callback again: the state is spent.
    let (status, _) = callback(&back, &cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_callback_without_the_browsers_cookie_is_refused() {
    let h = rotating().await;
    let (authorize, _cookie) = start_install(&h, false).await;
    let back = decide(&h, &authorize, true).await;
    let (status, _) = callback(&back, &format!("{STATE_COOKIE}=someone-elses-state")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = callback(&back, "other=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(h.vault.load(&bot_key(TEAM)).await.unwrap().is_none());
}

#[tokio::test]
async fn a_state_older_than_ten_minutes_is_refused() {
    let h = rotating().await;
    h.slack.clock().freeze();
    let (authorize, cookie) = start_install(&h, false).await;
    let back = decide(&h, &authorize, true).await;
    h.slack.clock().advance(std::time::Duration::from_secs(601));
    let (status, _) = callback(&back, &cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(h.vault.load(&bot_key(TEAM)).await.unwrap().is_none());
}

#[tokio::test]
async fn cancelling_on_the_consent_page_installs_nothing() {
    let h = rotating().await;
    let (authorize, cookie) = start_install(&h, false).await;
    let back = decide(&h, &authorize, false).await;
    assert_eq!(query(&back)["error"], "access_denied");
    let (status, page) = callback(&back, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Installation cancelled"));
    assert!(h.vault.load(&bot_key(TEAM)).await.unwrap().is_none());
}

fn slack_bob() -> UserRef {
    UserRef::Slack {
        team: TEAM.parse().unwrap(),
        user: BOB.parse().unwrap(),
    }
}

#[tokio::test]
async fn fifty_concurrent_calls_on_an_expiring_token_refresh_it_exactly_once() {
    let h = rotating().await;
    h.slack.clock().freeze();
    let (authorize, cookie) = start_install(&h, false).await;
    let back = decide(&h, &authorize, true).await;
    assert_eq!(callback(&back, &cookie).await.0, StatusCode::OK);
    let before = h.vault.load(&bot_key(TEAM)).await.unwrap().unwrap();
    assert_eq!(h.slack.token_refreshes(), 0);

    // 11 hours on: inside the 2-hour refresh margin of the 12-hour token.
    h.slack
        .clock()
        .advance(std::time::Duration::from_secs(11 * 3600));
    let calls = (0..50).map(|n| {
        h.platform().execute(PlatformCommand::SendNotice {
            to: slack_bob(),
            notice: Notice::Info {
                text: format!("notice {n}"),
            },
        })
    });
    let results = futures::future::join_all(calls).await;
    for result in &results {
        assert!(result.is_ok(), "{result:?}");
    }
    assert_eq!(h.slack.token_refreshes(), 1);
    let after = h.vault.load(&bot_key(TEAM)).await.unwrap().unwrap();
    assert_ne!(after.access_token, before.access_token);
    assert_ne!(after.refresh_token, before.refresh_token);
    assert_eq!(
        after.expires_at,
        Some(h.slack.clock().now_utc() + chrono::Duration::seconds(43_200))
    );
    let dm = h.slack.dm_with_app(BOB).unwrap();
    assert_eq!(
        h.messages(&dm)
            .await
            .iter()
            .filter(|m| m["text"].as_str().unwrap_or("").starts_with("notice "))
            .count(),
        50
    );

    // Past the old token's own expiry everything still works on the new pair, with no
    // further refresh until the new one nears its end.
    h.slack
        .clock()
        .advance(std::time::Duration::from_secs(2 * 3600));
    h.platform()
        .execute(PlatformCommand::SendNotice {
            to: slack_bob(),
            notice: Notice::Info {
                text: "later".into(),
            },
        })
        .await
        .unwrap();
    assert_eq!(h.slack.token_refreshes(), 1);
}

#[tokio::test]
async fn a_spent_refresh_token_means_reconnect() {
    let h = rotating().await;
    h.slack.clock().freeze();
    let (authorize, cookie) = start_install(&h, false).await;
    let back = decide(&h, &authorize, true).await;
    assert_eq!(callback(&back, &cookie).await.0, StatusCode::OK);
    // Someone else (another node with a stale copy) spends the refresh token first.
    let stored = h.vault.load(&bot_key(TEAM)).await.unwrap().unwrap();
    let spent = reqwest::Client::new()
        .post(h.slack.api_url().join("oauth.v2.access").unwrap())
        .basic_auth("1000000001.2000000002", Some("demo-client-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                stored.refresh_token.as_ref().unwrap().expose(),
            ),
        ])
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(spent["ok"], true);
    h.slack
        .clock()
        .advance(std::time::Duration::from_secs(11 * 3600));
    let result = h
        .platform()
        .execute(PlatformCommand::SendNotice {
            to: slack_bob(),
            notice: Notice::Info { text: "x".into() },
        })
        .await;
    assert!(
        matches!(result, Err(AdapterError::ReconnectRequired { ref installation }) if installation == TEAM),
        "{result:?}"
    );
    assert_eq!(
        h.adapter.health().state,
        callbridge_adapter::HealthState::Degraded
    );
    // Installing again reconnects the workspace.
    let (authorize, cookie) = start_install(&h, false).await;
    let back = decide(&h, &authorize, true).await;
    assert_eq!(callback(&back, &cookie).await.0, StatusCode::OK);
    assert_eq!(
        h.adapter.health().state,
        callbridge_adapter::HealthState::Healthy
    );
    h.platform()
        .execute(PlatformCommand::SendNotice {
            to: slack_bob(),
            notice: Notice::Info {
                text: "back".into(),
            },
        })
        .await
        .unwrap();
}
