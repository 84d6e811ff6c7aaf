//! Binding and running the sandbox: one HTTP port for Entra, Graph and the control API.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::sip::tls::{self, IssuedCertificate};
use super::sip::{PROXIES, start_proxy};
use super::state::{MicrosoftState, Tunables, lock};
use super::{MicrosoftSeed, SandboxError, router};
use crate::control::{Faults, SandboxClock};

/// How often time-driven work (fades, expiry warnings) is checked.
const TICK: Duration = Duration::from_millis(250);

/// How to start the sandbox.
#[derive(Clone, Debug)]
pub struct MicrosoftConfig {
    /// Tenants, users and apps.
    pub seed: MicrosoftSeed,
    /// HTTP listen address; port 0 picks a free one.
    pub http_addr: SocketAddr,
    /// Shortened documented delays, for tests.
    pub tunables: Tunables,
    /// Address the SIP proxies (`sip`, `sip2`, `sip3`) bind on; `None` starts none.
    pub sip_ip: Option<IpAddr>,
    /// Names the proxies' TLS certificate covers besides the three pstnhub FQDNs.
    pub extra_tls_names: Vec<String>,
}

impl MicrosoftConfig {
    /// Loopback, free port, documented timings.
    pub fn new(seed: MicrosoftSeed) -> Self {
        Self {
            seed,
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tunables: Tunables::default(),
            sip_ip: Some(IpAddr::from([127, 0, 0, 1])),
            extra_tls_names: Vec::new(),
        }
    }
}

/// The Microsoft sandbox.
#[derive(Debug)]
pub struct MicrosoftSandbox;

/// A started sandbox; dropping it without [`shutdown`](Self::shutdown) leaves it running until
/// the runtime ends.
#[derive(Debug)]
pub struct RunningMicrosoftSandbox {
    state: MicrosoftState,
    http_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Socket loops that only end when aborted.
    sip_tasks: Vec<JoinHandle<()>>,
}

impl MicrosoftSandbox {
    /// Binds the ports and starts serving.
    pub async fn start(config: MicrosoftConfig) -> Result<RunningMicrosoftSandbox, SandboxError> {
        let listener = TcpListener::bind(config.http_addr).await?;
        let http_addr = listener.local_addr()?;
        let state = MicrosoftState::with_tunables(
            config.seed,
            &format!("http://{http_addr}"),
            config.tunables,
        )?;
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut sip_tasks = Vec::new();
        if let Some(ip) = config.sip_ip {
            let mut names: Vec<String> =
                PROXIES.iter().map(|(_, fqdn)| (*fqdn).to_owned()).collect();
            names.extend(config.extra_tls_names.iter().cloned());
            let acceptor = tls::acceptor(&state.inner.ca.issue(&names)?)?;
            for (name, fqdn) in PROXIES {
                let (proxy, addrs, proxy_tasks) =
                    start_proxy(&state, name, fqdn, ip, acceptor.clone()).await?;
                lock(&state.inner.telephony).proxies.push((proxy, addrs));
                sip_tasks.extend(proxy_tasks);
            }
        }
        let app = router(state.clone());
        let mut http_stopped = stopped.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = http_stopped.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(%error, "microsoft sandbox http server ended");
            }
        }));
        let ticker_state = state.clone();
        let mut tick_stopped = stopped;
        tasks.push(tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    _ = interval.tick() => ticker_state.tick(),
                    _ = tick_stopped.wait_for(|stop| *stop) => break,
                }
            }
        }));
        Ok(RunningMicrosoftSandbox {
            state,
            http_addr,
            stop,
            tasks,
            sip_tasks,
        })
    }
}

impl RunningMicrosoftSandbox {
    /// `http://127.0.0.1:<port>`: Entra at `/{tenant}/…`, Graph at `/v1.0/…`, control at
    /// `/_sandbox/…`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The sandbox CA (PEM) that signs the proxies' TLS certificate; trust it in the SBC.
    pub fn ca_certificate_pem(&self) -> String {
        self.state.inner.ca.pem().to_owned()
    }

    /// A certificate for `names` signed by the sandbox CA (e.g. the SBC's own FQDN), with
    /// server and client authentication.
    pub fn issue_certificate(&self, names: &[String]) -> Result<IssuedCertificate, SandboxError> {
        self.state.inner.ca.issue(names)
    }

    /// The shared state, with every accessor for tests.
    pub fn state(&self) -> &MicrosoftState {
        &self.state
    }

    /// The sandbox clock.
    pub fn clock(&self) -> SandboxClock {
        self.state.clock()
    }

    /// The sandbox's fault rules.
    pub fn faults(&self) -> Faults {
        self.state.faults()
    }

    /// Stops every listener and background task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in &self.sip_tasks {
            task.abort();
        }
        for call in self.state.calls() {
            if let Some(media) = call.media {
                media.stop();
            }
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

impl std::ops::Deref for RunningMicrosoftSandbox {
    type Target = MicrosoftState;

    fn deref(&self) -> &MicrosoftState {
        &self.state
    }
}

/// Runs the sandbox on `http_addr` until the process is interrupted (`callbridge sandbox teams`).
pub async fn serve_standalone(
    http_addr: SocketAddr,
    seed: MicrosoftSeed,
) -> Result<(), SandboxError> {
    let mut config = MicrosoftConfig::new(seed);
    config.http_addr = http_addr;
    let running = MicrosoftSandbox::start(config).await?;
    tracing::info!(url = %running.base_url(), "microsoft sandbox listening");
    let _ = tokio::signal::ctrl_c().await;
    running.shutdown().await;
    Ok(())
}
