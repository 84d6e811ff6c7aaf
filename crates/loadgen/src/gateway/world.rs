//! The whole gateway between both sandboxes, split over two runtimes so that its CPU time can
//! be told apart from theirs: the gateway (HTTP edge, engine, SIP trunk, store, media workers)
//! runs on the `gateway-rt` runtime; the Slack and Microsoft sandboxes, their virtual phones,
//! and the load generator's own tasks run on the caller's. Wiring as the test kit's call world
//! does it, but with the load run's seeds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use callbridge::config::Config;
use callbridge::platforms::StoreVault;
use callbridge::serve::{Gateway, platforms};
use callbridge_adapter::{Secret, TokenSet, TokenVault};
use callbridge_model::{Platform, TenantId};
use callbridge_sandbox::microsoft::{MicrosoftConfig, MicrosoftSandbox, RunningMicrosoftSandbox};
use callbridge_sandbox::slack::{RunningSlackSandbox, SlackSandbox, SlackSandboxConfig};
use callbridge_sip::PROXY_HEALTH_METRIC;
use callbridge_store::{Installation, InstallationStore, KeyId, SecretKey};
use callbridge_testkit::TestStore;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::seeds::{Seeds, Workspace};
use crate::Result;

/// The SBC name the gateway's trunk presents to the sandbox's proxies.
const SBC_FQDN: &str = "sbc.gateway.test";
/// The gateway's media ports: away from the default range other gateways on the machine use.
const MEDIA_PORTS: &str = "30000-39999";
/// How long the gateway may take to start and reach the proxies.
const TRUNK_PATIENCE: Duration = Duration::from_secs(20);

/// What the gateway is started with besides the platforms.
pub(crate) struct GatewayOptions {
    /// Media worker threads.
    pub(crate) media_workers: usize,
}

/// Both sandboxes and a gateway wired to them.
pub(crate) struct World {
    /// The Slack sandbox.
    pub(crate) slack: RunningSlackSandbox,
    /// The Microsoft sandbox with its SIP proxies and virtual phones.
    pub(crate) microsoft: RunningMicrosoftSandbox,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<Result<()>>>,
    _store: TestStore,
    _certificates: tempfile::TempDir,
}

impl World {
    /// Starts the sandboxes with `seeds` on the current runtime and the gateway on `gateway`.
    pub(crate) async fn start(
        seeds: &Seeds,
        gateway: &Handle,
        options: &GatewayOptions,
    ) -> Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let gateway_addr = listener.local_addr()?;
        let store = gateway.spawn(TestStore::new()).await?;
        let app_url = url::Url::parse(&format!("http://{gateway_addr}/"))?;
        let slack = SlackSandbox::start(
            SlackSandboxConfig::new(seeds.slack.clone()).with_app_base_url(app_url),
        )
        .await?;
        let installed = gateway.spawn(install(store.store.clone(), seeds.workspaces.clone()));
        installed.await??;

        let mut microsoft_seed = seeds.microsoft.clone();
        for app in microsoft_seed
            .tenants
            .iter_mut()
            .flat_map(|t| t.apps.iter_mut())
        {
            app.messaging_endpoint = Some(format!("http://{gateway_addr}/teams/messages"));
        }
        let microsoft = MicrosoftSandbox::start(MicrosoftConfig::new(microsoft_seed)).await?;
        let certificates = tempfile::tempdir()?;
        let text = config_text(
            gateway_addr,
            seeds,
            &slack,
            &microsoft,
            &certificates,
            options,
        )?;
        let config = Config::from_toml(&text, std::iter::empty(), std::path::Path::new("."))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let sql = store.store.clone();
        let served = gateway.spawn(async move {
            // The trunk reports its first OPTIONS as soon as it starts, before the HTTP edge
            // would install the metrics recorder: install it first, or that report is lost and
            // the trunk looks unhealthy until the next OPTIONS, a minute later.
            let _ = callbridge::http::metrics::recorder();
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let mounted = platforms(&config, &sql).await?;
            let gateway = Gateway::with_listener(listener, &config, sql)
                .mount(mounted)
                .await?;
            gateway
                .run(async {
                    let _ = stopped.await;
                })
                .await?;
            Ok(())
        });
        let mut served = served;
        trunk_up(gateway_addr, &mut served).await?;
        Ok(Self {
            slack,
            microsoft,
            stop: Some(stop),
            served: Some(served),
            _store: store,
            _certificates: certificates,
        })
    }

    /// Stops the gateway and waits for it; the sandboxes stop with the runtime.
    pub(crate) async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.served.take() {
            Some(served) => served.await?,
            None => Ok(()),
        }
    }
}

/// Waits until the gateway's trunk reports a healthy proxy on `/metrics` (its OPTIONS answered
/// with 200, so the proxy knows the SBC and takes INVITEs from it).
/// Fails at once, with the gateway's own error, when the gateway stops meanwhile.
async fn trunk_up(gateway: SocketAddr, served: &mut JoinHandle<Result<()>>) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("http://{gateway}/metrics");
    let deadline = Instant::now() + TRUNK_PATIENCE;
    while Instant::now() < deadline {
        if served.is_finished() {
            served.await??;
            return Err("the gateway stopped before its trunk came up".into());
        }
        if let Ok(response) = http.get(&url).send().await
            && let Ok(text) = response.text().await
            && text
                .lines()
                .any(|l| l.starts_with(PROXY_HEALTH_METRIC) && l.ends_with(" 1"))
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "the gateway's trunk reported no healthy proxy within {} s",
        TRUNK_PATIENCE.as_secs()
    )
    .into())
}

/// Records each load workspace as installed, with its bot token in the gateway's vault, as
/// the OAuth flow would have left them.
async fn install(store: callbridge_store::SqlStore, workspaces: Vec<Workspace>) -> Result<()> {
    let vault = StoreVault::new(store.clone());
    for ws in workspaces {
        store
            .upsert_installation(&Installation {
                platform: Platform::Slack,
                external_id: ws.id.clone(),
                tenant: TenantId::from_uuid(uuid::Uuid::nil()),
                display_name: ws.id.clone(),
                installed_at: chrono::Utc::now(),
                revoked_at: None,
            })
            .await?;
        vault
            .store(
                &callbridge_slack::bot_key(&ws.id),
                &TokenSet {
                    access_token: Secret::new(ws.bot_token),
                    refresh_token: None,
                    expires_at: None,
                    scopes: Vec::new(),
                },
            )
            .await?;
    }
    Ok(())
}

/// The gateway's configuration: listening on `addr`, a fresh key, `[slack]` and `[teams]`
/// pointed at the sandboxes with the seeds' app registrations, `[sip]` at the proxies with a
/// certificate from the sandbox's CA (written to `dir`), `[calls]` with the run's media
/// settings.
fn config_text(
    addr: SocketAddr,
    seeds: &Seeds,
    slack: &RunningSlackSandbox,
    microsoft: &RunningMicrosoftSandbox,
    dir: &tempfile::TempDir,
    options: &GatewayOptions,
) -> Result<String> {
    let key = SecretKey::generate_spec(&KeyId::parse("load")?)?;
    let app = &seeds.slack.app;
    let authorize = slack.base_url().join("oauth/v2/authorize")?;
    let ms = microsoft.base_url();
    let tenant = seeds
        .microsoft
        .tenants
        .first()
        .ok_or("the Microsoft seed has no tenant")?;
    let registration = tenant
        .apps
        .first()
        .ok_or("the Microsoft seed registers no app")?;
    Ok(format!(
        "[server]\nlisten = \"{addr}\"\nshutdown_grace = \"2s\"\n\
         [store]\nurl = \"sqlite::memory:\"\n\
         [secrets]\nkeys = [\"{key}\"]\n\
         [log]\nformat = \"pretty\"\n\
         [slack]\napi_base_url = \"{api}\"\nauthorize_url = \"{authorize}\"\n\
         app_id = \"{app_id}\"\nclient_id = \"{client}\"\nclient_secret = \"{secret}\"\n\
         signing_secret = \"{signing}\"\n\
         [teams]\ntenant_id = \"{tenant_id}\"\nclient_id = \"{ms_client}\"\n\
         client_secret = \"{ms_secret}\"\n\
         login_base_url = \"{ms}\"\ngraph_base_url = \"{ms}/v1.0\"\n\
         bot_openid_metadata_url = \"{ms}/v1/.well-known/openidconfiguration\"\n\
         slack_numbers_from = \"+15550001000\"\nslack_number_count = 100\n\
         {sip}\
         [calls]\nmedia_ports = \"{MEDIA_PORTS}\"\nmedia_workers = {workers}\n",
        api = slack.api_url(),
        app_id = app.app_id,
        client = app.client_id,
        secret = app.client_secret,
        signing = app.signing_secret,
        tenant_id = tenant.id,
        ms_client = registration.client_id,
        ms_secret = registration.client_secret,
        sip = sip_section(microsoft, dir)?,
        workers = options.media_workers,
    ))
}

/// The `[sip]` section: the SBC certificate issued by the sandbox's CA, its three proxies at
/// their loopback addresses.
fn sip_section(microsoft: &RunningMicrosoftSandbox, dir: &tempfile::TempDir) -> Result<String> {
    let issued = microsoft.issue_certificate(&[SBC_FQDN.to_owned()])?;
    let (cert, key, ca) = (
        dir.path().join("sbc.pem"),
        dir.path().join("sbc.key"),
        dir.path().join("ca.pem"),
    );
    std::fs::write(&cert, &issued.certificate_pem)?;
    std::fs::write(&key, &issued.private_key_pem)?;
    std::fs::write(&ca, microsoft.ca_certificate_pem())?;
    let addrs = microsoft.state().sip_addrs();
    let proxies: Vec<String> = addrs
        .iter()
        .map(|a| format!("\"{}:{}\"", a.fqdn, a.tls.port()))
        .collect();
    let resolve: String = addrs
        .iter()
        .map(|a| format!("\"{}\" = \"{}\"\n", a.fqdn, a.tls))
        .collect();
    Ok(format!(
        "[sip]\nsbc_fqdn = \"{SBC_FQDN}\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n\
         ca_file = \"{ca}\"\nproxies = [{proxies}]\n[sip.resolve]\n{resolve}",
        cert = cert.display(),
        key = key.display(),
        ca = ca.display(),
        proxies = proxies.join(", "),
    ))
}
