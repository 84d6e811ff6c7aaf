//! A gateway on a real socket wired to an in-process Microsoft sandbox (Entra, Graph and the
//! Bot Connector), so a Teams end-to-end test is a few lines: the sandbox plays the Teams users
//! and signs their activities, the gateway is the product as `serve` builds it (configuration
//! parsed from TOML, the Teams adapter mounted, its presence loop and event loop running).

use std::net::SocketAddr;

use callbridge_sandbox::microsoft::{
    MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed, RunningMicrosoftSandbox,
};

use crate::gateway::ServedGateway;
use crate::store::TestStore;

/// The demo seed's tenant and app, as `MicrosoftSeed::demo()` registers them.
pub mod demo_teams {
    /// The Entra tenant.
    pub const TENANT: &str = "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b";
    /// The app registration (also the bot's app id).
    pub const CLIENT_ID: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";
    /// The app registration's client secret.
    pub const CLIENT_SECRET: &str = "sandbox-secret-change-me";
    /// Alice, a Teams user.
    pub const ALICE: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
    /// Bob, a Teams user.
    pub const BOB: &str = "4a3b2c1d-6e5f-4a70-9b8c-1d0e2f3a4b5c";
}

/// A running gateway with Teams enabled, pointed at a running Microsoft sandbox whose bot
/// messaging endpoint is the gateway's `/teams/messages`.
pub struct TeamsWorld {
    /// The Microsoft sandbox: act as Teams users through it and read what Teams shows.
    pub microsoft: RunningMicrosoftSandbox,
    /// Where the gateway serves.
    pub gateway_addr: SocketAddr,
    /// The gateway's store.
    pub store: TestStore,
    gateway: ServedGateway,
}

impl TeamsWorld {
    /// Starts the sandbox (demo seed, no SIP proxies) and a gateway whose `[teams]` section
    /// points at it.
    ///
    /// # Panics
    /// When anything cannot start: the test cannot run.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the gateway");
        let gateway_addr = listener.local_addr().expect("the bound address");
        // Calls are not what these tests are about: no SIP proxies to bind.
        let microsoft = start_microsoft(gateway_addr, false).await;
        let store = TestStore::new().await;
        let gateway = ServedGateway::start(listener, &teams_section(&microsoft), &store).await;
        Self {
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

/// Starts the Microsoft sandbox (demo seed) with the bot's messaging endpoint at the gateway,
/// with or without its Direct Routing proxies.
pub(crate) async fn start_microsoft(
    gateway_addr: SocketAddr,
    with_sip: bool,
) -> RunningMicrosoftSandbox {
    let mut seed = MicrosoftSeed::demo();
    let app = seed
        .tenants
        .iter_mut()
        .flat_map(|tenant| tenant.apps.iter_mut())
        .find(|app| app.client_id == demo_teams::CLIENT_ID)
        .expect("the demo seed registers the app");
    app.messaging_endpoint = Some(format!("http://{gateway_addr}/teams/messages"));
    app.redirect_uris
        .push(format!("http://{gateway_addr}/teams/oauth/callback"));
    let mut sandbox_config = MicrosoftConfig::new(seed);
    if !with_sip {
        sandbox_config.sip_ip = None;
    }
    MicrosoftSandbox::start(sandbox_config)
        .await
        .expect("the Microsoft sandbox starts")
}

/// The `[teams]` section pointing the gateway at the sandbox's Entra, Graph and Bot Connector.
pub(crate) fn teams_section(microsoft: &RunningMicrosoftSandbox) -> String {
    let base = microsoft.base_url();
    format!(
        "[teams]\ntenant_id = \"{tenant}\"\nclient_id = \"{client}\"\n\
         client_secret = \"{secret}\"\n\
         login_base_url = \"{base}\"\ngraph_base_url = \"{base}/v1.0\"\n\
         bot_openid_metadata_url = \"{base}/v1/.well-known/openidconfiguration\"\n",
        tenant = demo_teams::TENANT,
        client = demo_teams::CLIENT_ID,
        secret = demo_teams::CLIENT_SECRET,
    )
}
