//! Both sandboxes and a gateway wired to them for presence mirroring: Slack and Microsoft
//! (no SIP proxies: presence needs none), with pairs of users linked and each Slack user's
//! user token in the gateway's vault before the gateway starts, so the mirror starts with
//! the pairs opted in.

use std::net::SocketAddr;

use callbridge_adapter::{Secret, TokenSet, TokenVault};
use callbridge_sandbox::microsoft::RunningMicrosoftSandbox;
use callbridge_sandbox::slack::RunningSlackSandbox;
use callbridge_store::{Installation, InstallationStore, UserLink, UserLinkStore};

use crate::gateway::ServedGateway;
use crate::store::TestStore;
use crate::teams_world::{demo_teams, start_microsoft, teams_section};
use crate::world::{demo_slack, slack_section, start_slack};

/// One pair to link in the demo workspace and tenant.
#[derive(Clone, Copy, Debug)]
pub struct PresencePair<'a> {
    /// The Slack user id (`U…`).
    pub slack_user: &'a str,
    /// The Slack user token the user granted (the demo seed's `xoxp-demo-{name}`), stored
    /// in the vault so the pair is opted in.
    pub slack_token: &'a str,
    /// The Teams user's object id.
    pub teams_user: &'a str,
}

/// A running gateway with Slack and Teams enabled (no calls), between the two sandboxes.
pub struct PresenceWorld {
    /// The Slack sandbox: act as Slack users and read what Slack shows.
    pub slack: RunningSlackSandbox,
    /// The Microsoft sandbox: act as Teams users and read what Teams shows.
    pub microsoft: RunningMicrosoftSandbox,
    /// Where the gateway serves.
    pub gateway_addr: SocketAddr,
    /// The gateway's store.
    pub store: TestStore,
    gateway: ServedGateway,
}

impl PresenceWorld {
    /// Starts both sandboxes (demo seeds) and a gateway wired to them, with `pairs` linked
    /// and their Slack user tokens stored before the gateway starts.
    ///
    /// # Panics
    /// When anything cannot start: the test cannot run.
    pub async fn start(pairs: &[PresencePair<'_>]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the gateway");
        let gateway_addr = listener.local_addr().expect("the bound address");
        let store = TestStore::new().await;
        let slack = start_slack(gateway_addr, &store).await;
        let tenant = callbridge_model::TenantId::from_uuid(uuid::Uuid::nil());
        store
            .store
            .upsert_installation(&Installation {
                platform: callbridge_model::Platform::Slack,
                external_id: demo_slack::TEAM.to_owned(),
                tenant,
                display_name: "Demo".to_owned(),
                installed_at: chrono::Utc::now(),
                revoked_at: None,
            })
            .await
            .expect("the Slack installation is recorded");
        let vault = callbridge::platforms::StoreVault::new(store.store.clone());
        let started = chrono::Utc::now();
        for (order, pair) in (0i64..).zip(pairs) {
            store
                .store
                .link_users(&UserLink {
                    tenant,
                    slack_team: demo_slack::TEAM.parse().expect("the demo team id"),
                    slack_user: pair.slack_user.parse().expect("a Slack user id"),
                    teams_tenant: demo_teams::TENANT.parse().expect("the demo tenant id"),
                    teams_user: pair.teams_user.parse().expect("a Teams object id"),
                    created_at: started + chrono::TimeDelta::milliseconds(order),
                })
                .await
                .expect("the link is recorded");
            vault
                .store(
                    &callbridge_slack::user_key(demo_slack::TEAM, pair.slack_user),
                    &TokenSet {
                        access_token: Secret::new(pair.slack_token),
                        refresh_token: None,
                        expires_at: None,
                        scopes: Vec::new(),
                    },
                )
                .await
                .expect("the user token is stored");
        }
        let microsoft = start_microsoft(gateway_addr, false).await;
        // One subscriber account owns the presence subscriptions; the admin API hands out its
        // sign-in link.
        let sections = format!(
            "{slack}{teams}subscribers = [\"{SUBSCRIBER}\"]\n[admin]\ntoken = \"{ADMIN_TOKEN}\"\n",
            slack = slack_section(&slack),
            teams = teams_section(&microsoft),
        );
        let gateway = ServedGateway::start(listener, &sections, &store).await;
        sign_in_subscriber(gateway_addr).await;
        Self {
            slack,
            microsoft,
            gateway_addr,
            store,
            gateway,
        }
    }

    /// Stops the gateway and waits for it.
    pub async fn stop(mut self) {
        self.gateway.stop().await;
    }
}

/// The subscriber account's name in the gateway's configuration.
const SUBSCRIBER: &str = "watcher";
/// The admin API token of the world's gateway.
const ADMIN_TOKEN: &str = "presence-world-admin";
/// The Teams user who signs in as the subscriber (Carol Clark in the demo seed).
const SUBSCRIBER_USER: &str = "5b4c3d2e-7f6a-4b80-8c9d-2e1f3a4b5c6d";

/// Signs the subscriber account in the way an operator does: the admin API's sign-in link,
/// the sandbox's consent page accepted, the redirect followed to the gateway's callback.
async fn sign_in_subscriber(gateway: SocketAddr) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let links: serde_json::Value = http
        .get(format!(
            "http://{gateway}/api/v1/teams/consent?subscriber={SUBSCRIBER}"
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("the admin API answers")
        .json()
        .await
        .expect("the consent links");
    let link = url::Url::parse(
        links["sign_in_url"]
            .as_str()
            .expect("a sign-in link for the subscriber"),
    )
    .expect("a sign-in URL");
    let mut form: Vec<(String, String)> = link.query_pairs().into_owned().collect();
    form.push(("sandbox_user".to_owned(), SUBSCRIBER_USER.to_owned()));
    form.push(("sandbox_decision".to_owned(), "accept".to_owned()));
    let mut consent_page = link.clone();
    consent_page.set_query(None);
    let consented = http
        .post(consent_page)
        .form(&form)
        .send()
        .await
        .expect("the consent page answers");
    let status = consented.status();
    assert_eq!(
        status,
        302,
        "the consent page redirects back: {}",
        consented.text().await.unwrap_or_default()
    );

    let callback = consented.headers()["location"]
        .to_str()
        .expect("a redirect")
        .to_owned();
    let status = http
        .get(callback)
        .send()
        .await
        .expect("the gateway's callback answers")
        .status();
    assert!(
        status.is_success(),
        "the subscriber's sign-in completes: {status}"
    );
}
