//! `callbridge demo`: the whole product on one machine with no account anywhere. The gateway
//! runs on a generated configuration with the embedded store, between in-process stand-ins
//! for Slack and Microsoft (the sandboxes, with their Direct Routing SIP proxies and virtual
//! Teams phones), wired together as an operator would wire the real services; a start page
//! at `/demo/` links to the stand-ins' web clients, where a person can be a Slack user and a
//! Teams user at once.
//!
//! This module and the binary's `main.rs` are the only product code that may use the
//! sandboxes (`scripts/check-deps.sh`).

mod files;
mod stand_ins;
mod start_page;
mod wiring;

use std::path::PathBuf;

use callbridge_store::SqlStore;

pub use files::{CONFIG_FILE, Prepared, prepare};

use self::stand_ins::StandIns;
use self::start_page::Places;
use crate::GatewayError;
use crate::config::Config;
use crate::serve::{Gateway, open_store, platforms};

/// The demo, started: serve it with [`Demo::run`].
pub struct Demo {
    gateway: Gateway,
    stand_ins: StandIns,
    places: Places,
    admin_token: Option<String>,
}

impl Demo {
    /// Binds the gateway, starts the stand-ins pointed at it, connects the gateway to them
    /// (installation, tokens, links by address) and mounts everything.
    pub async fn start(prepared: Prepared) -> Result<Self, GatewayError> {
        let listener = files::bind(prepared.config.listen).await?;
        let addr = listener
            .local_addr()
            .map_err(|e| GatewayError::Io("reading the bound address", e))?;
        let stand_ins = StandIns::start(addr).await?;
        let config = full_config(&prepared, addr, &stand_ins)?;
        let store = open_store(&config).await?;
        wiring::connect(&store, config.tenant, &stand_ins).await?;
        wiring::hand_phones_to_people(stand_ins.microsoft.state())?;
        let places = Places {
            gateway: format!("http://{addr}"),
            slack_client: format!("{}client/", stand_ins.slack.base_url()),
            teams_client: format!("{}/client/", stand_ins.microsoft.base_url()),
            config_file: prepared.path.display().to_string(),
        };
        let gateway = mount(listener, &config, store).await?;
        Ok(Self {
            gateway: gateway.with_routes(start_page::routes(&places)),
            stand_ins,
            places,
            admin_token: config.admin_token.map(|t| t.expose().to_owned()),
        })
    }

    /// The start page's URL.
    pub fn start_url(&self) -> String {
        self.places.start_url()
    }

    /// The Slack stand-in's web client (`…/client/`, then a user id).
    pub fn slack_client_url(&self) -> &str {
        &self.places.slack_client
    }

    /// The Teams stand-in's web client (`…/client/`, then a user id or UPN).
    pub fn teams_client_url(&self) -> &str {
        &self.places.teams_client
    }

    /// The Slack stand-in, to look at what its people see (tests).
    pub fn slack(&self) -> &callbridge_sandbox::slack::SlackState {
        self.stand_ins.slack.state()
    }

    /// The Microsoft stand-in, to look at what its people see and hear (tests).
    pub fn microsoft(&self) -> &callbridge_sandbox::microsoft::MicrosoftState {
        self.stand_ins.microsoft.state()
    }

    /// What to print for the person who started the demo.
    pub fn walkthrough(&self) -> String {
        self.places.walkthrough()
    }

    /// Serves until `shutdown`, then drains the gateway and stops the stand-ins. Once the
    /// gateway answers, the presence subscriber signs in and every Teams person gets the bot,
    /// as an operator would arrange.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let Self {
            gateway,
            stand_ins,
            admin_token,
            ..
        } = self;
        let addr = gateway.local_addr()?;
        let microsoft = stand_ins.microsoft.state().clone();
        tokio::spawn(async move {
            if let Some(token) = admin_token
                && let Err(reason) = wiring::sign_in_subscriber(addr, &token).await
            {
                tracing::warn!(%reason, "the demo's presence subscriber could not sign in");
            }
            wiring::install_bot_for_everyone(&microsoft).await;
        });
        let served = gateway.run(shutdown).await;
        stand_ins.shutdown().await;
        served
    }
}

/// The demo's own configuration with the stand-ins' sections added, listening where it was
/// bound (which may not be the port asked for, when that one is taken).
fn full_config(
    prepared: &Prepared,
    addr: std::net::SocketAddr,
    stand_ins: &StandIns,
) -> Result<Config, GatewayError> {
    let sbc_dir: PathBuf = prepared.data_dir.join("sbc");
    let mut table: toml::Table = prepared.text.parse().map_err(|e: toml::de::Error| {
        GatewayError::Startup(format!("the demo configuration: {e}"))
    })?;
    let sections: toml::Table =
        stand_ins
            .sections(&sbc_dir)?
            .parse()
            .map_err(|e: toml::de::Error| {
                GatewayError::Startup(format!("the stand-ins' sections: {e}"))
            })?;
    table.extend(sections);
    if let Some(toml::Value::Table(server)) = table.get_mut("server") {
        server.insert("listen".into(), addr.to_string().into());
        server.insert("public_url".into(), format!("http://{addr}/").into());
    }
    Ok(Config::from_toml(
        &table.to_string(),
        files::env_overrides(),
        &prepared.data_dir,
    )?)
}

async fn mount(
    listener: tokio::net::TcpListener,
    config: &Config,
    store: SqlStore,
) -> Result<Gateway, GatewayError> {
    let platforms = platforms(config, &store).await?;
    Gateway::with_listener(listener, config, store)
        .mount(platforms)
        .await
}
