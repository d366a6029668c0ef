//! Attempts of a verification (capture links) and their single-use start tokens (only
//! the token's hash is kept).

use crate::repo::{from_json, parse, to_json};
use crate::{Result, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

/// `SELECT` the columns [`Tx::attempt_from`] reads `FROM attempts`, then the rest of
/// the query: one column list for every query whose rows it maps.
macro_rules! select_attempts {
    ($rest:literal) => {
        concat!(
            "SELECT ",
            "id, tenant_id, verification_id, status, client_json, token_expires_at, ",
            "token_used_at, created_at, updated_at",
            " FROM attempts ",
            $rest
        )
    };
}

impl Tx<'_> {
    pub async fn insert_attempt(&mut self, a: &Attempt, token_hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO attempts (id, tenant_id, verification_id, status, token_hash, token_expires_at, token_used_at,
             client_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(a.id.as_str())
        .bind(a.tenant_id.as_str())
        .bind(a.verification_id.as_str())
        .bind(a.status.as_str())
        .bind(token_hash)
        .bind(ms(a.token_expires_at))
        .bind(a.token_used_at.map(ms))
        .bind(to_json(&a.client))
        .bind(ms(a.created_at))
        .bind(ms(a.updated_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn update_attempt(&mut self, a: &Attempt) -> Result<()> {
        sqlx::query(
            "UPDATE attempts SET status = $1, token_used_at = $2, client_json = $3, updated_at = $4
             WHERE tenant_id = $5 AND id = $6",
        )
        .bind(a.status.as_str())
        .bind(a.token_used_at.map(ms))
        .bind(to_json(&a.client))
        .bind(ms(a.updated_at))
        .bind(a.tenant_id.as_str())
        .bind(a.id.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    fn attempt_from(row: &AnyRow) -> Result<Attempt> {
        Ok(Attempt {
            id: parse(row.try_get("id")?, "attempt id")?,
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            verification_id: parse(row.try_get("verification_id")?, "verification id")?,
            status: parse(row.try_get("status")?, "attempt status")?,
            client: from_json(&row.try_get::<String, _>("client_json")?, "client")?,
            token_expires_at: from_ms(row.try_get("token_expires_at")?)?,
            token_used_at: row.try_get::<Option<i64>, _>("token_used_at")?.map(from_ms).transpose()?,
            created_at: from_ms(row.try_get("created_at")?)?,
            updated_at: from_ms(row.try_get("updated_at")?)?,
        })
    }

    pub async fn list_attempts(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<Vec<Attempt>> {
        let rows = sqlx::query(select_attempts!(
            "WHERE tenant_id = $1 AND verification_id = $2 ORDER BY created_at, id"
        ))
        .bind(tenant.as_str())
        .bind(verification.as_str())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(Self::attempt_from).collect()
    }

    pub async fn get_attempt(&mut self, tenant: &TenantId, verification: &VerificationId, id: &AttemptId) -> Result<Option<Attempt>> {
        let row = sqlx::query(select_attempts!("WHERE tenant_id = $1 AND verification_id = $2 AND id = $3"))
            .bind(tenant.as_str())
            .bind(verification.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::attempt_from).transpose()
    }

    /// Spend an attempt's start token, in one conditional statement: `false` if it was
    /// spent already (of concurrent openings of one link, exactly one gets `true`).
    pub async fn spend_start_token(&mut self, tenant: &TenantId, id: &AttemptId, now: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE attempts SET token_used_at = $1, updated_at = $1
             WHERE tenant_id = $2 AND id = $3 AND token_used_at IS NULL",
        )
        .bind(ms(now))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The start token's hash identifies its attempt (and so its tenant).
    pub async fn find_attempt_by_token(&mut self, token_hash: &str) -> Result<Option<Attempt>> {
        let row = sqlx::query(select_attempts!("WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(Self::attempt_from).transpose()
    }
}
