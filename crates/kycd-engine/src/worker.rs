//! The in-process job worker. Jobs live in SQL, so any instance may run any job; a
//! claim is a lease, and a job whose worker died is claimed again when its lease ends.

use crate::{Engine, EngineError, JOB_PROCESS};
use chrono::Duration;
use kycd_core::VerificationId;
use std::time::Duration as StdDuration;
use tokio::sync::watch;

const LEASE: i64 = 300;
const MAX_JOB_ATTEMPTS: i64 = 8;

impl Engine {
    /// Run one due job if there is one; returns whether one ran.
    pub async fn run_one_job(&self) -> Result<bool, EngineError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(job) = tx.claim_job(now, now + Duration::seconds(LEASE)).await? else {
            return Ok(false);
        };
        tx.commit().await?;
        let result = match job.kind.as_str() {
            JOB_PROCESS => match job.payload.parse::<VerificationId>() {
                Ok(id) => self.process_verification(&job.tenant_id, &id).await,
                Err(e) => Err(EngineError::Internal(e.to_string())),
            },
            crate::webhooks::JOB_DELIVER => match job.payload.parse::<kycd_core::DeliveryId>() {
                Ok(id) => self.deliver_webhook(&job.tenant_id, &id).await,
                Err(e) => Err(EngineError::Internal(e.to_string())),
            },
            crate::lifecycle::JOB_SWEEP => self.run_sweep_job(&job.tenant_id).await,
            other => Err(EngineError::Internal(format!("unknown job kind {other}"))),
        };
        let now = self.now();
        let mut tx = self.store.begin().await?;
        if job.kind == crate::lifecycle::JOB_SWEEP {
            // A sweep is never retried as such: the next one is scheduled either way.
            tx.enqueue_job(&job.tenant_id, crate::lifecycle::JOB_SWEEP, "", self.next_sweep_at(now))
                .await?;
            match &result {
                Ok(()) => tx.finish_job(&job.id, now).await?,
                Err(e) => {
                    tracing::warn!(job = %job.id, kind = %job.kind, error = %e, "job failed");
                    tx.fail_job(&job.id, &e.to_string(), None, now).await?;
                }
            }
            tx.commit().await?;
            return Ok(true);
        }
        match result {
            Ok(()) => tx.finish_job(&job.id, now).await?,
            Err(e) => {
                tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempts, error = %e, "job failed");
                let retry = (job.attempts < MAX_JOB_ATTEMPTS).then(|| now + Duration::seconds(2i64.pow(job.attempts as u32 + 1)));
                tx.fail_job(&job.id, &e.to_string(), retry, now).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Work jobs until `shutdown` turns true.
    pub async fn run_worker(&self, mut shutdown: watch::Receiver<bool>) {
        if let Err(e) = self.ensure_sweep_jobs().await {
            tracing::error!(error = %e, "could not schedule the lifecycle sweeps");
        }
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.run_one_job().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "job queue unavailable"),
            }
            tokio::select! {
                _ = self.jobs_ready.notified() => {}
                _ = tokio::time::sleep(StdDuration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
