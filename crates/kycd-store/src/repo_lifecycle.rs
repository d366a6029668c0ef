//! What the lifecycle sweeps look for (expiry, retention, tombstone deletion), and the
//! operator's view of the job queue. Every sweep query is scoped to one tenant.

use crate::repo::{id_pairs, parse};
use crate::{Result, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;

/// One row of the job queue, as `kycd jobs list` shows it.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub kind: String,
    /// The object the job works on (a verification or delivery id; never personal data).
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Tx<'_> {
    async fn ids_where(&mut self, sql: &str, tenant: &TenantId, now: DateTime<Utc>, limit: usize) -> Result<Vec<VerificationId>> {
        let rows = sqlx::query(sql)
            .bind(tenant.as_str())
            .bind(ms(now))
            .bind(limit as i64)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|r| parse(r.try_get("id")?, "verification id")).collect()
    }

    /// Verifications still waiting for the person whose time to live ran out.
    pub async fn overdue_verifications(&mut self, tenant: &TenantId, now: DateTime<Utc>, limit: usize) -> Result<Vec<VerificationId>> {
        self.ids_where(
            "SELECT id FROM verifications WHERE tenant_id = $1
             AND status IN ('created', 'pending', 'capture_in_progress', 'retry_required') AND expires_at <= $2
             ORDER BY expires_at, id LIMIT $3",
            tenant,
            now,
            limit,
        )
        .await
    }

    /// Active attempts whose start token's time ran out: (verification, attempt).
    pub async fn expired_attempts(
        &mut self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(VerificationId, AttemptId)>> {
        let rows = sqlx::query(
            "SELECT verification_id, id FROM attempts WHERE tenant_id = $1 AND status = 'active' AND token_expires_at <= $2
             ORDER BY token_expires_at, id LIMIT $3",
        )
        .bind(tenant.as_str())
        .bind(ms(now))
        .bind(limit as i64)
        .fetch_all(&mut *self.tx)
        .await?;
        id_pairs(&rows, ("verification_id", "verification id"), ("id", "attempt id"))
    }

    /// Ended verifications whose retention ran out, not on legal hold, not yet anonymized.
    pub async fn due_for_anonymization(&mut self, tenant: &TenantId, now: DateTime<Utc>, limit: usize) -> Result<Vec<VerificationId>> {
        self.ids_where(
            "SELECT id FROM verifications WHERE tenant_id = $1 AND redacted = 0 AND legal_hold = 0
             AND retain_until IS NOT NULL AND retain_until <= $2 ORDER BY retain_until, id LIMIT $3",
            tenant,
            now,
            limit,
        )
        .await
    }

    /// Tombstones whose second period ran out, not on legal hold.
    pub async fn due_for_deletion(&mut self, tenant: &TenantId, now: DateTime<Utc>, limit: usize) -> Result<Vec<VerificationId>> {
        self.ids_where(
            "SELECT id FROM verifications WHERE tenant_id = $1 AND redacted = 1 AND legal_hold = 0
             AND delete_after IS NOT NULL AND delete_after <= $2 ORDER BY delete_after, id LIMIT $3",
            tenant,
            now,
            limit,
        )
        .await
    }

    /// Verifications a sweep would act on but for their legal hold.
    pub async fn held_from_sweep(&mut self, tenant: &TenantId, now: DateTime<Utc>, limit: usize) -> Result<Vec<VerificationId>> {
        self.ids_where(
            "SELECT id FROM verifications WHERE tenant_id = $1 AND legal_hold = 1
             AND ((redacted = 0 AND retain_until IS NOT NULL AND retain_until <= $2)
                  OR (redacted = 1 AND delete_after IS NOT NULL AND delete_after <= $2))
             ORDER BY id LIMIT $3",
            tenant,
            now,
            limit,
        )
        .await
    }

    /// Whether a job of this kind waits to run for the tenant (a running one may have
    /// started before what the caller wants it to cover).
    pub async fn has_queued_job(&mut self, tenant: &TenantId, kind: &str) -> Result<bool> {
        self.has_job_in(tenant, kind, "('queued')").await
    }

    /// Whether a job of this kind is queued or running for the tenant.
    pub async fn has_open_job(&mut self, tenant: &TenantId, kind: &str) -> Result<bool> {
        self.has_job_in(tenant, kind, "('queued', 'running')").await
    }

    async fn has_job_in(&mut self, tenant: &TenantId, kind: &str, statuses: &'static str) -> Result<bool> {
        let sql = format!("SELECT COUNT(*) AS n FROM jobs WHERE tenant_id = $1 AND kind = $2 AND status IN {statuses}");
        let row = sqlx::query(&sql).bind(tenant.as_str()).bind(kind).fetch_one(&mut *self.tx).await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Forget finished jobs of the tenant last touched before `before` (failed ones stay
    /// for the operator to see).
    pub async fn prune_finished_jobs(&mut self, tenant: &TenantId, before: DateTime<Utc>) -> Result<u64> {
        let r = sqlx::query("DELETE FROM jobs WHERE tenant_id = $1 AND status = 'done' AND updated_at < $2")
            .bind(tenant.as_str())
            .bind(ms(before))
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected())
    }

    /// Operator view (CLI): the newest jobs of every tenant, optionally of one status.
    pub async fn list_jobs(&mut self, status: Option<&str>, limit: usize) -> Result<Vec<JobRecord>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, kind, payload, status, attempts, run_at, last_error, created_at, updated_at FROM jobs
             WHERE ($1 = '' OR status = $1) ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(status.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JobRecord {
                    id: parse(r.try_get("id")?, "job id")?,
                    tenant_id: parse(r.try_get("tenant_id")?, "tenant id")?,
                    kind: r.try_get("kind")?,
                    payload: r.try_get("payload")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    run_at: from_ms(r.try_get("run_at")?)?,
                    last_error: r.try_get("last_error")?,
                    created_at: from_ms(r.try_get("created_at")?)?,
                    updated_at: from_ms(r.try_get("updated_at")?)?,
                })
            })
            .collect()
    }
}
