//! Attempts of a verification (capture links) and their single-use start tokens (only
//! the token's hash is kept).

use crate::repo::{Columns, FromRow, from_json, to_json};
use crate::{Result, Store, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

/// `SELECT` the columns `Attempt::from_row` reads `FROM attempts`, then the rest of
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

impl FromRow for Attempt {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        Ok(Attempt {
            id: row.parsed("id", "attempt id")?,
            tenant_id: row.tenant_id()?,
            verification_id: row.parsed("verification_id", "verification id")?,
            status: row.parsed("status", "attempt status")?,
            client: from_json(&row.try_get::<String, _>("client_json")?, "client")?,
            token_expires_at: from_ms(row.try_get("token_expires_at")?)?,
            token_used_at: row.opt_time("token_used_at")?,
            created_at: from_ms(row.try_get("created_at")?)?,
            updated_at: from_ms(row.try_get("updated_at")?)?,
        })
    }
}

impl Tx<'_> {
    pub async fn insert_attempt(&mut self, a: &Attempt, token_hash: &str) -> Result<()> {
        self.execute(
            "INSERT INTO attempts (id, tenant_id, verification_id, status, token_hash, token_expires_at, token_used_at,
             client_json, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            (
                a.id.as_str(),
                a.tenant_id.as_str(),
                a.verification_id.as_str(),
                a.status.as_str(),
                token_hash,
                ms(a.token_expires_at),
                a.token_used_at.map(ms),
                to_json(&a.client),
                ms(a.created_at),
                ms(a.updated_at),
            ),
        )
        .await
    }

    pub async fn update_attempt(&mut self, a: &Attempt) -> Result<()> {
        self.execute(
            "UPDATE attempts SET status = $1, token_used_at = $2, client_json = $3, updated_at = $4
             WHERE tenant_id = $5 AND id = $6",
            (
                a.status.as_str(),
                a.token_used_at.map(ms),
                to_json(&a.client),
                ms(a.updated_at),
                a.tenant_id.as_str(),
                a.id.as_str(),
            ),
        )
        .await
    }

    pub async fn list_attempts(&mut self, tenant: &TenantId, verification: &VerificationId) -> Result<Vec<Attempt>> {
        let sql = select_attempts!("WHERE tenant_id = $1 AND verification_id = $2 ORDER BY created_at, id");
        self.find_all(sql, (tenant.as_str(), verification.as_str())).await
    }

    pub async fn get_attempt(&mut self, tenant: &TenantId, verification: &VerificationId, id: &AttemptId) -> Result<Option<Attempt>> {
        let sql = select_attempts!("WHERE tenant_id = $1 AND verification_id = $2 AND id = $3");
        self.find(sql, (tenant.as_str(), verification.as_str(), id.as_str())).await
    }

    /// Spend an attempt's start token, in one conditional statement: `false` if it was
    /// spent already (of concurrent openings of one link, exactly one gets `true`).
    pub async fn spend_start_token(&mut self, tenant: &TenantId, id: &AttemptId, now: DateTime<Utc>) -> Result<bool> {
        let spent = self
            .rows_affected(
                "UPDATE attempts SET token_used_at = $1, updated_at = $1
                 WHERE tenant_id = $2 AND id = $3 AND token_used_at IS NULL",
                (ms(now), tenant.as_str(), id.as_str()),
            )
            .await?;
        Ok(spent == 1)
    }

    /// The start token's hash identifies its attempt (and so its tenant).
    pub async fn find_attempt_by_token(&mut self, token_hash: &str) -> Result<Option<Attempt>> {
        self.find(select_attempts!("WHERE token_hash = $1"), (token_hash,)).await
    }
}
