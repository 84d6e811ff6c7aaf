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
