//! Configuration: a TOML file plus `CALLBRIDGE__SECTION__KEY` environment overrides, parsed once
//! into a validated [`Config`]. After [`Config::load`] succeeds, no code checks configuration
//! again: durations are typed, URLs parsed, secrets resolved.
//!
//! Every error names the key at fault and why (`config key server.listen: invalid socket
//! address syntax`), and never echoes a secret's value.

mod calls;
mod platforms;
mod raw;
mod redacted;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use callbridge_model::TenantId;
use callbridge_store::{Backend, Keyring, SecretKey, SecretString};
pub use calls::CallSettings;
pub use platforms::SipSettings;
use raw::RawConfig;
pub use redacted::render_redacted;
use url::Url;

/// Prefix of environment variables that override file keys: `CALLBRIDGE__SERVER__LISTEN`
/// overrides `[server] listen`. Values are read as TOML values when they parse as one
/// (`30`, `true`, `["a","b"]`), else as strings.
pub const ENV_PREFIX: &str = "CALLBRIDGE__";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file is not valid TOML: {0}")]
    Syntax(String),
    /// A key holds a value that is not acceptable.
    #[error("config key {key}: {reason}")]
    Invalid {
        /// The dotted key, e.g. `server.listen`.
        key: String,
        /// Why the value is refused.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(key: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (production).
    Json,
    /// Human-readable lines (development, the demo).
    Pretty,
}

/// The validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Address the HTTP edge listens on.
    pub listen: SocketAddr,
    /// The URL users and platforms reach the gateway at (join links, OAuth redirects).
    pub public_url: Url,
    /// Longest time one request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// How long a draining gateway waits for in-flight work before exiting anyway.
    pub shutdown_grace: Duration,
    /// The database URL (`sqlite:…` or `postgres://…`).
    pub store_url: SecretString,
    /// Which database that is.
    pub store_backend: Backend,
    /// Keys sealing secrets at rest.
    pub keyring: Arc<Keyring>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter directive (`info`, `callbridge=debug,info`).
    pub log_level: String,
    /// Bearer token for the admin API; `None` disables it.
    pub admin_token: Option<SecretString>,
    /// The organisation this deployment serves (single-tenant deployments use the default).
    pub tenant: TenantId,
    /// The Slack app, when Slack is enabled.
    pub slack: Option<callbridge_slack::SlackConfig>,
    /// The Entra app and tenant, when Teams is enabled.
    pub teams: Option<callbridge_teams::config::TeamsConfig>,
    /// The Direct Routing trunk, when calls to Teams are enabled.
    pub sip: Option<SipSettings>,
    /// Ringing, call length and media relay settings.
    pub calls: CallSettings,
}

impl Config {
    /// Reads `path`, applies environment overrides from `env`, and validates.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, env, base)
    }

    /// Parses TOML text with environment overrides; relative file paths resolve against `base`.
    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
        base: &Path,
    ) -> Result<Self, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|error: toml::de::Error| ConfigError::Syntax(error.message().to_owned()))?;
        apply_env_overrides(&mut table, env)?;
        let raw: RawConfig =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().message().to_owned();
                ConfigError::invalid(&key_at_fault(&path, &message), message)
            })?;
        validate(raw, base)
    }
}

/// The dotted key a deserialization error is about: its path, and for a missing field the
/// field itself (`store.url`, not `store`).
fn key_at_fault(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field);
    match (path, missing) {
        (".", Some(field)) => field.to_owned(),
        (".", None) => "(top level)".to_owned(),
        (path, Some(field)) => format!("{path}.{field}"),
        (path, None) => path.to_owned(),
    }
}

/// Sets `CALLBRIDGE__A__B=value` as key `a.b` in `table`.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, value) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(str::to_lowercase).collect();
        let dotted = keys.join(".");
        if keys.iter().any(String::is_empty) {
            return Err(ConfigError::invalid(
                &dotted,
                format!("environment variable {name} names an empty key"),
            ));
        }
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value));
        let (last, parents) = keys.split_last().expect("split yields at least one key");
        let mut node = &mut *table;
        for key in parents {
            let entry = node
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = entry
                .as_table_mut()
                .ok_or_else(|| ConfigError::invalid(&dotted, format!("{key} is not a section")))?;
        }
        node.insert(last.clone(), parsed);
    }
    Ok(())
}

fn validate(raw: RawConfig, base: &Path) -> Result<Config, ConfigError> {
    let server = raw.server;
    let public_url = match server.public_url {
        Some(text) => Url::parse(&text)
            .map_err(|e| ConfigError::invalid("server.public_url", e.to_string()))?,
        None => Url::parse(&format!("http://{}/", server.listen))
            .map_err(|e| ConfigError::invalid("server.listen", e.to_string()))?,
    };
    if !matches!(public_url.scheme(), "http" | "https") {
        return Err(ConfigError::invalid(
            "server.public_url",
            "must be an http or https URL",
        ));
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&server.request_timeout) {
        return Err(ConfigError::invalid(
            "server.request_timeout",
            "must be between 1s and 10m",
        ));
    }
    if !(1024..=64 * 1024 * 1024).contains(&server.max_body_bytes) {
        return Err(ConfigError::invalid(
            "server.max_body_bytes",
            "must be between 1024 and 67108864",
        ));
    }
    if server.shutdown_grace > Duration::from_secs(3600) {
        return Err(ConfigError::invalid(
            "server.shutdown_grace",
            "must be at most 1h",
        ));
    }
    let store_backend = Backend::of_url(&raw.store.url)
        .map_err(|_| ConfigError::invalid("store.url", "must start with sqlite: or postgres://"))?;
    let store_url = match store_backend {
        Backend::Sqlite => resolve_sqlite_path(&raw.store.url, base),
        Backend::Postgres => raw.store.url,
    };
    let keyring = resolve_keyring(raw.secrets, base)?;
    let log_format = match raw.log.format.as_deref() {
        None | Some("json") => LogFormat::Json,
        Some("pretty") => LogFormat::Pretty,
        Some(_) => return Err(ConfigError::invalid("log.format", "must be json or pretty")),
    };
    let log_level = raw.log.level.unwrap_or_else(|| "info".to_owned());
    tracing_subscriber::EnvFilter::try_new(&log_level)
        .map_err(|e| ConfigError::invalid("log.level", e.to_string()))?;
    let admin_token = resolve_admin_token(raw.admin, base)?;
    let tenant = match raw.deployment.tenant_id {
        Some(text) => text.parse().map_err(|e: callbridge_model::ParseError| {
            ConfigError::invalid("deployment.tenant_id", e.to_string())
        })?,
        None => TenantId::from_uuid(uuid::Uuid::nil()),
    };
    let slack = raw
        .slack
        .map(|slack| platforms::slack(slack, &public_url, base))
        .transpose()?;
    let teams = raw
        .teams
        .map(|teams| platforms::teams(teams, &public_url, base))
        .transpose()?;
    let sip = raw.sip.map(|sip| platforms::sip(sip, base)).transpose()?;
    if sip.is_some() && teams.is_none() {
        return Err(ConfigError::invalid(
            "sip",
            "the trunk needs a [teams] section",
        ));
    }
    let calls = calls::calls(raw.calls)?;
    Ok(Config {
        calls,
        slack,
        teams,
        sip,
        listen: server.listen,
        public_url,
        request_timeout: server.request_timeout,
        max_body_bytes: usize::try_from(server.max_body_bytes).unwrap_or(usize::MAX),
        shutdown_grace: server.shutdown_grace,
        store_url: SecretString::new(store_url),
        store_backend,
        keyring: Arc::new(keyring),
        log_format,
        log_level,
        admin_token,
        tenant,
    })
}

/// Makes a relative SQLite path relative to the config file, not to wherever the process started.
fn resolve_sqlite_path(url: &str, base: &Path) -> String {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    if rest.starts_with('/') || rest.starts_with(":memory:") {
        return format!("sqlite:{rest}");
    }
    format!("sqlite:{}", base.join(rest).display())
}

fn resolve_keyring(secrets: raw::RawSecrets, base: &Path) -> Result<Keyring, ConfigError> {
    let (specs, key) = match (&secrets.key_file, secrets.keys.is_empty()) {
        (Some(_), false) => {
            return Err(ConfigError::invalid(
                "secrets",
                "set keys or key_file, not both",
            ));
        }
        (Some(file), true) => {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::invalid(
                    "secrets.key_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let specs = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_owned)
                .collect::<Vec<_>>();
            (specs, "secrets.key_file")
        }
        (None, false) => (secrets.keys, "secrets.keys"),
        (None, true) => {
            return Err(ConfigError::invalid(
                "secrets",
                "set keys or key_file: secrets at rest need a key",
            ));
        }
    };
    if specs.is_empty() {
        return Err(ConfigError::invalid(key, "holds no key"));
    }
    let mut keys = specs
        .iter()
        .map(|spec| SecretKey::parse(spec).map_err(|e| ConfigError::invalid(key, e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let active_index = match &secrets.active_key {
        None => 0,
        Some(id) => keys
            .iter()
            .position(|k| k.id().as_str() == id)
            .ok_or_else(|| {
                ConfigError::invalid("secrets.active_key", format!("no key has id {id:?}"))
            })?,
    };
    let active = keys.remove(active_index);
    Ok(Keyring::new(active, keys))
}

fn resolve_admin_token(
    admin: raw::RawAdmin,
    base: &Path,
) -> Result<Option<SecretString>, ConfigError> {
    let token = match (admin.token, admin.token_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::invalid(
                "admin",
                "set token or token_file, not both",
            ));
        }
        (Some(token), None) => Some(token),
        (None, Some(file)) => {
            let path = base.join(file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::invalid(
                    "admin.token_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            Some(text.trim().to_owned())
        }
        (None, None) => None,
    };
    match token {
        Some(token) if token.len() < 16 => Err(ConfigError::invalid(
            "admin.token",
            "must be at least 16 characters",
        )),
        other => Ok(other.map(SecretString::new)),
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Pretty => "pretty",
        })
    }
}
