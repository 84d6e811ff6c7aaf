//! Calls, legs and CDRs.

use callbridge_model::{Call, CallId, CallState, Cdr};
use sqlx::{Any, Row, Transaction};

use super::SqlStore;
use super::codec::{from_json, label, millis, to_json};
use crate::StoreError;
use crate::traits::CallStore;

impl SqlStore {
    /// Writes the call row and replaces its legs inside `tx`.
    async fn write_call(
        tx: &mut Transaction<'static, Any>,
        call: &Call,
        insert: bool,
    ) -> Result<(), StoreError> {
        let body = to_json(call)?;
        let updated = call
            .ended_at
            .unwrap_or(call.created_at)
            .max(call.created_at);
        let statement = if insert {
            "INSERT INTO calls (id, tenant_id, direction, state, created_at_ms, updated_at_ms, leg_count, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        } else {
            "UPDATE calls SET tenant_id = $2, direction = $3, state = $4, created_at_ms = $5, \
             updated_at_ms = $6, leg_count = $7, body = $8 WHERE id = $1"
        };
        let result = sqlx::query(statement)
            .bind(call.id.to_string())
            .bind(call.tenant.to_string())
            .bind(label(&call.direction)?)
            .bind(label(&call.state)?)
            .bind(millis(call.created_at))
            .bind(millis(updated))
            .bind(i64::try_from(call.legs.len()).unwrap_or(i64::MAX))
            .bind(body)
            .execute(&mut **tx)
            .await?;
        if !insert && result.rows_affected() == 0 {
            return Err(StoreError::Conflict("no such call"));
        }
        sqlx::query("DELETE FROM call_legs WHERE call_id = $1")
            .bind(call.id.to_string())
            .execute(&mut **tx)
            .await?;
        for (position, leg) in call.legs.iter().enumerate() {
            sqlx::query(
                "INSERT INTO call_legs (leg_id, call_id, position, platform, state, platform_ref) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(leg.id.to_string())
            .bind(call.id.to_string())
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(leg.platform().as_str())
            .bind(label(&leg.state)?)
            .bind(leg.platform_ref.clone())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

impl CallStore for SqlStore {
    async fn create_call(&self, call: &Call) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::write_call(&mut tx, call, true).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_call(&self, call: &Call) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::write_call(&mut tx, call, false).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_call(&self, call: &Call, cdr: &Cdr) -> Result<(), StoreError> {
        if call.state != CallState::Ended || call.id != cdr.call_id {
            return Err(StoreError::Conflict(
                "a CDR needs its call ended and matching",
            ));
        }
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO cdrs (call_id, tenant_id, ended_at_ms, cause, body) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (call_id) DO NOTHING",
        )
        .bind(cdr.call_id.to_string())
        .bind(cdr.tenant.to_string())
        .bind(millis(cdr.ended_at))
        .bind(cdr.cause.as_str())
        .bind(to_json(cdr)?)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            // Dropping the transaction rolls it back: nothing half-written.
            return Err(StoreError::Conflict("this call already has a CDR"));
        }
        Self::write_call(&mut tx, call, false).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn call(&self, id: CallId) -> Result<Option<Call>, StoreError> {
        let row = sqlx::query("SELECT body FROM calls WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| from_json("call", &row.try_get::<String, _>("body")?))
            .transpose()
    }

    async fn live_calls(&self) -> Result<Vec<Call>, StoreError> {
        let rows =
            sqlx::query("SELECT body FROM calls WHERE state <> 'ended' ORDER BY created_at_ms")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| from_json("call", &row.try_get::<String, _>("body")?))
            .collect()
    }

    async fn recent_cdrs(&self, limit: u32) -> Result<Vec<Cdr>, StoreError> {
        let rows = sqlx::query("SELECT body FROM cdrs ORDER BY ended_at_ms DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| from_json("cdr", &row.try_get::<String, _>("body")?))
            .collect()
    }
}
