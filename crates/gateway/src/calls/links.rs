//! Links between a Slack user and a Teams user, made automatically when a verified address on
//! one side names a user on the other.

use callbridge_model::{AadObjectId, SlackTeamId, SlackUserId, TeamsTenantId, TenantId};
use callbridge_store::{SqlStore, StoreError, UserLink, UserLinkStore};
use chrono::{DateTime, Utc};

/// Records a link found by address; the link, when a new one was made. A user already linked
/// elsewhere keeps that link: an operator's choice is never replaced by an automatic one.
pub(super) async fn record(
    store: &SqlStore,
    tenant: TenantId,
    slack_team: &SlackTeamId,
    slack_user: &SlackUserId,
    teams_tenant: TeamsTenantId,
    teams_user: AadObjectId,
    now: DateTime<Utc>,
) -> Option<UserLink> {
    let link = UserLink {
        tenant,
        slack_team: slack_team.clone(),
        slack_user: slack_user.clone(),
        teams_tenant,
        teams_user,
        created_at: now,
    };
    match store.link_users(&link).await {
        Ok(()) => {
            metrics::counter!("callbridge_user_links_total", "how" => "email").increment(1);
            tracing::info!("users linked by verified address");
            Some(link)
        }
        Err(StoreError::Conflict(_)) => None,
        Err(error) => {
            tracing::warn!(%error, "could not record a link found by address");
            None
        }
    }
}
