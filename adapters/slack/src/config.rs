//! The Slack adapter's configuration, parsed once from plain values (a config file, the
//! environment) into checked types, so a typo is reported at start-up with the field it is in
//! rather than as a failed install hours later.

use callbridge_adapter::{AdapterError, Secret};
use url::Url;

/// Bot scopes requested at install, each with why callbridge needs it (slack-api.md §5.5).
pub const BOT_SCOPES: &[(&str, &str)] = &[
    ("commands", "receive the /call slash command"),
    (
        "calls:write",
        "register call cards with calls.add, update and end them",
    ),
    (
        "calls:read",
        "read back call cards it registered (calls.info)",
    ),
    (
        "chat:write",
        "post call cards, ringing and missed-call notices to users",
    ),
    (
        "im:write",
        "open the direct message a call card or notice goes to",
    ),
    (
        "users:read",
        "resolve callers and poll the presence dot (users.getPresence)",
    ),
    (
        "users:read.email",
        "match Slack users to Teams users by email address",
    ),
];

/// User scopes requested from each person who opts in to presence mirroring (§5.5, §7).
pub const USER_SCOPES: &[(&str, &str)] = &[
    (
        "users.profile:write",
        "write the mirrored Teams status into the Slack status",
    ),
    (
        "users.profile:read",
        "read the current status before restoring it after a call",
    ),
    (
        "dnd:write",
        "snooze notifications while the person is in Do not disturb on Teams",
    ),
    (
        "dnd:read",
        "receive dnd_updated_user when the person changes Do not disturb",
    ),
    (
        "users:write",
        "mark the person away while they are away on Teams",
    ),
];

/// Plain configuration values, as read from a file or the environment.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// Web API base, `https://slack.com/api/` unless pointed at a sandbox.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// OAuth authorize page, `https://slack.com/oauth/v2/authorize` unless pointed at a sandbox.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// The signing secret in force.
    pub signing_secret: String,
    /// The signing secret being rotated out, accepted alongside the current one.
    #[serde(default)]
    pub previous_signing_secret: Option<String>,
    /// Where Slack sends people back after consent; must equal one registered for the app.
    /// Defaults to `<public_url>/slack/oauth/callback`.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// callbridge's public base URL.
    pub public_url: String,
    /// Bot scopes; the documented set when absent.
    #[serde(default)]
    pub bot_scopes: Option<Vec<String>>,
    /// User scopes; the documented set when absent.
    #[serde(default)]
    pub user_scopes: Option<Vec<String>>,
    /// The Slack app id (`A…`).
    pub app_id: String,
}

/// The two signing secrets accepted during a rotation.
#[derive(Clone, Debug)]
pub struct SigningSecrets {
    /// The secret in force.
    pub current: Secret,
    /// The secret being rotated out, if a rotation is under way.
    pub previous: Option<Secret>,
}

impl SigningSecrets {
    /// Every secret a request may be signed with, current first.
    pub fn all(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }
}

/// The checked configuration.
#[derive(Clone, Debug)]
pub struct SlackConfig {
    /// Web API base URL, ending in `/`.
    pub api_base_url: Url,
    /// OAuth authorize page.
    pub authorize_url: Url,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: Secret,
    /// Signing secrets.
    pub signing: SigningSecrets,
    /// OAuth redirect URI, exactly as registered.
    pub redirect_uri: Url,
    /// callbridge's public base URL.
    pub public_url: Url,
    /// Bot scopes requested at install.
    pub bot_scopes: Vec<String>,
    /// User scopes requested when a person opts in to mirroring.
    pub user_scopes: Vec<String>,
    /// The Slack app id.
    pub app_id: String,
}

fn misconfigured(field: &str, why: &str) -> AdapterError {
    AdapterError::Misconfigured(format!("slack.{field}: {why}"))
}

fn url(field: &str, text: &str) -> Result<Url, AdapterError> {
    let url = Url::parse(text.trim()).map_err(|e| misconfigured(field, &e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(misconfigured(field, "must be an http(s) URL with a host"));
    }
    Ok(url)
}

fn secret(field: &str, text: &str) -> Result<Secret, AdapterError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(misconfigured(field, "must not be empty"));
    }
    Ok(Secret::new(text))
}

fn scopes(
    field: &str,
    given: Option<Vec<String>>,
    default: &[(&str, &str)],
) -> Result<Vec<String>, AdapterError> {
    let list: Vec<String> = given.map_or_else(
        || default.iter().map(|(s, _)| (*s).to_owned()).collect(),
        |list| list.into_iter().map(|s| s.trim().to_owned()).collect(),
    );
    for scope in &list {
        let valid = !scope.is_empty()
            && scope
                .bytes()
                .all(|b| b.is_ascii_lowercase() || matches!(b, b':' | b'.' | b'_'));
        if !valid {
            return Err(misconfigured(
                field,
                "scopes are lowercase words with : . or _",
            ));
        }
    }
    Ok(list)
}

/// Makes sure a base URL ends in `/`, so `join("calls.add")` appends instead of replacing.
fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

impl SlackConfig {
    /// Checks plain values; the error names the field at fault.
    pub fn parse(settings: SlackSettings) -> Result<Self, AdapterError> {
        let public_url = with_trailing_slash(url("public_url", &settings.public_url)?);
        let redirect_uri = match settings.redirect_uri.as_deref() {
            Some(text) => url("redirect_uri", text)?,
            None => public_url
                .join("slack/oauth/callback")
                .map_err(|e| misconfigured("redirect_uri", &e.to_string()))?,
        };
        let app_id = settings.app_id.trim().to_owned();
        if !(app_id.starts_with('A')
            && app_id.len() >= 3
            && app_id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        {
            return Err(misconfigured(
                "app_id",
                "must be a Slack app id (A followed by uppercase letters and digits)",
            ));
        }
        let client_id = settings.client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err(misconfigured("client_id", "must not be empty"));
        }
        Ok(Self {
            api_base_url: with_trailing_slash(url(
                "api_base_url",
                settings
                    .api_base_url
                    .as_deref()
                    .unwrap_or("https://slack.com/api/"),
            )?),
            authorize_url: url(
                "authorize_url",
                settings
                    .authorize_url
                    .as_deref()
                    .unwrap_or("https://slack.com/oauth/v2/authorize"),
            )?,
            client_id,
            client_secret: secret("client_secret", &settings.client_secret)?,
            signing: SigningSecrets {
                current: secret("signing_secret", &settings.signing_secret)?,
                previous: settings
                    .previous_signing_secret
                    .as_deref()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| secret("previous_signing_secret", s))
                    .transpose()?,
            },
            redirect_uri,
            public_url,
            bot_scopes: scopes("bot_scopes", settings.bot_scopes, BOT_SCOPES)?,
            user_scopes: scopes("user_scopes", settings.user_scopes, USER_SCOPES)?,
            app_id,
        })
    }

    /// The URL of one Web API method.
    pub(crate) fn method_url(&self, method: &str) -> Result<Url, AdapterError> {
        self.api_base_url
            .join(method)
            .map_err(|e| AdapterError::Bug(format!("method URL for {method}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SlackSettings {
        SlackSettings {
            client_id: "1.2".into(),
            client_secret: "s".into(),
            signing_secret: "sig".into(),
            public_url: "https://calls.example.com".into(),
            app_id: "A0CALLBRDG".into(),
            ..SlackSettings::default()
        }
    }

    #[test]
    fn defaults_point_at_slack_and_derive_the_redirect_uri() {
        let config = SlackConfig::parse(settings()).unwrap();
        assert_eq!(config.api_base_url.as_str(), "https://slack.com/api/");
        assert_eq!(
            config.redirect_uri.as_str(),
            "https://calls.example.com/slack/oauth/callback"
        );
        assert_eq!(
            config.method_url("calls.add").unwrap().as_str(),
            "https://slack.com/api/calls.add"
        );
        assert!(config.bot_scopes.iter().any(|s| s == "calls:write"));
    }

    #[test]
    fn errors_name_the_field() {
        let mut bad = settings();
        bad.public_url = "not a url".into();
        assert!(
            SlackConfig::parse(bad)
                .unwrap_err()
                .to_string()
                .contains("slack.public_url")
        );
        let mut bad = settings();
        bad.signing_secret = " ".into();
        assert!(
            SlackConfig::parse(bad)
                .unwrap_err()
                .to_string()
                .contains("slack.signing_secret")
        );
        let mut bad = settings();
        bad.app_id = "x".into();
        assert!(
            SlackConfig::parse(bad)
                .unwrap_err()
                .to_string()
                .contains("slack.app_id")
        );
        let mut bad = settings();
        bad.bot_scopes = Some(vec!["Calls Write".into()]);
        assert!(
            SlackConfig::parse(bad)
                .unwrap_err()
                .to_string()
                .contains("slack.bot_scopes")
        );
    }

    #[test]
    fn a_base_without_trailing_slash_still_joins_methods() {
        let mut s = settings();
        s.api_base_url = Some("http://127.0.0.1:9/api".into());
        let config = SlackConfig::parse(s).unwrap();
        assert_eq!(
            config.method_url("auth.test").unwrap().as_str(),
            "http://127.0.0.1:9/api/auth.test"
        );
    }
}
