//! Sessions of the hosted capture page: the browser holds a random secret (in a cookie);
//! only its SHA-256 is kept here, bound to one attempt of one verification.

use crate::{Result, StoreError, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;

/// A capture session found by the hash of its secret.
#[derive(Debug, Clone)]
pub struct CaptureSessionRecord {
    pub tenant_id: TenantId,
    pub verification_id: VerificationId,
    pub attempt_id: AttemptId,
    pub expires_at: DateTime<Utc>,
}

fn parse<T: std::str::FromStr>(s: String, what: &str) -> Result<T> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("bad {what}: {s}")))
}

impl Tx<'_> {
    pub async fn insert_capture_session(&mut self, secret_hash: &str, rec: &CaptureSessionRecord, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO capture_sessions (secret_hash, tenant_id, verification_id, attempt_id, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(secret_hash)
        .bind(rec.tenant_id.as_str())
        .bind(rec.verification_id.as_str())
        .bind(rec.attempt_id.as_str())
        .bind(ms(rec.expires_at))
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The session behind a secret's hash (how its tenant is found), expired or not.
    pub async fn find_capture_session(&mut self, secret_hash: &str) -> Result<Option<CaptureSessionRecord>> {
        let row = sqlx::query("SELECT tenant_id, verification_id, attempt_id, expires_at FROM capture_sessions WHERE secret_hash = $1")
            .bind(secret_hash)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(CaptureSessionRecord {
            tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
            verification_id: parse(row.try_get("verification_id")?, "verification id")?,
            attempt_id: parse(row.try_get("attempt_id")?, "attempt id")?,
            expires_at: from_ms(row.try_get("expires_at")?)?,
        }))
    }

    /// Housekeeping: forget a tenant's capture sessions that expired before `now`.
    pub async fn delete_expired_capture_sessions(&mut self, tenant: &TenantId, now: DateTime<Utc>) -> Result<u64> {
        let r = sqlx::query("DELETE FROM capture_sessions WHERE tenant_id = $1 AND expires_at < $2")
            .bind(tenant.as_str())
            .bind(ms(now))
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected())
    }

    // ----- desktop-to-phone handoffs ----------------------------------------------------

    /// Record a handoff link for a session's attempt (again, while unused: a fresh expiry).
    pub async fn upsert_capture_handoff(&mut self, token_hash: &str, rec: &CaptureSessionRecord, now: DateTime<Utc>) -> Result<()> {
        sqlx::query("DELETE FROM capture_handoffs WHERE token_hash = $1 AND used_at IS NULL")
            .bind(token_hash)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(
            "INSERT INTO capture_handoffs (token_hash, tenant_id, verification_id, attempt_id, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(token_hash)
        .bind(rec.tenant_id.as_str())
        .bind(rec.verification_id.as_str())
        .bind(rec.attempt_id.as_str())
        .bind(ms(rec.expires_at))
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// A handoff by its token's hash, and when it was used (if it was).
    pub async fn find_capture_handoff(&mut self, token_hash: &str) -> Result<Option<(CaptureSessionRecord, Option<DateTime<Utc>>)>> {
        let row =
            sqlx::query("SELECT tenant_id, verification_id, attempt_id, expires_at, used_at FROM capture_handoffs WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&mut *self.tx)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let used = row.try_get::<Option<i64>, _>("used_at")?.map(from_ms).transpose()?;
        Ok(Some((
            CaptureSessionRecord {
                tenant_id: parse(row.try_get("tenant_id")?, "tenant id")?,
                verification_id: parse(row.try_get("verification_id")?, "verification id")?,
                attempt_id: parse(row.try_get("attempt_id")?, "attempt id")?,
                expires_at: from_ms(row.try_get("expires_at")?)?,
            },
            used,
        )))
    }

    /// Spend a handoff link; `false` if it was spent already.
    pub async fn use_capture_handoff(&mut self, token_hash: &str, now: DateTime<Utc>) -> Result<bool> {
        let r = sqlx::query("UPDATE capture_handoffs SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
            .bind(ms(now))
            .bind(token_hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}
