//! Who is on each end of a call: platforms and references to their users.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{AadObjectId, Email, PhoneNumber, SlackTeamId, SlackUserId, TeamsTenantId};

/// A platform callbridge bridges.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Platform {
    /// Slack: the user's leg is callbridge's browser client behind a Slack call card.
    Slack,
    /// Microsoft Teams: the user's leg is a Direct Routing SIP call to their Teams client.
    Teams,
}

impl Platform {
    /// The platform's name as used in URLs, metrics labels and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
        }
    }
}

/// A resolved user on one platform.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "platform", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UserRef {
    /// A Slack user in a workspace.
    Slack {
        /// The workspace (or Grid organisation).
        team: SlackTeamId,
        /// The user.
        user: SlackUserId,
    },
    /// A Teams user in an Entra tenant.
    Teams {
        /// The Entra tenant.
        tenant: TeamsTenantId,
        /// The user's object id.
        user: AadObjectId,
    },
}

impl UserRef {
    /// The platform this user lives on.
    pub const fn platform(&self) -> Platform {
        match self {
            Self::Slack { .. } => Platform::Slack,
            Self::Teams { .. } => Platform::Teams,
        }
    }
}

/// Whom a person asked to call, before the engine resolves it to a [`UserRef`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallTarget {
    /// An already-resolved user (a linked `@mention`, or a call-back button).
    User(UserRef),
    /// An email address or UPN looked up in the other platform's directory.
    Email(Email),
    /// A telephone number assigned to a user through the trunk.
    Phone(PhoneNumber),
}
