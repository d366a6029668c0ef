//! The job queue: leased claims, so that a job's effect happens once whatever the workers
//! and instances do.

use crate::repo::{Columns, FromRow, statement};
use crate::{Result, Store, Tx, ms};
use chrono::{DateTime, Utc};
use kycd_core::*;
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
}

/// Which jobs a worker takes: each pool of workers claims its own kinds, so that a pool
/// busy with slow work (webhook receivers that hang) never holds up the others.
#[derive(Debug, Clone, Copy)]
pub enum JobKinds<'a> {
    All,
    Only(&'a [&'a str]),
    Except(&'a [&'a str]),
}

impl FromRow for Job {
    fn from_row(_: &Store, row: &AnyRow) -> Result<Self> {
        Ok(Job {
            id: row.parsed("id", "job id")?,
            tenant_id: row.tenant_id()?,
            kind: row.try_get("kind")?,
            payload: row.try_get("payload")?,
            attempts: row.try_get("attempts")?,
        })
    }
}

impl Tx<'_> {
    pub async fn enqueue_job(&mut self, tenant: &TenantId, kind: &str, payload: &str, run_at: DateTime<Utc>) -> Result<JobId> {
        let id = JobId::generate();
        self.execute(
            "INSERT INTO jobs (id, tenant_id, kind, payload, status, run_at, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'queued', $5, 0, $5, $5)",
            (id.as_str(), tenant.as_str(), kind, payload, ms(run_at)),
        )
        .await?;
        Ok(id)
    }

    /// Claim one due job of the `kinds` wanted, leasing it until `lease_until`. A job
    /// whose lease ran out (its worker died) is claimable again. On PostgreSQL,
    /// `SKIP LOCKED` lets many workers and instances claim concurrently with each job run
    /// once; SQLite's write lock (`BEGIN IMMEDIATE`) serialises the claims.
    pub async fn claim_job(&mut self, now: DateTime<Utc>, lease_until: DateTime<Utc>, kinds: JobKinds<'_>) -> Result<Option<Job>> {
        let lock = match self.store.backend() {
            crate::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            crate::Backend::Sqlite => "",
        };
        let (not, list) = match kinds {
            JobKinds::All => ("NOT", &[][..]),
            JobKinds::Only(list) => ("", list),
            JobKinds::Except(list) => ("NOT", list),
        };
        // `kind NOT IN ('')` for every kind: no job has an empty kind.
        let placeholders = if list.is_empty() {
            "''".to_owned()
        } else {
            (0..list.len()).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(", ")
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', locked_until = $1, attempts = attempts + 1, updated_at = $2
             WHERE id = (SELECT id FROM jobs WHERE ((status = 'queued' AND run_at <= $2) OR (status = 'running' AND locked_until < $2))
                           AND kind {not} IN ({placeholders})
                         ORDER BY run_at LIMIT 1 {lock})
             RETURNING id, tenant_id, kind, payload, attempts"
        );
        let mut q = statement(&sql, (ms(lease_until), ms(now)));
        for k in list {
            q = q.bind(*k);
        }
        let row = self.tx.fetch_optional(q).await?;
        row.map(|r| Job::from_row(self.store, &r)).transpose()
    }

    /// Give a claimed job back unfinished (its worker is stopping): claimable again now,
    /// by any worker, without waiting for the lease to run out; its last error says so.
    /// `false` when the claim no longer held it.
    pub async fn release_job(&mut self, job: &Job, now: DateTime<Utc>) -> Result<bool> {
        self.fail_job(job, "given back unfinished: its instance was stopping", Some(now), now)
            .await
    }

    /// Extend a claimed job's lease while its worker is still at it; `false` when the
    /// claim no longer holds the job.
    pub async fn renew_job_lease(&mut self, job: &Job, lease_until: DateTime<Utc>) -> Result<bool> {
        let r = self
            .rows_affected(
                "UPDATE jobs SET locked_until = $1 WHERE id = $2 AND status = 'running' AND attempts = $3",
                (ms(lease_until), job.id.as_str(), job.attempts),
            )
            .await?;
        Ok(r == 1)
    }

    /// Mark a claimed job done. Only the claim that holds the job counts: when its lease
    /// ran out and another worker claimed the job again (`attempts` moved on), this one's
    /// result is dropped and `false` returned, so a job is finished once in effect.
    pub async fn finish_job(&mut self, job: &Job, now: DateTime<Utc>) -> Result<bool> {
        let r = self
            .rows_affected(
                "UPDATE jobs SET status = 'done', locked_until = NULL, updated_at = $1
             WHERE id = $2 AND status = 'running' AND attempts = $3",
                (ms(now), job.id.as_str(), job.attempts),
            )
            .await?;
        Ok(r == 1)
    }

    /// Record a failure of a claimed job: retry at `retry_at`, or give up (`None`). Like
    /// [`Self::finish_job`], only the claim that holds the job counts.
    pub async fn fail_job(&mut self, job: &Job, error: &str, retry_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<bool> {
        let (status, run_at) = match retry_at {
            Some(t) => ("queued", ms(t)),
            None => ("failed", ms(now)),
        };
        let r = self
            .rows_affected(
                "UPDATE jobs SET status = $1, run_at = $2, locked_until = NULL, last_error = $3, updated_at = $4
             WHERE id = $5 AND status = 'running' AND attempts = $6",
                (status, run_at, error, ms(now), job.id.as_str(), job.attempts),
            )
            .await?;
        Ok(r == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new in-memory store (SQLite and blobs) with a random master key, the time the
    /// test starts at, and the tenant of its jobs.
    async fn set_up() -> (crate::Store, DateTime<Utc>, TenantId) {
        let db = crate::Database::connect("sqlite::memory:").await.unwrap();
        db.migrate().await.unwrap();
        let store = db
            .unlock(
                crate::crypto::MasterKey::generate().0,
                std::sync::Arc::new(object_store::memory::InMemory::new()),
            )
            .await
            .unwrap();
        (store, Utc::now(), TenantId::generate())
    }

    fn s(seconds: i64) -> chrono::Duration {
        chrono::Duration::seconds(seconds)
    }

    /// A worker whose lease ran out (it stalled) must not finish a job that another
    /// worker claimed since: only the current claim's result counts.
    #[tokio::test]
    async fn only_the_claim_holding_a_job_finishes_it() {
        let (store, t0, tenant) = set_up().await;
        let mut tx = store.begin().await.unwrap();
        tx.enqueue_job(&tenant, "process", "x", t0).await.unwrap();
        let stalled = tx.claim_job(t0, t0 + s(10), JobKinds::All).await.unwrap().unwrap();
        assert!(
            tx.claim_job(t0 + s(1), t0 + s(11), JobKinds::All).await.unwrap().is_none(),
            "leased"
        );
        let current = tx.claim_job(t0 + s(11), t0 + s(21), JobKinds::All).await.unwrap().unwrap();
        assert_eq!(
            (stalled.id.as_str(), stalled.attempts, current.attempts),
            (current.id.as_str(), 1, 2)
        );
        assert!(
            !tx.finish_job(&stalled, t0 + s(12)).await.unwrap(),
            "the stalled claim lost the job"
        );
        assert!(!tx.fail_job(&stalled, "late", None, t0 + s(12)).await.unwrap());
        assert!(
            !tx.renew_job_lease(&stalled, t0 + s(40)).await.unwrap(),
            "no renewal for a lost claim"
        );
        assert!(tx.renew_job_lease(&current, t0 + s(40)).await.unwrap());
        assert!(
            tx.claim_job(t0 + s(30), t0 + s(50), JobKinds::All).await.unwrap().is_none(),
            "renewed lease holds"
        );
        assert!(tx.finish_job(&current, t0 + s(13)).await.unwrap());
        assert!(!tx.finish_job(&current, t0 + s(14)).await.unwrap(), "finished once");
        assert!(
            tx.claim_job(t0 + s(100), t0 + s(110), JobKinds::All).await.unwrap().is_none(),
            "done for good"
        );
        tx.commit().await.unwrap();
    }

    /// Each pool claims only its own kinds; a released job is claimable again at once.
    #[tokio::test]
    async fn pools_claim_their_own_kinds_and_a_released_job_comes_back() {
        let (store, t0, tenant) = set_up().await;
        let deliveries: &[&str] = &["deliver_webhook", "deliver_callback"];
        let mut tx = store.begin().await.unwrap();
        // The delivery is older: a single queue would hand it out first.
        tx.enqueue_job(&tenant, "deliver_webhook", "d", t0 - s(5)).await.unwrap();
        tx.enqueue_job(&tenant, "process", "p", t0).await.unwrap();
        let p = tx.claim_job(t0, t0 + s(30), JobKinds::Except(deliveries)).await.unwrap().unwrap();
        assert_eq!(p.kind, "process");
        assert!(tx.claim_job(t0, t0 + s(30), JobKinds::Except(deliveries)).await.unwrap().is_none());
        let d = tx.claim_job(t0, t0 + s(30), JobKinds::Only(deliveries)).await.unwrap().unwrap();
        assert_eq!(d.kind, "deliver_webhook");
        assert!(tx.claim_job(t0, t0 + s(30), JobKinds::Only(deliveries)).await.unwrap().is_none());
        // Stopping mid-delivery: the job goes back before its lease ends.
        assert!(tx.release_job(&d, t0 + s(1)).await.unwrap());
        assert!(!tx.release_job(&d, t0 + s(1)).await.unwrap(), "released once");
        let again = tx
            .claim_job(t0 + s(2), t0 + s(32), JobKinds::Only(deliveries))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((again.id.as_str(), again.attempts), (d.id.as_str(), 2));
        assert!(!tx.finish_job(&d, t0 + s(3)).await.unwrap(), "the released claim cannot finish it");
        assert!(tx.finish_job(&again, t0 + s(3)).await.unwrap());
        tx.commit().await.unwrap();
    }
}
