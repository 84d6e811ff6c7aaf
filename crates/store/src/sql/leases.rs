//! Leases with fencing tokens.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use super::codec::{from_millis, millis};
use crate::StoreError;
use crate::records::Lease;
use crate::traits::LeaseStore;

impl LeaseStore for SqlStore {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Lease>, StoreError> {
        let expires = millis(now) + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        // One statement: take a free or expired lease, renew our own, or change nothing. The
        // fence moves only when the holder changes.
        let row = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at_ms, fence) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at_ms = excluded.expires_at_ms, \
             fence = CASE WHEN leases.holder = excluded.holder THEN leases.fence ELSE leases.fence + 1 END \
             WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= $4 \
             RETURNING holder, expires_at_ms, fence",
        )
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .bind(expires)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Lease {
                name: name.to_owned(),
                holder: row.try_get("holder")?,
                expires_at: from_millis("lease", row.try_get("expires_at_ms")?)?,
                fence: row.try_get("fence")?,
            })
        })
        .transpose()
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        // Expire rather than delete, so the fence keeps growing for the next holder.
        let result = sqlx::query(
            "UPDATE leases SET expires_at_ms = 0 WHERE name = $1 AND holder = $2 AND expires_at_ms > 0",
        )
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }
}
