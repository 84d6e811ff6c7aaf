//! The seed a Slack sandbox starts from: workspaces, users, channels, the app under test and
//! its installation. Loaded from TOML or JSON; [`SlackSeed::demo`] is a ready-made one.

use serde::{Deserialize, Serialize};

use super::error::SandboxError;

/// Everything a Slack sandbox starts with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlackSeed {
    /// The one app under test, as registered at api.slack.com.
    pub app: SeedApp,
    /// The workspaces (`T…`), each with its users and, optionally, the app installed.
    pub workspaces: Vec<SeedWorkspace>,
}

/// The app under test: credentials, the slash command and where Slack sends requests.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedApp {
    /// The app id (`A…`), sent as `api_app_id`.
    pub app_id: String,
    /// Display name of the app and of its bot user.
    #[serde(default = "default_app_name")]
    pub name: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// The signing secret used for `X-Slack-Signature` (§2).
    pub signing_secret: String,
    /// The deprecated verification token sent in `token` fields (§2, "Legacy verification token").
    #[serde(default = "default_verification_token")]
    pub verification_token: String,
    /// The registered OAuth redirect URL; `/oauth/v2/authorize` refuses any other (§5.1).
    pub redirect_uri: String,
    /// The slash command, with its leading slash.
    #[serde(default = "default_command")]
    pub slash_command: String,
    /// Path of the slash command Request URL, joined to the app's base URL.
    #[serde(default = "default_command_path")]
    pub command_path: String,
    /// Path of the interactivity Request URL, joined to the app's base URL.
    #[serde(default = "default_interactivity_path")]
    pub interactivity_path: String,
    /// Path of the Events API Request URL, joined to the app's base URL.
    #[serde(default = "default_events_path")]
    pub events_path: String,
    /// Whether token rotation is on: 12-hour access tokens and single-use refresh tokens (§5.2).
    #[serde(default)]
    pub token_rotation: bool,
    /// Whether the command has "Escape channels, users, and links" on (`should_escape`, §3):
    /// `@name` arrives as `<@U…|name>`, emails as `<mailto:…|…>`, links as `<…>`.
    #[serde(default = "default_true")]
    pub should_escape: bool,
    /// Bot events the app subscribes to.
    #[serde(default = "default_bot_events")]
    pub bot_events: Vec<String>,
    /// Events the app subscribes to on behalf of users (delivered with a user authorization).
    #[serde(default = "default_user_events")]
    pub user_events: Vec<String>,
}

/// A workspace (`T…`), optionally inside an Enterprise Grid org (`E…`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedWorkspace {
    /// Team id, `T…`.
    pub id: String,
    /// Workspace name.
    pub name: String,
    /// Subdomain: `https://<domain>.slack.com/`.
    pub domain: String,
    /// The Enterprise Grid org, if any.
    #[serde(default)]
    pub enterprise: Option<SeedEnterprise>,
    /// People of the workspace.
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// Channels besides the DMs Slack creates on demand. When empty, a `#general` holding
    /// every user and the app's bot is created.
    #[serde(default)]
    pub channels: Vec<SeedChannel>,
    /// The app's installation, if it is installed here.
    #[serde(default)]
    pub install: Option<SeedInstall>,
}

/// An Enterprise Grid organisation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedEnterprise {
    /// Enterprise id, `E…`.
    pub id: String,
    /// Organisation name.
    pub name: String,
}

/// A person in a workspace.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedUser {
    /// User id: `U…`, or `W…` for an Enterprise Grid global user.
    pub id: String,
    /// Handle (`name`).
    pub name: String,
    /// Full name.
    pub real_name: String,
    /// Email address, visible with `users:read.email`.
    pub email: String,
    /// IANA time zone.
    #[serde(default = "default_tz")]
    pub tz: String,
    /// Human label of the time zone.
    #[serde(default = "default_tz_label")]
    pub tz_label: String,
    /// Offset from UTC in seconds.
    #[serde(default)]
    pub tz_offset: i64,
    /// Whether the user is a workspace admin (may set other users' profiles).
    #[serde(default)]
    pub is_admin: bool,
    /// Custom status text.
    #[serde(default)]
    pub status_text: String,
    /// Custom status emoji.
    #[serde(default)]
    pub status_emoji: String,
    /// Unix time the status clears at; 0 means never.
    #[serde(default)]
    pub status_expiration: i64,
    /// `"active"` (a client is connected) or `"away"`.
    #[serde(default = "default_presence")]
    pub presence: String,
    /// Minutes of DND snooze left when the sandbox starts; 0 means not snoozing.
    #[serde(default)]
    pub dnd_snooze_minutes: u32,
}

/// A channel (`C…`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedChannel {
    /// Channel id, `C…`.
    pub id: String,
    /// Name without `#`.
    pub name: String,
    /// Member user ids (include the bot user id for the bot to post without `chat:write.public`).
    #[serde(default)]
    pub members: Vec<String>,
}

/// The app as already installed in a workspace, with the tokens tests use directly.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedInstall {
    /// The bot user's id, `U…`.
    pub bot_user_id: String,
    /// The bot token, `xoxb-…`; it never expires, as without rotation.
    pub bot_token: String,
    /// Scopes granted to the bot token.
    pub bot_scopes: Vec<String>,
    /// User tokens granted by users of the workspace.
    #[serde(default)]
    pub user_tokens: Vec<SeedUserToken>,
}

/// A user token granted to the app.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedUserToken {
    /// The user who granted it.
    pub user: String,
    /// The token, `xoxp-…`.
    pub token: String,
    /// Its scopes.
    pub scopes: Vec<String>,
}

fn default_true() -> bool {
    true
}
fn default_app_name() -> String {
    "callbridge".to_owned()
}
fn default_verification_token() -> String {
    "sandboxVerificationTok".to_owned()
}
fn default_command() -> String {
    "/call".to_owned()
}
fn default_command_path() -> String {
    "/slack/commands".to_owned()
}
fn default_interactivity_path() -> String {
    "/slack/interactivity".to_owned()
}
fn default_events_path() -> String {
    "/slack/events".to_owned()
}
fn default_bot_events() -> Vec<String> {
    [
        "user_change",
        "user_status_changed",
        "user_huddle_changed",
        "call_rejected",
        "tokens_revoked",
        "app_uninstalled",
    ]
    .map(str::to_owned)
    .to_vec()
}
fn default_user_events() -> Vec<String> {
    vec!["dnd_updated_user".to_owned()]
}
fn default_tz() -> String {
    "Europe/London".to_owned()
}
fn default_tz_label() -> String {
    "Greenwich Mean Time".to_owned()
}
fn default_presence() -> String {
    "active".to_owned()
}

/// The built-in demo's scopes for the bot (slack-api.md §5.5).
pub(crate) const DEMO_BOT_SCOPES: &[&str] = &[
    "commands",
    "calls:write",
    "calls:read",
    "chat:write",
    "im:write",
    "users:read",
    "users:read.email",
];

/// The built-in demo's scopes for each mirrored user (slack-api.md §5.5).
pub(crate) const DEMO_USER_SCOPES: &[&str] = &[
    "users:read",
    "users:write",
    "users.profile:read",
    "users.profile:write",
    "dnd:read",
    "dnd:write",
];

impl SlackSeed {
    /// Parses a TOML seed and checks it.
    pub fn from_toml_str(text: &str) -> Result<Self, SandboxError> {
        let seed: Self =
            toml::from_str(text).map_err(|e| SandboxError::Misconfigured(e.to_string()))?;
        seed.validate()?;
        Ok(seed)
    }

    /// Parses a JSON seed and checks it.
    pub fn from_json_str(text: &str) -> Result<Self, SandboxError> {
        let seed: Self =
            serde_json::from_str(text).map_err(|e| SandboxError::Misconfigured(e.to_string()))?;
        seed.validate()?;
        Ok(seed)
    }

    /// A small workspace for the demo and tests: three people, a `#general`, and the app
    /// installed with a bot token and a user token per person.
    pub fn demo() -> Self {
        let user = |id: &str, name: &str, real: &str, tz: &str, offset: i64| SeedUser {
            id: id.to_owned(),
            name: name.to_owned(),
            real_name: real.to_owned(),
            email: format!("{name}@example.com"),
            tz: tz.to_owned(),
            tz_label: tz.to_owned(),
            tz_offset: offset,
            is_admin: name == "bob",
            status_text: String::new(),
            status_emoji: String::new(),
            status_expiration: 0,
            presence: default_presence(),
            dnd_snooze_minutes: 0,
        };
        let users = vec![
            user("U0DEMOBOB1", "bob", "Bob Builder", "Europe/London", 0),
            user(
                "U0DEMOCAR2",
                "carol",
                "Carol Danvers",
                "America/New_York",
                -18000,
            ),
            user("U0DEMODAN3", "dan", "Dan Brown", "Europe/Paris", 3600),
        ];
        let user_tokens = users
            .iter()
            .map(|u| SeedUserToken {
                user: u.id.clone(),
                token: format!("xoxp-demo-{}", u.name),
                scopes: DEMO_USER_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            })
            .collect();
        Self {
            app: SeedApp {
                app_id: "A0CALLBRDG".to_owned(),
                name: default_app_name(),
                client_id: "1000000001.2000000002".to_owned(),
                client_secret: "demo-client-secret".to_owned(),
                signing_secret: "demo-signing-secret".to_owned(),
                verification_token: default_verification_token(),
                redirect_uri: "http://127.0.0.1:8080/slack/oauth/callback".to_owned(),
                slash_command: default_command(),
                command_path: default_command_path(),
                interactivity_path: default_interactivity_path(),
                events_path: default_events_path(),
                token_rotation: false,
                should_escape: true,
                bot_events: default_bot_events(),
                user_events: default_user_events(),
            },
            workspaces: vec![SeedWorkspace {
                id: "T0DEMOTEAM".to_owned(),
                name: "Demo Workspace".to_owned(),
                domain: "demo".to_owned(),
                enterprise: None,
                users,
                channels: Vec::new(),
                install: Some(SeedInstall {
                    bot_user_id: "U0DEMOBOT0".to_owned(),
                    bot_token: "xoxb-demo-bot".to_owned(),
                    bot_scopes: DEMO_BOT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                    user_tokens,
                }),
            }],
        }
    }

    /// Checks the id formats and references a real Slack would guarantee.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |what: String| Err(SandboxError::Misconfigured(what));
        if !self.app.app_id.starts_with('A') {
            return bad(format!("app id {} must start with A", self.app.app_id));
        }
        if !self.app.slash_command.starts_with('/') {
            return bad(format!(
                "slash command {} must start with /",
                self.app.slash_command
            ));
        }
        if self.workspaces.is_empty() {
            return bad("at least one workspace is needed".to_owned());
        }
        for ws in &self.workspaces {
            if !ws.id.starts_with('T') {
                return bad(format!("workspace id {} must start with T", ws.id));
            }
            if let Some(ent) = &ws.enterprise
                && !ent.id.starts_with('E')
            {
                return bad(format!("enterprise id {} must start with E", ent.id));
            }
            for user in &ws.users {
                if !(user.id.starts_with('U') || user.id.starts_with('W')) {
                    return bad(format!("user id {} must start with U or W", user.id));
                }
                if user.presence != "active" && user.presence != "away" {
                    return bad(format!("presence of {} must be active or away", user.id));
                }
            }
            for channel in &ws.channels {
                if !channel.id.starts_with('C') {
                    return bad(format!("channel id {} must start with C", channel.id));
                }
            }
            if let Some(install) = &ws.install {
                if !install.bot_user_id.starts_with('U') {
                    return bad(format!(
                        "bot user id {} must start with U",
                        install.bot_user_id
                    ));
                }
                if !install.bot_token.starts_with("xoxb-") {
                    return bad("bot tokens start with xoxb-".to_owned());
                }
                for grant in &install.user_tokens {
                    if !grant.token.starts_with("xoxp-") {
                        return bad("user tokens start with xoxp-".to_owned());
                    }
                    if !ws.users.iter().any(|u| u.id == grant.user) {
                        return bad(format!("user token for unknown user {}", grant.user));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_seed_is_valid_and_round_trips_through_toml() {
        let demo = SlackSeed::demo();
        demo.validate().unwrap();
        let text = toml::to_string(&demo).unwrap();
        let back = SlackSeed::from_toml_str(&text).unwrap();
        assert_eq!(back.workspaces[0].users.len(), 3);
    }

    #[test]
    fn bad_prefixes_are_refused() {
        let mut seed = SlackSeed::demo();
        seed.workspaces[0].users[0].id = "X1".to_owned();
        assert!(matches!(
            seed.validate(),
            Err(SandboxError::Misconfigured(_))
        ));
        assert!(SlackSeed::from_toml_str("not = [toml").is_err());
    }
}
