//! The configuration as written by the operator (TOML, then environment overrides), before
//! validation. Unknown keys are errors: a typo must not silently fall back to a default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) server: RawServer,
    pub(crate) store: RawStore,
    pub(crate) secrets: RawSecrets,
    #[serde(default)]
    pub(crate) log: RawLog,
    #[serde(default)]
    pub(crate) admin: RawAdmin,
    #[serde(default)]
    pub(crate) deployment: RawDeployment,
    #[serde(default)]
    pub(crate) slack: Option<super::platforms::RawSlack>,
    #[serde(default)]
    pub(crate) teams: Option<super::platforms::RawTeams>,
    #[serde(default)]
    pub(crate) sip: Option<super::platforms::RawSip>,
    #[serde(default)]
    pub(crate) calls: super::calls::RawCalls,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    #[serde(default = "default_listen")]
    pub(crate) listen: SocketAddr,
    #[serde(default)]
    pub(crate) public_url: Option<String>,
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub(crate) request_timeout: Duration,
    #[serde(default = "default_max_body_bytes")]
    pub(crate) max_body_bytes: u64,
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub(crate) shutdown_grace: Duration,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            request_timeout: default_request_timeout(),
            max_body_bytes: default_max_body_bytes(),
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(15)
}

fn default_max_body_bytes() -> u64 {
    1024 * 1024
}

fn default_shutdown_grace() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub(crate) url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecrets {
    #[serde(default)]
    pub(crate) keys: Vec<String>,
    #[serde(default)]
    pub(crate) key_file: Option<PathBuf>,
    #[serde(default)]
    pub(crate) active_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    #[serde(default)]
    pub(crate) format: Option<String>,
    #[serde(default)]
    pub(crate) level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    #[serde(default)]
    pub(crate) token: Option<String>,
    #[serde(default)]
    pub(crate) token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDeployment {
    #[serde(default)]
    pub(crate) tenant_id: Option<String>,
}
