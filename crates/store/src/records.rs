//! The records the store keeps besides calls and CDRs (which are model types).

use callbridge_model::{
    AadObjectId, Platform, Presence, SlackTeamId, SlackUserId, TeamsTenantId, TenantId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::secret::SecretString;

/// An app installation: a Slack workspace or a Teams tenant that added callbridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installation {
    /// Which platform.
    pub platform: Platform,
    /// The workspace (`T…`) or Entra tenant id.
    pub external_id: String,
    /// The callbridge organisation it belongs to.
    pub tenant: TenantId,
    /// Its name as shown to operators.
    pub display_name: String,
    /// When it was installed.
    pub installed_at: DateTime<Utc>,
    /// When its tokens were revoked or the app removed, if they were.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The link between one Slack user and one Teams user: the same person, or whom `/call @x` means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserLink {
    /// The organisation.
    pub tenant: TenantId,
    /// The Slack workspace.
    pub slack_team: SlackTeamId,
    /// The Slack user.
    pub slack_user: SlackUserId,
    /// The Entra tenant.
    pub teams_tenant: TeamsTenantId,
    /// The Teams user.
    pub teams_user: AadObjectId,
    /// When the link was made.
    pub created_at: DateTime<Utc>,
}

/// Whose OAuth token: a workspace's bot token, a tenant's app token, or one user's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenOwner {
    /// Which platform issued it.
    pub platform: Platform,
    /// The workspace, tenant or user id it belongs to.
    pub owner: String,
}

/// An OAuth token set. The secrets are sealed at rest; scopes and expiry stay readable for the
/// dashboard's token health view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthToken {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token, for platforms that rotate.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// The scopes granted.
    pub scopes: Vec<String>,
}

/// What happened when an inbound event was offered to the inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InboxClaim {
    /// First delivery: the caller owns processing it and must call `complete_event` after.
    New,
    /// Seen before and not yet completed: another worker or a crashed run holds it.
    InProgress,
    /// Seen and completed: a retry, to be acknowledged and ignored.
    Done,
}

/// An inbound event recorded but not completed (the process died in between).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEvent {
    /// Which platform sent it.
    pub platform: Platform,
    /// The platform's event id.
    pub event_id: String,
    /// The payload as recorded.
    pub payload: String,
    /// When it was first received.
    pub received_at: DateTime<Utc>,
}

/// Presence mirroring state for one target user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorState {
    /// The last value callbridge wrote on the target platform (with its fingerprint).
    pub last_written: Option<Presence>,
    /// The user's own value before callbridge wrote over it, restored after a call if the current
    /// value is still ours.
    pub previous: Option<Presence>,
    /// When the mirror last synchronised.
    pub last_sync: Option<DateTime<Utc>>,
    /// Consecutive failures.
    pub error_count: u32,
    /// The last failure, in words fit for an operator (no personal data).
    pub last_error: Option<String>,
    /// Whether an operator or the circuit breaker paused mirroring for this user.
    pub paused: bool,
}

/// A held lease: exclusive ownership of a named thing (a call's media, subscription renewal)
/// until it expires. The fence grows every time the holder changes, so a stale holder's
/// writes can be refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// What is leased.
    pub name: String,
    /// Who holds it.
    pub holder: String,
    /// Until when.
    pub expires_at: DateTime<Utc>,
    /// The fencing token.
    pub fence: i64,
}
