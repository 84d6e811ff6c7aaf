//! What the operator tells the Teams adapter: the Entra app and tenant, where Entra and Graph
//! live (so the sandbox can stand in), the public mount the redirect and notification URLs are
//! built from, the accounts that own presence subscriptions, the certificate rich
//! notifications are encrypted to, and the numbers Slack users are reachable on from Teams.

use std::time::Duration;

use callbridge_adapter::{AdapterError, Secret};
use callbridge_model::{PhoneNumber, TeamsTenantId};
use url::Url;

/// The Teams adapter's configuration.
#[derive(Clone, Debug)]
pub struct TeamsConfig {
    /// The Entra tenant callbridge serves (tenant-specific authority: app-only tokens need it).
    pub tenant: TeamsTenantId,
    /// The app registration's client id (also the `sessionId` of presence app sessions).
    pub client_id: String,
    /// The app registration's client secret.
    pub client_secret: Secret,
    /// Entra's base URL, `https://login.microsoftonline.com`.
    pub login_base: Url,
    /// Graph's versioned base URL, `https://graph.microsoft.com/v1.0`.
    pub graph_base: Url,
    /// The public URL of the adapter's mount, e.g. `https://gw.example.com/teams`. Redirect
    /// URIs (`/oauth/callback`, `/consent/callback`) and notification URLs (`/notifications`,
    /// `/lifecycle`) are this plus their path, and must be registered exactly so.
    pub public_base: Url,
    /// The delegated accounts that own presence subscriptions. Graph allows one presence
    /// subscription per account and app, of at most 650 users, so `n` mirrored users need
    /// `ceil(n / 650)` accounts.
    pub subscribers: Vec<SubscriberAccount>,
    /// The certificate Graph encrypts rich notifications to; without it subscriptions are
    /// basic and every notification is followed by a re-read.
    pub notification_certificate: Option<NotificationCertificate>,
    /// The numbers the trunk assigns to Slack users, dialled from Teams.
    pub slack_numbers: Option<NumberRange>,
    /// Presence timings.
    pub presence: PresenceTuning,
    /// The Bot Framework's OpenID metadata, whose keys sign inbound bot activities (the bot
    /// is the same app registration as `client_id`).
    pub bot_openid_metadata: Url,
}

impl TeamsConfig {
    /// A configuration with the documented defaults for everything but the essentials.
    pub fn new(
        tenant: TeamsTenantId,
        client_id: impl Into<String>,
        client_secret: Secret,
        public_base: Url,
    ) -> Result<Self, AdapterError> {
        Ok(Self {
            tenant,
            client_id: client_id.into(),
            client_secret,
            login_base: parse_url("https://login.microsoftonline.com")?,
            graph_base: parse_url("https://graph.microsoft.com/v1.0")?,
            public_base,
            subscribers: Vec::new(),
            notification_certificate: None,
            slack_numbers: None,
            presence: PresenceTuning::default(),
            bot_openid_metadata: parse_url(crate::bot::BOT_FRAMEWORK_OPENID_METADATA)?,
        })
    }

    /// The URL of a path below the adapter's mount (`/oauth/callback`).
    pub fn public_url(&self, path: &str) -> Result<Url, AdapterError> {
        join(&self.public_base, path)
    }

    /// The URL of a Graph path (`/users/{id}`).
    pub(crate) fn graph_url(&self, path: &str) -> Result<Url, AdapterError> {
        join(&self.graph_base, path)
    }

    /// The URL of an Entra path below the tenant (`/oauth2/v2.0/token`).
    pub(crate) fn login_url(&self, path: &str) -> Result<Url, AdapterError> {
        join(&self.login_base, &format!("/{}{path}", self.tenant))
    }
}

fn parse_url(text: &str) -> Result<Url, AdapterError> {
    Url::parse(text).map_err(|error| AdapterError::Misconfigured(format!("url {text}: {error}")))
}

/// Appends `path` to `base` keeping the base's own path (`Url::join` would drop its last
/// segment).
fn join(base: &Url, path: &str) -> Result<Url, AdapterError> {
    let text = format!("{}{path}", base.as_str().trim_end_matches('/'));
    parse_url(&text)
}

/// One delegated account that owns a presence subscription (a service or "dummy" user, as
/// Microsoft suggests, since presence subscriptions are delegated-only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriberAccount {
    /// A short stable name, used as the token vault owner key (`subscriber:<name>`) and in
    /// the sign-in link.
    pub name: String,
    /// The account's sign-in name, passed as `login_hint`.
    pub login_hint: Option<String>,
}

/// The certificate and key of rich notifications (base64 DER certificate, PKCS#8 DER key).
#[derive(Clone)]
pub struct NotificationCertificate {
    /// `encryptionCertificateId`, at most 128 characters.
    pub id: String,
    /// The base64 DER X.509 certificate sent to Graph.
    pub certificate_base64: String,
    /// The RSA private key, PKCS#8 DER.
    pub private_key_pkcs8: Vec<u8>,
}

impl std::fmt::Debug for NotificationCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationCertificate")
            .field("id", &self.id)
            .field("private_key_pkcs8", &"redacted")
            .finish_non_exhaustive()
    }
}

/// A contiguous block of E.164 numbers, `first` onwards, `count` of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberRange {
    first: u64,
    digits: usize,
    count: u64,
}

impl NumberRange {
    /// A range of `count` numbers starting at `first`.
    pub fn new(first: &PhoneNumber, count: u64) -> Result<Self, AdapterError> {
        let digits = &first.as_str()[1..];
        let start: u64 = digits
            .parse()
            .map_err(|_| AdapterError::Misconfigured("number range start".to_owned()))?;
        let last = start
            .checked_add(count.saturating_sub(1))
            .filter(|last| last.to_string().len() == digits.len())
            .ok_or_else(|| AdapterError::Misconfigured("number range overflows".to_owned()))?;
        if count == 0 || last < start {
            return Err(AdapterError::Misconfigured(
                "number range is empty".to_owned(),
            ));
        }
        Ok(Self {
            first: start,
            digits: digits.len(),
            count,
        })
    }

    /// Whether `number` is one of the range.
    pub fn contains(&self, number: &PhoneNumber) -> bool {
        let digits = &number.as_str()[1..];
        digits.len() == self.digits
            && digits
                .parse::<u64>()
                .is_ok_and(|n| n >= self.first && n - self.first < self.count)
    }

    /// The `index`-th number of the range.
    pub fn nth(&self, index: u64) -> Option<PhoneNumber> {
        (index < self.count)
            .then(|| format!("+{}", self.first + index))
            .and_then(|text| text.parse().ok())
    }

    /// How many numbers the range holds.
    pub const fn len(&self) -> u64 {
        self.count
    }

    /// Whether the range is empty (never, once built).
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Presence timings, documented values by default (reference `teams-graph.md` §3.4, §4.1).
#[derive(Clone, Debug)]
pub struct PresenceTuning {
    /// The expiry asked for a subscription (at most 60 minutes).
    pub subscription_lifetime: Duration,
    /// Renew once a subscription has less than this left.
    pub renew_when_left: Duration,
    /// How often every mirrored user's presence is re-read to correct drift.
    pub reread_every: Duration,
    /// The `expirationDuration` of app presence sessions (PT5M–PT4H).
    pub session_lifetime: Duration,
    /// How often an `Available` app session is re-sent so it does not fade (fades after 5 min).
    pub available_refresh: Duration,
}

impl Default for PresenceTuning {
    fn default() -> Self {
        Self {
            subscription_lifetime: Duration::from_secs(59 * 60),
            renew_when_left: Duration::from_secs(30 * 60),
            reread_every: Duration::from_secs(5 * 60),
            session_lifetime: Duration::from_secs(60 * 60),
            available_refresh: Duration::from_secs(4 * 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_ranges_hold_exactly_their_numbers() {
        let first: PhoneNumber = "+14255550200".parse().unwrap();
        let range = NumberRange::new(&first, 100).unwrap();
        assert!(range.contains(&"+14255550200".parse().unwrap()));
        assert!(range.contains(&"+14255550299".parse().unwrap()));
        assert!(!range.contains(&"+14255550300".parse().unwrap()));
        assert!(!range.contains(&"+142555502001".parse().unwrap()));
        assert_eq!(range.nth(5).unwrap().as_str(), "+14255550205");
        assert_eq!(range.nth(100), None);
        let near_end: PhoneNumber = "+99999999999".parse().unwrap();
        assert!(NumberRange::new(&near_end, 2).is_err());
    }

    #[test]
    fn public_urls_keep_the_mount_path() {
        let config = TeamsConfig::new(
            "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b".parse().unwrap(),
            "client",
            Secret::new("s"),
            Url::parse("https://gw.example.com/teams").unwrap(),
        )
        .unwrap();
        assert_eq!(
            config.public_url("/oauth/callback").unwrap().as_str(),
            "https://gw.example.com/teams/oauth/callback"
        );
        assert_eq!(
            config.graph_url("/users/x").unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/users/x"
        );
    }
}
