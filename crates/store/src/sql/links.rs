//! Links between Slack users and Teams users.

use callbridge_model::{AadObjectId, SlackTeamId, SlackUserId, TeamsTenantId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::SqlStore;
use super::codec::{from_millis, millis};
use crate::StoreError;
use crate::records::UserLink;
use crate::traits::UserLinkStore;

/// The columns every query of this table reads, in `decode` order.
macro_rules! columns {
    () => {
        "tenant_id, slack_team, slack_user, teams_tenant, teams_user, created_at_ms"
    };
}

fn field<T: std::str::FromStr>(row: &AnyRow, column: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    row.try_get::<String, _>(column)?
        .parse()
        .map_err(|error: T::Err| StoreError::corrupt("user link", &error))
}

fn decode(row: &AnyRow) -> Result<UserLink, StoreError> {
    Ok(UserLink {
        tenant: field(row, "tenant_id")?,
        slack_team: field(row, "slack_team")?,
        slack_user: field(row, "slack_user")?,
        teams_tenant: field(row, "teams_tenant")?,
        teams_user: field(row, "teams_user")?,
        created_at: from_millis("user link", row.try_get("created_at_ms")?)?,
    })
}

impl UserLinkStore for SqlStore {
    async fn link_users(&self, link: &UserLink) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO user_links (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(link.tenant.to_string())
        .bind(link.slack_team.to_string())
        .bind(link.slack_user.to_string())
        .bind(link.teams_tenant.to_string())
        .bind(link.teams_user.to_string())
        .bind(millis(link.created_at))
        .execute(&self.pool)
        .await
        .map_err(|error| match StoreError::from(error) {
            StoreError::Conflict(_) => StoreError::Conflict("one of these users is already linked"),
            other => other,
        })?;
        Ok(())
    }

    async fn link_for_slack(
        &self,
        team: &SlackTeamId,
        user: &SlackUserId,
    ) -> Result<Option<UserLink>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM user_links WHERE slack_team = $1 AND slack_user = $2"
        ))
        .bind(team.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn link_for_teams(
        &self,
        tenant: &TeamsTenantId,
        user: &AadObjectId,
    ) -> Result<Option<UserLink>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM user_links WHERE teams_tenant = $1 AND teams_user = $2"
        ))
        .bind(tenant.to_string())
        .bind(user.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn unlink_slack(
        &self,
        team: &SlackTeamId,
        user: &SlackUserId,
    ) -> Result<bool, StoreError> {
        let result =
            sqlx::query("DELETE FROM user_links WHERE slack_team = $1 AND slack_user = $2")
                .bind(team.to_string())
                .bind(user.to_string())
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn links(&self) -> Result<Vec<UserLink>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM user_links ORDER BY slack_team, slack_user"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }
}
