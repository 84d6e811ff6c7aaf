//! The Teams app package (reference `teams-graph.md` §5.5): one personal-scope bot with its
//! command list, the gateway's domain as the only valid domain, and the two icons Teams
//! requires (a full-colour 192×192 and a white-on-transparent 32×32 outline).

use std::io::{Cursor, Write};

use callbridge_adapter::AdapterError;
use serde_json::{Value, json};
use url::Url;
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

/// The manifest schema version written.
pub const MANIFEST_VERSION: &str = "1.21";

const COLOR_ICON: &[u8] = include_bytes!("../../assets/color.png");
const OUTLINE_ICON: &[u8] = include_bytes!("../../assets/outline.png");

/// What the operator may choose about the package; the defaults suit most installs.
#[derive(Clone, Debug)]
pub struct PackageOptions {
    /// The app's name in Teams (at most 30 characters).
    pub short_name: String,
    /// The package version, `major.minor.patch`; raise it to update an installed app.
    pub version: String,
    /// The organisation publishing the app (shown in the Teams store listing).
    pub developer_name: String,
    /// The Teams app id; the bot's app id when `None` (one registration for both).
    pub app_id: Option<String>,
}

impl Default for PackageOptions {
    fn default() -> Self {
        Self {
            short_name: "callbridge".to_owned(),
            version: "1.0.0".to_owned(),
            developer_name: "callbridge".to_owned(),
            app_id: None,
        }
    }
}

fn bad(what: impl Into<String>) -> AdapterError {
    AdapterError::Misconfigured(what.into())
}

fn guid(text: &str, what: &str) -> Result<String, AdapterError> {
    uuid::Uuid::try_parse(text)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| bad(format!("{what} must be a GUID (the Entra application id)")))
}

fn public_base(public_url: &str) -> Result<Url, AdapterError> {
    let url = Url::parse(public_url)
        .map_err(|error| bad(format!("public URL {public_url:?}: {error}")))?;
    if url.scheme() != "https" {
        return Err(bad(
            "the public URL must use https (Teams refuses other schemes)",
        ));
    }
    match url.host() {
        Some(url::Host::Domain(_)) => Ok(url),
        Some(_) => Err(bad("the public URL must name a domain, not an IP address")),
        None => Err(bad("the public URL has no host")),
    }
}

fn page(base: &Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

/// The `manifest.json` document for the bot `bot_app_id` served at `public_url`.
pub fn manifest_json(
    public_url: &str,
    bot_app_id: &str,
    options: &PackageOptions,
) -> Result<Value, AdapterError> {
    let base = public_base(public_url)?;
    let bot_id = guid(bot_app_id, "the bot app id")?;
    let app_id = match &options.app_id {
        Some(id) => guid(id, "the Teams app id")?,
        None => bot_id.clone(),
    };
    let name = options.short_name.trim();
    if name.is_empty() || name.chars().count() > 30 {
        return Err(bad("the app name must be 1 to 30 characters"));
    }
    let semver = options.version.split('.').collect::<Vec<_>>();
    if semver.len() != 3
        || semver
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad("the package version must be major.minor.patch"));
    }
    let developer = options.developer_name.trim();
    if developer.is_empty() || developer.chars().count() > 32 {
        return Err(bad("the developer name must be 1 to 32 characters"));
    }
    let domain = base.host_str().unwrap_or_default().to_owned();
    Ok(json!({
        "$schema": format!("https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"),
        "manifestVersion": MANIFEST_VERSION,
        "version": options.version,
        "id": app_id,
        "developer": {
            "name": developer,
            "websiteUrl": page(&base, "/"),
            "privacyUrl": page(&base, "/privacy"),
            "termsOfUseUrl": page(&base, "/terms"),
        },
        "name": {"short": name, "full": format!("{name}: calls between Teams and Slack")},
        "description": {
            "short": "Call Slack colleagues from Teams and see their presence.",
            "full": "Message the bot `call name@company.com` (or mention a colleague) to ring them in Slack. Missed calls leave a card with a Call back button.",
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#4B53BC",
        "bots": [{
            "botId": bot_id,
            "scopes": ["personal"],
            "supportsFiles": false,
            "isNotificationOnly": false,
            "supportsCalling": false,
            "supportsVideo": false,
            "commandLists": [{
                "scopes": ["personal"],
                "commands": [
                    {"title": "call", "description": "Call someone: call @name, call name@company.com or call +14255550100"},
                    {"title": "help", "description": "What the bot can do"},
                ],
            }],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [domain],
    }))
}

/// The app package (zip bytes) an admin uploads to Teams.
pub fn app_package(
    public_url: &str,
    bot_app_id: &str,
    options: &PackageOptions,
) -> Result<Vec<u8>, AdapterError> {
    let manifest = manifest_json(public_url, bot_app_id, options)?;
    let manifest = serde_json::to_vec_pretty(&manifest)
        .map_err(|error| AdapterError::Bug(format!("manifest not serialisable: {error}")))?;
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let file = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let zip_error =
        |error: zip::result::ZipError| AdapterError::Bug(format!("app package: {error}"));
    for (name, bytes) in [
        ("manifest.json", manifest.as_slice()),
        ("color.png", COLOR_ICON),
        ("outline.png", OUTLINE_ICON),
    ] {
        zip.start_file(name, file).map_err(zip_error)?;
        zip.write_all(bytes)
            .map_err(|error| AdapterError::Bug(format!("app package: {error}")))?;
    }
    Ok(zip.finish().map_err(zip_error)?.into_inner())
}
