//! What a platform administrator needs to install callbridge, printed or written by the CLI:
//! the Slack app manifest (`callbridge slack manifest`) and the Teams app package plus the
//! PowerShell that pairs the Direct Routing trunk (`callbridge teams manifest`).

use std::path::Path;

use callbridge_adapter::AdapterError;
use callbridge_model::PhoneNumber;
use callbridge_teams::config::NumberRange;
use callbridge_teams::manifest::{PackageOptions, PairingPlan, app_package, pairing_powershell};
use url::Url;

use crate::GatewayError;

/// The Slack app manifest for a gateway reachable at `public_url`.
pub fn slack_manifest(public_url: &str) -> Result<String, GatewayError> {
    let url = Url::parse(public_url).map_err(|e| invalid("--public-url", &e.to_string()))?;
    Ok(callbridge_slack::manifest::render(&url))
}

/// What `callbridge teams manifest` is asked for.
#[derive(Clone, Debug)]
pub struct TeamsKitRequest<'a> {
    /// The gateway's public HTTPS URL.
    pub public_url: &'a str,
    /// The SBC FQDN the Teams SIP proxies reach the trunk at.
    pub sbc_fqdn: &'a str,
    /// The bot's Entra application id.
    pub bot_app_id: &'a str,
    /// The first number of the range assigned to Slack users, and how many.
    pub slack_numbers: Option<(&'a str, u64)>,
    /// `-MaxConcurrentSessions` for the gateway.
    pub max_concurrent_sessions: u32,
}

/// Writes the Teams app package to `out` and returns the pairing PowerShell.
pub fn teams_kit(request: &TeamsKitRequest<'_>, out: &Path) -> Result<String, GatewayError> {
    let range = match request.slack_numbers {
        Some((first, count)) => {
            let first: PhoneNumber = first.parse().map_err(|e: callbridge_model::ParseError| {
                invalid("--slack-numbers", &e.to_string())
            })?;
            Some(NumberRange::new(&first, count).map_err(adapter("--slack-numbers"))?)
        }
        None => None,
    };
    let package = app_package(
        request.public_url,
        request.bot_app_id,
        &PackageOptions::default(),
    )
    .map_err(adapter("--public-url / --bot-app-id"))?;
    let script = pairing_powershell(&PairingPlan {
        sbc_fqdn: request.sbc_fqdn,
        slack_numbers: range.as_ref(),
        teams_users: &[],
        max_concurrent_sessions: request.max_concurrent_sessions,
    })
    .map_err(adapter("--sbc-fqdn"))?;
    std::fs::write(out, package)
        .map_err(|e| GatewayError::Io("writing the Teams app package", e))?;
    Ok(script)
}

fn invalid(key: &str, reason: &str) -> GatewayError {
    GatewayError::Config(crate::config::ConfigError::Invalid {
        key: key.to_owned(),
        reason: reason.to_owned(),
    })
}

fn adapter(key: &'static str) -> impl Fn(AdapterError) -> GatewayError {
    move |error| invalid(key, &error.to_string())
}
