//! Both sandboxes and a gateway wired to them for calls: Slack (signed slash commands, call
//! cards), Microsoft (Entra, Graph, the bot, and the Direct Routing SIP proxies with their
//! virtual Teams phones), and the gateway with `[slack]`, `[teams]`, `[sip]` and `[calls]`, so
//! a call end-to-end test is a few lines.

use std::net::SocketAddr;

use callbridge_sandbox::microsoft::RunningMicrosoftSandbox;
use callbridge_sandbox::slack::RunningSlackSandbox;
use callbridge_store::{Installation, InstallationStore, UserLink, UserLinkStore};

use crate::gateway::ServedGateway;
use crate::process::{GatewayProcess, ProcessLogs};
use crate::store::TestStore;
use crate::teams_world::{demo_teams, start_microsoft, teams_section};
use crate::world::{demo_slack, slack_section, start_slack};

/// The SBC name the gateway's trunk presents to the sandbox's proxies.
pub const SBC_FQDN: &str = "sbc.gateway.test";
/// The first number of the range Teams users dial to reach Slack users.
pub const SLACK_NUMBERS_FROM: &str = "+15550001000";

/// A running gateway with calling enabled, between a Slack sandbox and a Microsoft sandbox.
pub struct CallWorld {
    /// The Slack sandbox: act as Slack users, read call cards and messages.
    pub slack: RunningSlackSandbox,
    /// The Microsoft sandbox: Teams users, their bot chat and their phones.
    pub microsoft: RunningMicrosoftSandbox,
    /// Where the gateway serves.
    pub gateway_addr: SocketAddr,
    /// The gateway's store.
    pub store: TestStore,
    gateway: Gateway,
    _certificates: tempfile::TempDir,
}

/// Where the world's gateway runs.
enum Gateway {
    /// On this process's runtime, as `serve` builds it.
    InProcess(ServedGateway),
    /// As a `callbridge serve` child process.
    Process(GatewayProcess),
}

impl CallWorld {
    /// Starts both sandboxes and a gateway wired to them, with `extra` appended to the
    /// configuration (for example a `[calls]` section with a short ring timeout).
    ///
    /// # Panics
    /// When anything cannot start: the test cannot run.
    pub async fn start_with(extra: &str) -> Self {
        Self::start_linked(extra, &[]).await
    }

    /// [`start_with`](Self::start_with), with `links` (Slack user id, Teams object id) of the
    /// demo workspace and tenant recorded before the gateway starts, in order: the first
    /// linked Slack user has the first number of the Slack range, and so on.
    pub async fn start_linked(extra: &str, links: &[(&str, &str)]) -> Self {
        Self::start_inner(extra, links, None, ProcessLogs::Quiet).await
    }

    /// Like [`start_linked`](Self::start_linked), with the gateway run as the `binary`'s
    /// `serve` command in a child process (`env!("CARGO_BIN_EXE_callbridge")` in the
    /// gateway's tests), so it can be killed and restarted.
    pub async fn start_process(binary: &std::path::Path, links: &[(&str, &str)]) -> Self {
        Self::start_inner("", links, Some(binary), ProcessLogs::Quiet).await
    }

    /// Like [`start_process`](Self::start_process), with `extra` appended to the
    /// configuration and the process logging JSON lines at `debug` for callbridge's crates
    /// into a file [`gateway_log`](Self::gateway_log) reads, so a test can inspect what
    /// production logs would hold.
    pub async fn start_process_logged(
        binary: &std::path::Path,
        extra: &str,
        links: &[(&str, &str)],
    ) -> Self {
        Self::start_inner(extra, links, Some(binary), ProcessLogs::CapturedJson).await
    }

    /// Everything the gateway process has logged so far (complete once it has
    /// [drained](Self::drain)).
    ///
    /// # Panics
    /// When the world was not started with
    /// [`start_process_logged`](Self::start_process_logged), or the file cannot be read.
    pub fn gateway_log(&self) -> String {
        let Gateway::Process(process) = &self.gateway else {
            panic!("only a gateway process has its logs captured");
        };
        let path = process
            .log_file()
            .expect("the world was started with start_process_logged");
        std::fs::read_to_string(path).expect("the gateway's log file is read")
    }

    async fn start_inner(
        extra: &str,
        links: &[(&str, &str)],
        binary: Option<&std::path::Path>,
        logs: ProcessLogs,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the gateway");
        let gateway_addr = listener.local_addr().expect("the bound address");
        let store = TestStore::new().await;
        let slack = start_slack(gateway_addr, &store).await;
        store
            .store
            .upsert_installation(&Installation {
                platform: callbridge_model::Platform::Slack,
                external_id: demo_slack::TEAM.to_owned(),
                tenant: callbridge_model::TenantId::from_uuid(uuid::Uuid::nil()),
                display_name: "Demo".to_owned(),
                installed_at: chrono::Utc::now(),
                revoked_at: None,
            })
            .await
            .expect("the Slack installation is recorded");
        let started = chrono::Utc::now();
        for (order, (slack_user, teams_user)) in (0i64..).zip(links) {
            store
                .store
                .link_users(&UserLink {
                    tenant: callbridge_model::TenantId::from_uuid(uuid::Uuid::nil()),
                    slack_team: demo_slack::TEAM.parse().expect("the demo team id"),
                    slack_user: slack_user.parse().expect("a Slack user id"),
                    teams_tenant: demo_teams::TENANT.parse().expect("the demo tenant id"),
                    teams_user: teams_user.parse().expect("a Teams object id"),
                    created_at: started + chrono::TimeDelta::milliseconds(order),
                })
                .await
                .expect("the link is recorded");
        }
        let microsoft = start_microsoft(gateway_addr, true).await;
        let certificates = tempfile::tempdir().expect("a directory for the SBC certificate");
        let sections = format!(
            "{slack}{teams}slack_numbers_from = \"{SLACK_NUMBERS_FROM}\"\n\
             slack_number_count = 100\n{sip}{extra}",
            slack = slack_section(&slack),
            teams = teams_section(&microsoft),
            sip = sip_section(&microsoft, &certificates),
        );
        let gateway = match binary {
            None => Gateway::InProcess(ServedGateway::start(listener, &sections, &store).await),
            Some(binary) => {
                drop(listener);
                Gateway::Process(
                    GatewayProcess::start(
                        binary,
                        certificates.path(),
                        gateway_addr,
                        &store,
                        &sections,
                        logs,
                    )
                    .await,
                )
            }
        };
        Self {
            slack,
            microsoft,
            gateway_addr,
            store,
            gateway,
            _certificates: certificates,
        }
    }

    /// [`start_with`](Self::start_with) the default configuration.
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// `user` (a Teams UPN) dials `number` from their Teams phone, once the sandbox's proxies
    /// see the gateway's trunk as healthy (OPTIONS both ways, which takes a moment after
    /// start). Returns the SIP Call-ID.
    ///
    /// # Panics
    /// When the proxies never see the trunk healthy, or the dial fails otherwise.
    pub async fn dial(&self, user: &str, number: &str) -> String {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            match self.microsoft.state().dial(user, number).await {
                Ok(call_id) => return call_id,
                Err(error)
                    if error.to_string().contains("healthy")
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(error) => panic!("{user} cannot dial: {error}"),
            }
        }
    }

    /// Drains the gateway as SIGTERM does and waits until it has stopped; the sandboxes stay
    /// up to be inspected.
    pub async fn drain(&mut self) {
        match &mut self.gateway {
            Gateway::InProcess(served) => served.stop().await,
            Gateway::Process(process) => process.terminate(),
        }
    }

    /// Kills the gateway process with SIGKILL: no drain, no cleanup.
    ///
    /// # Panics
    /// When the gateway runs in this process.
    pub fn kill_gateway(&mut self) {
        match &mut self.gateway {
            Gateway::Process(process) => process.kill(),
            Gateway::InProcess(_) => panic!("only a gateway process can be killed"),
        }
    }

    /// Starts the gateway process again on the same database and configuration.
    ///
    /// # Panics
    /// When the gateway runs in this process.
    pub async fn restart_gateway(&mut self) {
        match &mut self.gateway {
            Gateway::Process(process) => process.restart().await,
            Gateway::InProcess(_) => panic!("only a gateway process can be restarted"),
        }
    }

    /// Stops the gateway and waits for it.
    pub async fn stop(mut self) {
        self.drain().await;
    }
}

/// The `[sip]` section: the SBC certificate issued by the sandbox's CA, its three proxies at
/// their loopback addresses.
fn sip_section(microsoft: &RunningMicrosoftSandbox, dir: &tempfile::TempDir) -> String {
    let issued = microsoft
        .issue_certificate(&[SBC_FQDN.to_owned()])
        .expect("the sandbox CA issues the SBC certificate");
    let (cert, key, ca) = (
        dir.path().join("sbc.pem"),
        dir.path().join("sbc.key"),
        dir.path().join("ca.pem"),
    );
    std::fs::write(&cert, &issued.certificate_pem).expect("the certificate is written");
    std::fs::write(&key, &issued.private_key_pem).expect("the key is written");
    std::fs::write(&ca, microsoft.ca_certificate_pem()).expect("the CA is written");
    let addrs = microsoft.sip_addrs();
    let proxies: Vec<String> = addrs
        .iter()
        .map(|a| format!("\"{}:{}\"", a.fqdn, a.tls.port()))
        .collect();
    let resolve: String = addrs
        .iter()
        .map(|a| format!("\"{}\" = \"{}\"\n", a.fqdn, a.tls))
        .collect();
    format!(
        "[sip]\nsbc_fqdn = \"{SBC_FQDN}\"\ncert_file = \"{cert}\"\nkey_file = \"{key}\"\n\
         ca_file = \"{ca}\"\nproxies = [{proxies}]\n[sip.resolve]\n{resolve}",
        cert = cert.display(),
        key = key.display(),
        ca = ca.display(),
        proxies = proxies.join(", "),
    )
}
