//! The effective configuration as `callbridge config check` prints it: every value in force,
//! secrets replaced by `<redacted>`.

use std::fmt::Write as _;

use super::Config;

const REDACTED: &str = "<redacted>";

/// Renders the effective configuration as TOML, with secrets redacted.
pub fn render_redacted(config: &Config) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "[server]");
    let _ = writeln!(out, "listen = {:?}", config.listen.to_string());
    let _ = writeln!(out, "public_url = {:?}", config.public_url.as_str());
    let _ = writeln!(
        out,
        "request_timeout = {:?}",
        humantime::format_duration(config.request_timeout).to_string()
    );
    let _ = writeln!(out, "max_body_bytes = {}", config.max_body_bytes);
    let _ = writeln!(
        out,
        "shutdown_grace = {:?}",
        humantime::format_duration(config.shutdown_grace).to_string()
    );
    let _ = writeln!(out, "\n[store]");
    let _ = writeln!(out, "url = {:?}", redact_url(config.store_url.expose()));
    let _ = writeln!(out, "\n[secrets]");
    let _ = writeln!(
        out,
        "active_key = {:?}",
        config.keyring.active_id().as_str()
    );
    let _ = writeln!(out, "keys = {REDACTED:?}");
    let _ = writeln!(out, "\n[log]");
    let _ = writeln!(out, "format = {:?}", config.log_format.to_string());
    let _ = writeln!(out, "level = {:?}", config.log_level);
    let _ = writeln!(out, "\n[admin]");
    let _ = writeln!(
        out,
        "token = {:?}",
        if config.admin_token.is_some() {
            REDACTED
        } else {
            "(admin API disabled)"
        }
    );
    let _ = writeln!(out, "\n[deployment]");
    let _ = writeln!(out, "tenant_id = {:?}", config.tenant.to_string());
    if let Some(slack) = &config.slack {
        let _ = writeln!(out, "\n[slack]");
        let _ = writeln!(out, "api_base_url = {:?}", slack.api_base_url.as_str());
        let _ = writeln!(out, "authorize_url = {:?}", slack.authorize_url.as_str());
        let _ = writeln!(out, "app_id = {:?}", slack.app_id);
        let _ = writeln!(out, "client_id = {:?}", slack.client_id);
        let _ = writeln!(out, "client_secret = {REDACTED:?}");
        let _ = writeln!(out, "signing_secret = {REDACTED:?}");
        if slack.signing.previous.is_some() {
            let _ = writeln!(out, "previous_signing_secret = {REDACTED:?}");
        }
        let _ = writeln!(out, "redirect_uri = {:?}", slack.redirect_uri.as_str());
    }
    if let Some(teams) = &config.teams {
        let _ = writeln!(out, "\n[teams]");
        let _ = writeln!(out, "tenant_id = {:?}", teams.tenant.to_string());
        let _ = writeln!(out, "client_id = {:?}", teams.client_id);
        let _ = writeln!(out, "client_secret = {REDACTED:?}");
        let _ = writeln!(out, "login_base_url = {:?}", teams.login_base.as_str());
        let _ = writeln!(out, "graph_base_url = {:?}", teams.graph_base.as_str());
        let _ = writeln!(
            out,
            "bot_openid_metadata_url = {:?}",
            teams.bot_openid_metadata.as_str()
        );
        let names: Vec<&str> = teams.subscribers.iter().map(|s| s.name.as_str()).collect();
        let _ = writeln!(out, "subscribers = {names:?}");
    }
    if let Some(sip) = &config.sip {
        let _ = writeln!(out, "\n[sip]");
        let _ = writeln!(out, "sbc_fqdn = {:?}", sip.sbc_fqdn);
        if let Some(listen) = sip.tls_listen {
            let _ = writeln!(out, "tls_listen = {:?}", listen.to_string());
        }
        let _ = writeln!(out, "cert_file = {:?}", sip.cert_file.display().to_string());
        let _ = writeln!(out, "key_file = {:?}", sip.key_file.display().to_string());
        let _ = writeln!(out, "ca_file = {:?}", sip.ca_file.display().to_string());
        let proxies: Vec<String> = sip
            .proxies
            .iter()
            .map(|(h, p)| format!("{h}:{p}"))
            .collect();
        let _ = writeln!(out, "proxies = {proxies:?}");
        if !sip.resolve.is_empty() {
            let _ = writeln!(out, "\n[sip.resolve]");
            for (name, addr) in &sip.resolve {
                let _ = writeln!(out, "{name:?} = {:?}", addr.to_string());
            }
        }
    }
    out
}

/// Hides a password in a database URL, keeping the rest for the operator to check.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some(REDACTED));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
