//! Sessions of the hosted capture page: the browser holds a random secret (in a cookie);
//! only its SHA-256 is kept here, bound to one attempt of one verification.

use crate::repo::{Columns, FromRow};
use crate::{Result, Store, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

/// A capture session found by the hash of its secret.
#[derive(Debug, Clone)]
pub struct CaptureSessionRecord {
    pub tenant_id: TenantId,
    pub verification_id: VerificationId,
    pub attempt_id: AttemptId,
    pub expires_at: DateTime<Utc>,
}

impl FromRow for CaptureSessionRecord {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        Ok(CaptureSessionRecord {
            tenant_id: row.tenant_id()?,
            verification_id: row.parsed("verification_id", "verification id")?,
            attempt_id: row.parsed("attempt_id", "attempt id")?,
            expires_at: from_ms(row.try_get("expires_at")?)?,
        })
    }
}

impl Tx<'_> {
    /// Insert a session's or a handoff's row (`sql`): the hash of its secret, then `rec`.
    async fn insert_session_row(&mut self, sql: &str, secret_hash: &str, rec: &CaptureSessionRecord, now: DateTime<Utc>) -> Result<()> {
        let binds = (
            secret_hash,
            rec.tenant_id.as_str(),
            rec.verification_id.as_str(),
            rec.attempt_id.as_str(),
            ms(rec.expires_at),
            ms(now),
        );
        self.execute(sql, binds).await
    }

    pub async fn insert_capture_session(&mut self, secret_hash: &str, rec: &CaptureSessionRecord, now: DateTime<Utc>) -> Result<()> {
        let sql = "INSERT INTO capture_sessions (secret_hash, tenant_id, verification_id, attempt_id, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)";
        self.insert_session_row(sql, secret_hash, rec, now).await
    }

    /// The session behind a secret's hash (how its tenant is found), expired or not.
    pub async fn find_capture_session(&mut self, secret_hash: &str) -> Result<Option<CaptureSessionRecord>> {
        self.find(
            "SELECT tenant_id, verification_id, attempt_id, expires_at FROM capture_sessions WHERE secret_hash = $1",
            (secret_hash,),
        )
        .await
    }

    /// Housekeeping: forget a tenant's capture sessions that expired before `now`.
    pub async fn delete_expired_capture_sessions(&mut self, tenant: &TenantId, now: DateTime<Utc>) -> Result<u64> {
        self.delete_expired("capture_sessions", tenant, now).await
    }

    // ----- desktop-to-phone handoffs ----------------------------------------------------

    /// Record a handoff link for a session's attempt (again, while unused: a fresh expiry).
    pub async fn upsert_capture_handoff(&mut self, token_hash: &str, rec: &CaptureSessionRecord, now: DateTime<Utc>) -> Result<()> {
        self.execute(
            "DELETE FROM capture_handoffs WHERE token_hash = $1 AND used_at IS NULL",
            (token_hash,),
        )
        .await?;
        let sql = "INSERT INTO capture_handoffs (token_hash, tenant_id, verification_id, attempt_id, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO NOTHING";
        self.insert_session_row(sql, token_hash, rec, now).await
    }

    /// A handoff by its token's hash, and when it was used (if it was).
    pub async fn find_capture_handoff(&mut self, token_hash: &str) -> Result<Option<(CaptureSessionRecord, Option<DateTime<Utc>>)>> {
        let row = self
            .fetch_optional(
                "SELECT tenant_id, verification_id, attempt_id, expires_at, used_at FROM capture_handoffs WHERE token_hash = $1",
                (token_hash,),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((CaptureSessionRecord::from_row(self.store, &row)?, row.opt_time("used_at")?)))
    }

    /// Spend a handoff link; `false` if it was spent already.
    pub async fn use_capture_handoff(&mut self, token_hash: &str, now: DateTime<Utc>) -> Result<bool> {
        let used = self
            .rows_affected(
                "UPDATE capture_handoffs SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
                (ms(now), token_hash),
            )
            .await?;
        Ok(used > 0)
    }
}
