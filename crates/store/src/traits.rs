//! The narrow storage traits, one per collaborator, so each part of the gateway sees only what it
//! needs and a test double can stand in for one concern at a time.

use std::future::Future;
use std::time::Duration;

use callbridge_model::{
    AadObjectId, Call, CallId, Cdr, Platform, SlackTeamId, SlackUserId, TeamsTenantId, UserRef,
};
use chrono::{DateTime, Utc};

use crate::StoreError;
use crate::records::{
    InboxClaim, Installation, Lease, MirrorState, OAuthToken, PendingEvent, TokenOwner, UserLink,
};

/// Calls and their detail records.
pub trait CallStore: Send + Sync {
    /// Records a new call and its legs, before anything rings.
    fn create_call(&self, call: &Call) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces a live call's state and legs, atomically.
    fn update_call(&self, call: &Call) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Ends a call and writes its CDR in one transaction; a second CDR for the same call is a
    /// [`StoreError::Conflict`].
    fn finish_call(
        &self,
        call: &Call,
        cdr: &Cdr,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// One call, if it exists.
    fn call(&self, id: CallId) -> impl Future<Output = Result<Option<Call>, StoreError>> + Send;
    /// Every call not yet ended (for restart reconciliation and the dashboard).
    fn live_calls(&self) -> impl Future<Output = Result<Vec<Call>, StoreError>> + Send;
    /// The most recent CDRs, newest first.
    fn recent_cdrs(&self, limit: u32) -> impl Future<Output = Result<Vec<Cdr>, StoreError>> + Send;
}

/// App installations (workspaces and tenants).
pub trait InstallationStore: Send + Sync {
    /// Adds or updates an installation.
    fn upsert_installation(
        &self,
        installation: &Installation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// One installation.
    fn installation(
        &self,
        platform: Platform,
        external_id: &str,
    ) -> impl Future<Output = Result<Option<Installation>, StoreError>> + Send;
    /// Every installation.
    fn installations(&self) -> impl Future<Output = Result<Vec<Installation>, StoreError>> + Send;
    /// Marks an installation revoked (tokens revoked, app removed).
    fn revoke_installation(
        &self,
        platform: Platform,
        external_id: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Links between Slack users and Teams users.
pub trait UserLinkStore: Send + Sync {
    /// Links two users; either side already linked elsewhere is a [`StoreError::Conflict`].
    fn link_users(&self, link: &UserLink) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The link of a Slack user.
    fn link_for_slack(
        &self,
        team: &SlackTeamId,
        user: &SlackUserId,
    ) -> impl Future<Output = Result<Option<UserLink>, StoreError>> + Send;
    /// The link of a Teams user.
    fn link_for_teams(
        &self,
        tenant: &TeamsTenantId,
        user: &AadObjectId,
    ) -> impl Future<Output = Result<Option<UserLink>, StoreError>> + Send;
    /// Removes the link of a Slack user; whether there was one.
    fn unlink_slack(
        &self,
        team: &SlackTeamId,
        user: &SlackUserId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Every link.
    fn links(&self) -> impl Future<Output = Result<Vec<UserLink>, StoreError>> + Send;
}

/// OAuth tokens and other secrets, sealed at rest.
pub trait SecretStore: Send + Sync {
    /// Stores a token set, replacing any previous one for the owner.
    fn put_token(
        &self,
        owner: &TokenOwner,
        token: &OAuthToken,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The token set of an owner.
    fn token(
        &self,
        owner: &TokenOwner,
    ) -> impl Future<Output = Result<Option<OAuthToken>, StoreError>> + Send;
    /// Forgets an owner's tokens; whether there were any.
    fn delete_token(
        &self,
        owner: &TokenOwner,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Forgets the tokens of every owner of `platform` whose key starts with `owner_prefix`
    /// (compared exactly, no wildcards); returns how many. An empty prefix would match every
    /// owner of the platform and is a [`StoreError::Refused`].
    fn delete_tokens_with_prefix(
        &self,
        platform: Platform,
        owner_prefix: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Stores a named secret (signing secret, SRTP master key).
    fn put_secret(
        &self,
        name: &str,
        value: &[u8],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A named secret.
    fn secret(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;
    /// Re-seals every stored secret under the keyring's active key; returns how many changed.
    fn rewrap_secrets(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The durable inbox that makes inbound side effects happen once under retries and crashes.
pub trait EventInbox: Send + Sync {
    /// Offers an event; only the first delivery gets [`InboxClaim::New`].
    fn claim_event(
        &self,
        platform: Platform,
        event_id: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<InboxClaim, StoreError>> + Send;
    /// Marks an event's side effects done.
    fn complete_event(
        &self,
        platform: Platform,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Events received at least `older_than` ago and never completed, oldest first.
    fn pending_events(
        &self,
        now: DateTime<Utc>,
        older_than: Duration,
    ) -> impl Future<Output = Result<Vec<PendingEvent>, StoreError>> + Send;
    /// Forgets completed events received before `before`; returns how many.
    fn prune_events(
        &self,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Presence mirroring state per target user.
pub trait PresenceMirrorStore: Send + Sync {
    /// The state for a target user (default when never mirrored).
    fn mirror_state(
        &self,
        target: &UserRef,
    ) -> impl Future<Output = Result<MirrorState, StoreError>> + Send;
    /// Saves the state for a target user.
    fn save_mirror_state(
        &self,
        target: &UserRef,
        state: &MirrorState,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Leases: which node owns what, with fencing.
pub trait LeaseStore: Send + Sync {
    /// Takes or renews `name` for `holder` until `now + ttl`, unless another holder's lease is
    /// still live.
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;
    /// Gives `name` up if `holder` holds it; whether it did.
    fn release_lease(
        &self,
        name: &str,
        holder: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
