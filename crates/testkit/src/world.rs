//! A gateway on a real socket wired to an in-process Slack sandbox, so an end-to-end test is a
//! few lines: the sandbox plays the people and Slack, the gateway is the product as `serve`
//! builds it (configuration parsed from TOML, adapters mounted, event loop running).

use std::net::SocketAddr;

use callbridge::config::Config;
use callbridge::serve::{Gateway, platforms};
use callbridge_adapter::{Secret, TokenSet, TokenVault};
use callbridge_sandbox::slack::{RunningSlackSandbox, SlackSandbox, SlackSandboxConfig, SlackSeed};
use callbridge_store::{KeyId, SecretKey};
use tokio::sync::oneshot;

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
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
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
        let app_url = url::Url::parse(&format!("http://{gateway_addr}/")).expect("a URL");
        let slack = SlackSandbox::start(
            SlackSandboxConfig::new(SlackSeed::demo()).with_app_base_url(app_url),
        )
        .await
        .expect("the Slack sandbox starts");
        let store = TestStore::new().await;
        let config = gateway_config(gateway_addr, &slack);
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
        let platforms = platforms(&config, &store.store)
            .await
            .expect("the adapters start");
        let gateway = Gateway::with_listener(listener, &config, store.store.clone())
            .mount(platforms)
            .await
            .expect("the gateway mounts its adapters");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = gateway.run(shutdown).await {
                panic!("the gateway stopped with an error: {error}");
            }
        });
        Self {
            slack,
            gateway_addr,
            store,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Stops the gateway and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
    }
}

fn gateway_config(addr: SocketAddr, slack: &RunningSlackSandbox) -> Config {
    let key = SecretKey::generate_spec(&KeyId::parse("test").expect("a valid key id"))
        .expect("a generated key");
    let authorize = slack
        .base_url()
        .join("oauth/v2/authorize")
        .expect("the authorize URL");
    let text = format!(
        "[server]\nlisten = \"{addr}\"\nshutdown_grace = \"2s\"\n\
         [store]\nurl = \"sqlite::memory:\"\n\
         [secrets]\nkeys = [\"{key}\"]\n\
         [log]\nformat = \"pretty\"\n\
         [slack]\napi_base_url = \"{api}\"\nauthorize_url = \"{authorize}\"\n\
         app_id = \"{app}\"\nclient_id = \"{client}\"\nclient_secret = \"{secret}\"\n\
         signing_secret = \"{signing}\"\n",
        api = slack.api_url(),
        app = demo_slack::APP_ID,
        client = demo_slack::CLIENT_ID,
        secret = demo_slack::CLIENT_SECRET,
        signing = demo_slack::SIGNING_SECRET,
    );
    Config::from_toml(&text, std::iter::empty(), std::path::Path::new("."))
        .expect("the test configuration is valid")
}
