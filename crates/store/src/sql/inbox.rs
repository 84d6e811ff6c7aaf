//! The durable event inbox.

use std::time::Duration;

use callbridge_model::Platform;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use super::codec::{from_millis, millis, parse_platform, platform_label};
use crate::StoreError;
use crate::records::{InboxClaim, PendingEvent};
use crate::traits::EventInbox;

impl EventInbox for SqlStore {
    async fn claim_event(
        &self,
        platform: Platform,
        event_id: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<InboxClaim, StoreError> {
        // The primary key decides the race: of two concurrent deliveries exactly one inserts.
        let inserted = sqlx::query(
            "INSERT INTO event_inbox (platform, event_id, payload, received_at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (platform, event_id) DO NOTHING",
        )
        .bind(platform_label(platform))
        .bind(event_id.to_owned())
        .bind(payload.to_owned())
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(InboxClaim::New);
        }
        let row = sqlx::query(
            "SELECT completed_at_ms FROM event_inbox WHERE platform = $1 AND event_id = $2",
        )
        .bind(platform_label(platform))
        .bind(event_id.to_owned())
        .fetch_one(&self.pool)
        .await?;
        Ok(match row.try_get::<Option<i64>, _>("completed_at_ms")? {
            Some(_) => InboxClaim::Done,
            None => InboxClaim::InProgress,
        })
    }

    async fn complete_event(
        &self,
        platform: Platform,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE event_inbox SET completed_at_ms = $3 WHERE platform = $1 AND event_id = $2 \
             AND completed_at_ms IS NULL",
        )
        .bind(platform_label(platform))
        .bind(event_id.to_owned())
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn pending_events(
        &self,
        now: DateTime<Utc>,
        older_than: Duration,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        let cutoff = millis(now) - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT platform, event_id, payload, received_at_ms FROM event_inbox \
             WHERE completed_at_ms IS NULL AND received_at_ms <= $1 ORDER BY received_at_ms",
        )
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingEvent {
                    platform: parse_platform(&row.try_get::<String, _>("platform")?)?,
                    event_id: row.try_get("event_id")?,
                    payload: row.try_get("payload")?,
                    received_at: from_millis("inbox event", row.try_get("received_at_ms")?)?,
                })
            })
            .collect()
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM event_inbox WHERE completed_at_ms IS NOT NULL AND received_at_ms < $1",
        )
        .bind(millis(before))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }
}
