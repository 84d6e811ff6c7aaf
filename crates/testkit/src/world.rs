//! A gateway on a real socket wired to an in-process Slack sandbox, so an end-to-end test is a
//! few lines: the sandbox plays the people and Slack, the gateway is the product as `serve`
//! builds it (configuration parsed from TOML, adapters mounted, event loop running).

use std::net::SocketAddr;

use callbridge_adapter::{Secret, TokenSet, TokenVault};
use callbridge_sandbox::slack::{RunningSlackSandbox, SlackSandbox, SlackSandboxConfig, SlackSeed};

use crate::gateway::ServedGateway;
use crate::store::TestStore;

/// The demo seed's Slack app, as `SlackSeed::demo()` registers it.
pub mod demo_slack {
    /// The workspace.
    pub const TEAM: &str = "T0DEMOTEAM";
    /// The app id.
    pub const APP_ID: &str = "A0CALLBRDG";
    /// The OAuth client id.
    pub const CLIENT_ID: &str = "1000000001.2000000002";
    /// The OAuth client secret.
    pub const CLIENT_SECRET: &str = "demo-client-secret";
    /// The request signing secret.
    pub const SIGNING_SECRET: &str = "demo-signing-secret";
    /// The installed bot token.
    pub const BOT_TOKEN: &str = "xoxb-demo-bot";
    /// Bob, an admin.
    pub const BOB: &str = "U0DEMOBOB1";
}

/// A running gateway with Slack enabled, pointed at a running Slack sandbox.
pub struct SlackWorld {
    /// The Slack sandbox: act as users through it and read what Slack shows.
    pub slack: RunningSlackSandbox,
    /// Where the gateway serves.
    pub gateway_addr: SocketAddr,
    /// The gateway's store.
    pub store: TestStore,
    gateway: ServedGateway,
}

impl SlackWorld {
    /// Starts the sandbox (demo seed) and a gateway whose `[slack]` section points at it,
    /// with the demo workspace's bot token already installed in the gateway's vault.
    ///
    /// # Panics
    /// When anything cannot start: the test cannot run.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the gateway");
        let gateway_addr = listener.local_addr().expect("the bound address");
        let store = TestStore::new().await;
        let slack = start_slack(gateway_addr, &store).await;
        let gateway = ServedGateway::start(listener, &slack_section(&slack), &store).await;
        Self {
            slack,
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

/// Starts the Slack sandbox (demo seed) delivering to the gateway at `gateway_addr`, with the
/// demo workspace's bot token already in the gateway's vault.
pub(crate) async fn start_slack(
    gateway_addr: SocketAddr,
    store: &TestStore,
) -> RunningSlackSandbox {
    let app_url = url::Url::parse(&format!("http://{gateway_addr}/")).expect("a URL");
    let slack =
        SlackSandbox::start(SlackSandboxConfig::new(SlackSeed::demo()).with_app_base_url(app_url))
            .await
            .expect("the Slack sandbox starts");
    let vault = callbridge::platforms::StoreVault::new(store.store.clone());
    vault
        .store(
            &callbridge_slack::bot_key(demo_slack::TEAM),
            &TokenSet {
                access_token: Secret::new(demo_slack::BOT_TOKEN),
                refresh_token: None,
                expires_at: None,
                scopes: Vec::new(),
            },
        )
        .await
        .expect("the bot token is stored");
    slack
}

/// The `[slack]` section pointing the gateway at the sandbox's demo app.
pub(crate) fn slack_section(slack: &RunningSlackSandbox) -> String {
    let authorize = slack
        .base_url()
        .join("oauth/v2/authorize")
        .expect("the authorize URL");
    format!(
        "[slack]\napi_base_url = \"{api}\"\nauthorize_url = \"{authorize}\"\n\
         app_id = \"{app}\"\nclient_id = \"{client}\"\nclient_secret = \"{secret}\"\n\
         signing_secret = \"{signing}\"\n",
        api = slack.api_url(),
        app = demo_slack::APP_ID,
        client = demo_slack::CLIENT_ID,
        secret = demo_slack::CLIENT_SECRET,
        signing = demo_slack::SIGNING_SECRET,
    )
}
