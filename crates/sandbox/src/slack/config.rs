//! How a Slack sandbox is started.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::seed::SlackSeed;

/// Slack waits this long for the app's answer to a command, interaction or event (§0.5).
pub const APP_ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// Options for [`super::SlackSandbox::start`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SlackSandboxConfig {
    /// Workspaces, users and the app.
    pub seed: SlackSeed,
    /// Base URL of the app under test; the seed's command, interactivity and events paths are
    /// joined to it. `None` until set through the control API.
    pub app_base_url: Option<Url>,
    /// Where to listen; `None` means `127.0.0.1:0`.
    pub bind: Option<SocketAddr>,
    /// How long the app has to answer; Slack's is [`APP_ANSWER_TIMEOUT`]. Tests may shorten it.
    pub app_timeout: Duration,
}

impl SlackSandboxConfig {
    /// A config for `seed`, listening on an ephemeral loopback port, with no app URL yet.
    pub fn new(seed: SlackSeed) -> Self {
        Self {
            seed,
            app_base_url: None,
            bind: None,
            app_timeout: APP_ANSWER_TIMEOUT,
        }
    }

    /// Points Slack's requests at the app under test.
    #[must_use]
    pub fn with_app_base_url(mut self, url: Url) -> Self {
        self.app_base_url = Some(url);
        self
    }

    /// Listens on `addr` instead of an ephemeral port.
    #[must_use]
    pub fn with_bind(mut self, addr: SocketAddr) -> Self {
        self.bind = Some(addr);
        self
    }

    /// Changes how long the app has to answer.
    #[must_use]
    pub fn with_app_timeout(mut self, timeout: Duration) -> Self {
        self.app_timeout = timeout;
        self
    }
}

impl Default for SlackSandboxConfig {
    fn default() -> Self {
        Self::new(SlackSeed::demo())
    }
}
