//! The platform sections: `[slack]` (the Slack app), `[teams]` (the Entra app and tenant) and
//! `[sip]` (the Direct Routing trunk). Secrets may be inline or in files (so they can live in a
//! mounted secret store); each section is validated by its adapter's own rules at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use callbridge_adapter::Secret;
use callbridge_model::{ParseError, PhoneNumber, TeamsTenantId};
use callbridge_slack::{SlackConfig, SlackSettings};
use callbridge_teams::config::{NumberRange, SubscriberAccount, TeamsConfig};
use serde::Deserialize;
use url::Url;

use super::ConfigError;

/// `[slack]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlack {
    #[serde(default)]
    api_base_url: Option<String>,
    #[serde(default)]
    authorize_url: Option<String>,
    app_id: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    #[serde(default)]
    signing_secret: Option<String>,
    #[serde(default)]
    signing_secret_file: Option<PathBuf>,
    #[serde(default)]
    previous_signing_secret: Option<String>,
    #[serde(default)]
    redirect_uri: Option<String>,
}

/// Validates `[slack]`; the gateway's public URL is where Slack reaches it.
pub(crate) fn slack(
    raw: RawSlack,
    public_url: &Url,
    base: &Path,
) -> Result<SlackConfig, ConfigError> {
    let settings = SlackSettings {
        api_base_url: raw.api_base_url,
        authorize_url: raw.authorize_url,
        client_id: raw.client_id,
        client_secret: inline_or_file(
            "slack.client_secret",
            raw.client_secret,
            raw.client_secret_file,
            base,
        )?,
        signing_secret: inline_or_file(
            "slack.signing_secret",
            raw.signing_secret,
            raw.signing_secret_file,
            base,
        )?,
        previous_signing_secret: raw.previous_signing_secret,
        redirect_uri: raw.redirect_uri,
        public_url: public_url.to_string(),
        bot_scopes: None,
        user_scopes: None,
        app_id: raw.app_id,
    };
    // The adapter's message already names the key (`slack.client_id: must not be empty`).
    SlackConfig::parse(settings).map_err(|error| ConfigError::invalid("slack", error.to_string()))
}

/// A secret given inline (`key`) or in a file (`key_file`), exactly one of them.
pub(crate) fn inline_or_file(
    key: &str,
    inline: Option<String>,
    file: Option<PathBuf>,
    base: &Path,
) -> Result<String, ConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            key,
            format!("set {key} or {key}_file, not both"),
        )),
        (Some(value), None) => Ok(value),
        (None, Some(file)) => {
            let path = base.join(file);
            std::fs::read_to_string(&path)
                .map(|text| text.trim().to_owned())
                .map_err(|e| {
                    ConfigError::invalid(
                        &format!("{key}_file"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })
        }
        (None, None) => Err(ConfigError::invalid(
            key,
            format!("set {key} or {key}_file"),
        )),
    }
}

/// `[teams]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTeams {
    tenant_id: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    #[serde(default)]
    login_base_url: Option<String>,
    #[serde(default)]
    graph_base_url: Option<String>,
    /// Where the Bot Framework publishes the keys that sign inbound activities.
    #[serde(default)]
    bot_openid_metadata_url: Option<String>,
    #[serde(default)]
    subscribers: Vec<String>,
    #[serde(default)]
    slack_numbers_from: Option<String>,
    #[serde(default)]
    slack_number_count: Option<u64>,
}

/// Validates `[teams]`; its public mount is `<public_url>/teams`.
pub(crate) fn teams(
    raw: RawTeams,
    public_url: &Url,
    base: &Path,
) -> Result<TeamsConfig, ConfigError> {
    let tenant: TeamsTenantId = raw
        .tenant_id
        .parse()
        .map_err(|e: ParseError| ConfigError::invalid("teams.tenant_id", e.to_string()))?;
    let secret = inline_or_file(
        "teams.client_secret",
        raw.client_secret,
        raw.client_secret_file,
        base,
    )?;
    let mount = public_url
        .join("teams")
        .map_err(|e| ConfigError::invalid("server.public_url", e.to_string()))?;
    let mut config = TeamsConfig::new(tenant, raw.client_id, Secret::new(secret), mount)
        .map_err(|e| ConfigError::invalid("teams", e.to_string()))?;
    if let Some(url) = raw.login_base_url {
        config.login_base = Url::parse(&url)
            .map_err(|e| ConfigError::invalid("teams.login_base_url", e.to_string()))?;
    }
    if let Some(url) = raw.graph_base_url {
        config.graph_base = Url::parse(&url)
            .map_err(|e| ConfigError::invalid("teams.graph_base_url", e.to_string()))?;
    }
    if let Some(url) = raw.bot_openid_metadata_url {
        config.bot_openid_metadata = Url::parse(&url)
            .map_err(|e| ConfigError::invalid("teams.bot_openid_metadata_url", e.to_string()))?;
    }
    config.subscribers = raw
        .subscribers
        .into_iter()
        .map(|name| SubscriberAccount {
            name,
            login_hint: None,
        })
        .collect();
    config.slack_numbers = match (raw.slack_numbers_from, raw.slack_number_count) {
        (Some(first), Some(count)) => {
            let first: PhoneNumber = first.parse().map_err(|e: ParseError| {
                ConfigError::invalid("teams.slack_numbers_from", e.to_string())
            })?;
            Some(
                NumberRange::new(&first, count)
                    .map_err(|e| ConfigError::invalid("teams.slack_number_count", e.to_string()))?,
            )
        }
        (None, None) => None,
        _ => {
            return Err(ConfigError::invalid(
                "teams.slack_numbers_from",
                "set slack_numbers_from and slack_number_count together",
            ));
        }
    };
    Ok(config)
}

/// `[sip]` as written: the Direct Routing trunk.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSip {
    sbc_fqdn: String,
    #[serde(default)]
    tls_listen: Option<SocketAddr>,
    cert_file: PathBuf,
    key_file: PathBuf,
    ca_file: PathBuf,
    /// `fqdn:port` of each Teams SIP proxy, in the order they are tried.
    proxies: Vec<String>,
    /// Fixed addresses for proxy names, instead of DNS (labs, the demo, tests).
    #[serde(default)]
    resolve: std::collections::BTreeMap<String, SocketAddr>,
}

/// The trunk's settings, with proxy names resolved when the trunk starts.
#[derive(Clone, Debug)]
pub struct SipSettings {
    /// The SBC's FQDN.
    pub sbc_fqdn: String,
    /// Where Microsoft's TLS connections arrive.
    pub tls_listen: Option<SocketAddr>,
    /// The SBC certificate chain (PEM), re-read when it changes.
    pub cert_file: PathBuf,
    /// The SBC private key (PEM).
    pub key_file: PathBuf,
    /// Trust anchors for the proxies' certificates.
    pub ca_file: PathBuf,
    /// The proxies as `(fqdn, port)`, in order.
    pub proxies: Vec<(String, u16)>,
    /// Fixed addresses for proxy names, used instead of DNS.
    pub resolve: std::collections::BTreeMap<String, SocketAddr>,
}

/// Validates `[sip]`.
pub(crate) fn sip(raw: RawSip, base: &Path) -> Result<SipSettings, ConfigError> {
    if raw.sbc_fqdn.parse::<std::net::IpAddr>().is_ok() || !raw.sbc_fqdn.contains('.') {
        return Err(ConfigError::invalid(
            "sip.sbc_fqdn",
            "must be a fully qualified domain name, never an IP address",
        ));
    }
    if raw.proxies.is_empty() {
        return Err(ConfigError::invalid(
            "sip.proxies",
            "must name at least one proxy",
        ));
    }
    let proxies = raw
        .proxies
        .iter()
        .map(|entry| {
            let (host, port) = entry
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host.to_owned(), port.parse::<u16>().ok()?)))
                .ok_or_else(|| {
                    ConfigError::invalid("sip.proxies", format!("{entry:?} is not fqdn:port"))
                })?;
            Ok((host, port))
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    Ok(SipSettings {
        sbc_fqdn: raw.sbc_fqdn,
        tls_listen: raw.tls_listen,
        cert_file: base.join(raw.cert_file),
        key_file: base.join(raw.key_file),
        ca_file: base.join(raw.ca_file),
        proxies,
        resolve: raw.resolve,
    })
}
