//! App installations.

use callbridge_model::Platform;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::SqlStore;
use super::codec::{from_millis, millis, parse_platform, platform_label};
use crate::StoreError;
use crate::records::Installation;
use crate::traits::InstallationStore;

fn decode(row: &AnyRow) -> Result<Installation, StoreError> {
    let tenant: String = row.try_get("tenant_id")?;
    Ok(Installation {
        platform: parse_platform(&row.try_get::<String, _>("platform")?)?,
        external_id: row.try_get("external_id")?,
        tenant: tenant
            .parse()
            .map_err(|e| StoreError::corrupt("installation", &e))?,
        display_name: row.try_get("display_name")?,
        installed_at: from_millis("installation", row.try_get("installed_at_ms")?)?,
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at_ms")?
            .map(|ms| from_millis("installation", ms))
            .transpose()?,
    })
}

/// The columns every query of this table reads, in `decode` order.
macro_rules! columns {
    () => {
        "platform, external_id, tenant_id, display_name, installed_at_ms, revoked_at_ms"
    };
}

impl InstallationStore for SqlStore {
    async fn upsert_installation(&self, installation: &Installation) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO installations (platform, external_id, tenant_id, display_name, installed_at_ms, revoked_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (platform, external_id) DO UPDATE SET tenant_id = excluded.tenant_id, \
             display_name = excluded.display_name, installed_at_ms = excluded.installed_at_ms, \
             revoked_at_ms = excluded.revoked_at_ms",
        )
        .bind(platform_label(installation.platform))
        .bind(installation.external_id.clone())
        .bind(installation.tenant.to_string())
        .bind(installation.display_name.clone())
        .bind(millis(installation.installed_at))
        .bind(installation.revoked_at.map(millis))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn installation(
        &self,
        platform: Platform,
        external_id: &str,
    ) -> Result<Option<Installation>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM installations WHERE platform = $1 AND external_id = $2"
        ))
        .bind(platform_label(platform))
        .bind(external_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn installations(&self) -> Result<Vec<Installation>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM installations ORDER BY platform, external_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }

    async fn revoke_installation(
        &self,
        platform: Platform,
        external_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE installations SET revoked_at_ms = $3 WHERE platform = $1 AND external_id = $2",
        )
        .bind(platform_label(platform))
        .bind(external_id.to_owned())
        .bind(millis(at))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }
}
