//! What the lifecycle sweeps look for (expiry, retention, tombstone deletion), and the
//! operator's view of the job queue. Every sweep query is scoped to one tenant.

use crate::repo::{FromRow, id_pairs};
use crate::repo_jobs::Job;
use crate::{Result, Store, Tx, from_ms, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

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

// The sweeps' queries of verification ids: each takes the tenant (`$1`), the time of the
// sweep (`$2`) and how many ids at most (`$3`).

const OVERDUE: &str = "SELECT id FROM verifications WHERE tenant_id = $1
             AND status IN ('created', 'pending', 'capture_in_progress', 'retry_required') AND expires_at <= $2
             ORDER BY expires_at, id LIMIT $3";

const DUE_FOR_ANONYMIZATION: &str = "SELECT id FROM verifications WHERE tenant_id = $1 AND redacted = 0 AND legal_hold = 0
             AND retain_until IS NOT NULL AND retain_until <= $2 ORDER BY retain_until, id LIMIT $3";

const DUE_FOR_DELETION: &str = "SELECT id FROM verifications WHERE tenant_id = $1 AND redacted = 1 AND legal_hold = 0
             AND delete_after IS NOT NULL AND delete_after <= $2 ORDER BY delete_after, id LIMIT $3";

const HELD_FROM_SWEEP: &str = "SELECT id FROM verifications WHERE tenant_id = $1 AND legal_hold = 1
             AND ((redacted = 0 AND retain_until IS NOT NULL AND retain_until <= $2)
                  OR (redacted = 1 AND delete_after IS NOT NULL AND delete_after <= $2))
             ORDER BY id LIMIT $3";

impl Tx<'_> {
    /// The ids a sweep's query finds.
    async fn ids_where(&mut self, sql: &str, tenant: &TenantId, now: DateTime<Utc>, limit: usize) -> Result<Vec<VerificationId>> {
        self.fetch_ids(sql, (tenant.as_str(), ms(now), limit as i64), "verification id")
            .await
    }

    /// Verifications still waiting for the person whose time to live ran out.
    pub async fn overdue_verifications(&mut self, tenant: &TenantId, now: DateTime<Utc>, limit: usize) -> Result<Vec<VerificationId>> {
        self.ids_where(OVERDUE, tenant, now, limit).await
    }

    /// Active attempts whose start token's time ran out: (verification, attempt).
    pub async fn expired_attempts(
        &mut self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(VerificationId, AttemptId)>> {
        let rows = self
            .fetch_all(
                "SELECT verification_id, id FROM attempts WHERE tenant_id = $1 AND status = 'active' AND token_expires_at <= $2
             ORDER BY token_expires_at, id LIMIT $3",
                (tenant.as_str(), ms(now), limit as i64),
            )
            .await?;
        id_pairs(&rows, ("verification_id", "verification id"), ("id", "attempt id"))
    }

    /// Ended verifications whose retention ran out, not on legal hold, not yet anonymized.
    pub async fn due_for_anonymization(&mut self, tenant: &TenantId, now: DateTime<Utc>, limit: usize) -> Result<Vec<VerificationId>> {
        self.ids_where(DUE_FOR_ANONYMIZATION, tenant, now, limit).await
    }

    /// Tombstones whose second period ran out, not on legal hold.
    pub async fn due_for_deletion(&mut self, tenant: &TenantId, now: DateTime<Utc>, limit: usize) -> Result<Vec<VerificationId>> {
        self.ids_where(DUE_FOR_DELETION, tenant, now, limit).await
    }

    /// Verifications a sweep would act on but for their legal hold.
    pub async fn held_from_sweep(&mut self, tenant: &TenantId, now: DateTime<Utc>, limit: usize) -> Result<Vec<VerificationId>> {
        self.ids_where(HELD_FROM_SWEEP, tenant, now, limit).await
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
        let row = self.fetch_one(&sql, (tenant.as_str(), kind)).await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Forget finished jobs of the tenant last touched before `before` (failed ones stay
    /// for the operator to see).
    pub async fn prune_finished_jobs(&mut self, tenant: &TenantId, before: DateTime<Utc>) -> Result<u64> {
        self.rows_affected(
            "DELETE FROM jobs WHERE tenant_id = $1 AND status = 'done' AND updated_at < $2",
            (tenant.as_str(), ms(before)),
        )
        .await
    }

    /// Operator view (CLI): the newest jobs of every tenant, optionally of one status.
    pub async fn list_jobs(&mut self, status: Option<&str>, limit: usize) -> Result<Vec<JobRecord>> {
        self.find_all(
            "SELECT id, tenant_id, kind, payload, status, attempts, run_at, last_error, created_at, updated_at FROM jobs
             WHERE ($1 = '' OR status = $1) ORDER BY created_at DESC, id DESC LIMIT $2",
            (status.unwrap_or(""), limit as i64),
        )
        .await
    }
}

/// A job's record: the job as a worker claims it, and where it stands.
impl FromRow for JobRecord {
    fn from_row(store: &Store, r: &AnyRow) -> Result<Self> {
        let Job {
            id,
            tenant_id,
            kind,
            payload,
            attempts,
        } = Job::from_row(store, r)?;
        Ok(JobRecord {
            id,
            tenant_id,
            kind,
            payload,
            status: r.try_get("status")?,
            attempts,
            run_at: from_ms(r.try_get("run_at")?)?,
            last_error: r.try_get("last_error")?,
            created_at: from_ms(r.try_get("created_at")?)?,
            updated_at: from_ms(r.try_get("updated_at")?)?,
        })
    }
}
