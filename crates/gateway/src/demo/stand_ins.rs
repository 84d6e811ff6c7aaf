//! The demo's stand-ins for Slack and Microsoft: both sandboxes on loopback, seeded with the
//! demo people, pointed at the gateway, and the configuration sections that point the gateway
//! back at them (the same keys an operator writes for the real services).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use callbridge_sandbox::microsoft::{
    MicrosoftConfig, MicrosoftSandbox, MicrosoftSeed, RunningMicrosoftSandbox,
};
use callbridge_sandbox::slack::{
    RunningSlackSandbox, SeedUser, SeedUserToken, SlackSandbox, SlackSandboxConfig, SlackSeed,
};

use crate::GatewayError;

/// The SBC name the gateway's trunk presents to the stand-in SIP proxies.
const SBC_FQDN: &str = "sbc.demo.callbridge.test";
/// The first number of the range Teams users dial to reach Slack users.
const SLACK_NUMBERS_FROM: &str = "+15550001000";
/// The account whose delegated sign-in owns the presence subscriptions.
pub(super) const SUBSCRIBER: &str = "presence";
/// The Teams user who signs in as that account (Carol Clark in the demo tenant).
pub(super) const SUBSCRIBER_USER: &str = "carol@contoso.test";
/// The Slack workspace of the demo seed.
pub(super) const SLACK_TEAM: &str = "T0DEMOTEAM";

/// Both sandboxes, running.
pub(super) struct StandIns {
    pub(super) slack: RunningSlackSandbox,
    pub(super) microsoft: RunningMicrosoftSandbox,
    /// The Slack people as seeded (the demo links them to Teams people by address).
    pub(super) slack_people: Vec<SeedUser>,
    /// The user tokens the Slack people granted, as seeded.
    pub(super) slack_user_tokens: Vec<SeedUserToken>,
}

impl StandIns {
    /// Starts both sandboxes, each told where the gateway at `gateway` listens.
    pub(super) async fn start(gateway: SocketAddr) -> Result<Self, GatewayError> {
        let app_url = url::Url::parse(&format!("http://{gateway}/"))
            .map_err(|e| GatewayError::Startup(format!("the gateway's URL: {e}")))?;
        let seed = slack_seed();
        let workspace = seed.workspaces.first();
        let slack_people = workspace.map(|w| w.users.clone()).unwrap_or_default();
        let slack_user_tokens = workspace
            .and_then(|w| w.install.as_ref())
            .map(|install| install.user_tokens.clone())
            .unwrap_or_default();
        let slack = SlackSandbox::start(SlackSandboxConfig::new(seed).with_app_base_url(app_url))
            .await
            .map_err(|e| GatewayError::Startup(format!("the Slack stand-in: {e}")))?;
        let microsoft = MicrosoftSandbox::start(MicrosoftConfig::new(microsoft_seed(gateway)))
            .await
            .map_err(|e| GatewayError::Startup(format!("the Microsoft stand-in: {e}")))?;
        Ok(Self {
            slack,
            microsoft,
            slack_people,
            slack_user_tokens,
        })
    }

    /// The `[slack]`, `[teams]` and `[sip]` sections pointing at the stand-ins, with the SBC
    /// certificate (issued by the Microsoft stand-in's CA) written into `dir`.
    pub(super) fn sections(&self, dir: &Path) -> Result<String, GatewayError> {
        let mut out = self.slack_section();
        out.push_str(&self.teams_section());
        out.push_str(&self.sip_section(dir)?);
        Ok(out)
    }

    fn slack_section(&self) -> String {
        let app = SlackSeed::demo().app;
        format!(
            "[slack]\napi_base_url = \"{api}\"\nauthorize_url = \"{base}oauth/v2/authorize\"\n\
             app_id = \"{app_id}\"\nclient_id = \"{client}\"\nclient_secret = \"{secret}\"\n\
             signing_secret = \"{signing}\"\n",
            api = self.slack.api_url(),
            base = self.slack.base_url(),
            app_id = app.app_id,
            client = app.client_id,
            secret = app.client_secret,
            signing = app.signing_secret,
        )
    }

    fn teams_section(&self) -> String {
        let base = self.microsoft.base_url();
        let (tenant, app) = demo_app();
        format!(
            "[teams]\ntenant_id = \"{tenant}\"\nclient_id = \"{client}\"\n\
             client_secret = \"{secret}\"\n\
             login_base_url = \"{base}\"\ngraph_base_url = \"{base}/v1.0\"\n\
             bot_openid_metadata_url = \"{base}/v1/.well-known/openidconfiguration\"\n\
             subscribers = [\"{SUBSCRIBER}\"]\n\
             slack_numbers_from = \"{SLACK_NUMBERS_FROM}\"\nslack_number_count = 100\n",
            client = app.0,
            secret = app.1,
        )
    }

    fn sip_section(&self, dir: &Path) -> Result<String, GatewayError> {
        let issued = self
            .microsoft
            .issue_certificate(&[SBC_FQDN.to_owned()])
            .map_err(|e| GatewayError::Startup(format!("the SBC certificate: {e}")))?;
        let (cert, key, ca) = (dir.join("sbc.pem"), dir.join("sbc.key"), dir.join("ca.pem"));
        let write = |path: &Path, text: &str| {
            std::fs::write(path, text).map_err(|e| GatewayError::Io("writing the SBC files", e))
        };
        std::fs::create_dir_all(dir).map_err(|e| GatewayError::Io("creating the SBC folder", e))?;
        write(&cert, &issued.certificate_pem)?;
        write(&key, &issued.private_key_pem)?;
        write(&ca, &self.microsoft.ca_certificate_pem())?;
        let addrs = self.microsoft.sip_addrs();
        let proxies: Vec<String> = addrs
            .iter()
            .map(|a| format!("\"{}:{}\"", a.fqdn, a.tls.port()))
            .collect();
        let mut out = format!(
            "[sip]\nsbc_fqdn = \"{SBC_FQDN}\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n\
             ca_file = \"{ca}\"\nproxies = [{proxies}]\n[sip.resolve]\n",
            cert = cert.display(),
            key = key.display(),
            ca = ca.display(),
            proxies = proxies.join(", "),
        );
        for addr in &addrs {
            let _ = writeln!(out, "\"{}\" = \"{}\"", addr.fqdn, addr.tls);
        }
        Ok(out)
    }

    /// Stops both sandboxes.
    pub(super) async fn shutdown(self) {
        self.slack.shutdown().await;
        self.microsoft.shutdown().await;
    }
}

/// The demo Slack workspace (bob, carol, dan), plus a Slack account for Alice, who uses both
/// platforms: her address matches her Teams account, so the demo links the two and mirrors
/// her presence both ways.
fn slack_seed() -> SlackSeed {
    let mut seed = SlackSeed::demo();
    if let Some(workspace) = seed.workspaces.first_mut() {
        let template = workspace.users.first().cloned();
        if let Some(mut alice) = template {
            "U0DEMOALI4".clone_into(&mut alice.id);
            "alice".clone_into(&mut alice.name);
            "Alice Adams".clone_into(&mut alice.real_name);
            "alice@contoso.test".clone_into(&mut alice.email);
            if let Some(install) = workspace.install.as_mut()
                && let Some(granted) = install.user_tokens.first().cloned()
            {
                install.user_tokens.push(SeedUserToken {
                    user: alice.id.clone(),
                    token: "xoxp-demo-alice".to_owned(),
                    scopes: granted.scopes,
                });
            }
            workspace.users.push(alice);
        }
    }
    seed
}

/// The demo tenant, with the app's bot endpoint and sign-in redirect at the gateway.
fn microsoft_seed(gateway: SocketAddr) -> MicrosoftSeed {
    let mut seed = MicrosoftSeed::demo();
    let (_, (client_id, _)) = demo_app();
    for app in seed
        .tenants
        .iter_mut()
        .flat_map(|tenant| tenant.apps.iter_mut())
        .filter(|app| app.client_id == client_id)
    {
        app.messaging_endpoint = Some(format!("http://{gateway}/teams/messages"));
        app.redirect_uris
            .push(format!("http://{gateway}/teams/oauth/callback"));
    }
    seed
}

/// The demo tenant's id, and the callbridge app's client id and secret, as seeded.
fn demo_app() -> (String, (String, String)) {
    let seed = MicrosoftSeed::demo();
    seed.tenants
        .into_iter()
        .find_map(|tenant| {
            let app = tenant.apps.into_iter().next()?;
            Some((tenant.id, (app.client_id, app.client_secret)))
        })
        .unwrap_or_default()
}
