//! Presence mirroring state.

use callbridge_model::UserRef;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use super::codec::{from_json, millis, to_json};
use crate::StoreError;
use crate::records::MirrorState;
use crate::traits::PresenceMirrorStore;

impl PresenceMirrorStore for SqlStore {
    async fn mirror_state(&self, target: &UserRef) -> Result<MirrorState, StoreError> {
        let row = sqlx::query("SELECT body FROM presence_mirror WHERE target = $1")
            .bind(to_json(target)?)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => from_json("mirror state", &row.try_get::<String, _>("body")?),
            None => Ok(MirrorState::default()),
        }
    }

    async fn save_mirror_state(
        &self,
        target: &UserRef,
        state: &MirrorState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO presence_mirror (target, body, updated_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (target) DO UPDATE SET body = excluded.body, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(to_json(target)?)
        .bind(to_json(state)?)
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
