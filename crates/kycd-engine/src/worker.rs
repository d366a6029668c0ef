//! The in-process job worker. Jobs live in SQL, so any instance may run any job; a
//! claim is a lease that its worker renews while it works, and a job whose worker died
//! (a killed instance) is claimed again by another one once the lease ends, within
//! [`LEASE`] seconds. Only the claim that holds a job may finish it.

use crate::{Engine, EngineError, JOB_PROCESS};
use chrono::Duration;
use kycd_core::VerificationId;
use std::time::Duration as StdDuration;
use tokio::sync::watch;

/// Seconds a claim holds a job without renewal; renewed every third of it.
pub const LEASE: i64 = 30;
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
        let work = async {
            match job.kind.as_str() {
                JOB_PROCESS => match job.payload.parse::<VerificationId>() {
                    Ok(id) => self.process_verification(&job.tenant_id, &id).await,
                    Err(e) => Err(EngineError::Internal(e.to_string())),
                },
                crate::webhooks::JOB_DELIVER => match job.payload.parse::<kycd_core::DeliveryId>() {
                    Ok(id) => self.deliver_webhook(&job.tenant_id, &id).await,
                    Err(e) => Err(EngineError::Internal(e.to_string())),
                },
                crate::callbacks::JOB_CALLBACK => match job.payload.parse::<kycd_core::DeliveryId>() {
                    Ok(id) => self.deliver_callback(&job.tenant_id, &id).await,
                    Err(e) => Err(EngineError::Internal(e.to_string())),
                },
                crate::lifecycle::JOB_SWEEP => self.run_sweep_job(&job.tenant_id).await,
                crate::lifecycle::JOB_PURGE_ERASED => Ok(self.store.purge_erased().await?),
                other => Err(EngineError::Internal(format!("unknown job kind {other}"))),
            }
        };
        let started = std::time::Instant::now();
        let result = self.renewing_lease(&job, work).await;
        metrics::histogram!("kycd_job_duration_seconds", "kind" => job.kind.clone()).record(started.elapsed().as_secs_f64());
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let held = match &result {
            Ok(()) => tx.finish_job(&job, now).await?,
            Err(e) => {
                tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempts, error = %e, "job failed");
                // A sweep is never retried as such: the next one is scheduled either way.
                let retry = (job.kind != crate::lifecycle::JOB_SWEEP && job.attempts < MAX_JOB_ATTEMPTS)
                    .then(|| now + Duration::seconds(2i64.pow(job.attempts as u32 + 1)));
                if retry.is_none() {
                    metrics::counter!("kycd_jobs_abandoned_total", "kind" => job.kind.clone()).increment(1);
                }
                tx.fail_job(&job, &e.to_string(), retry, now).await?
            }
        };
        if held {
            tracing::info!(job = %job.id, kind = %job.kind, attempts = job.attempts, ok = result.is_ok(), "job finished");
        }
        let outcome = match (&result, held) {
            (_, false) => "lease_lost",
            (Ok(()), true) => "ok",
            (Err(_), true) => "failed",
        };
        metrics::counter!("kycd_job_runs_total", "kind" => job.kind.clone(), "outcome" => outcome).increment(1);
        if !held {
            // The lease ran out and another worker holds the job now: its result counts.
            tracing::warn!(job = %job.id, kind = %job.kind, "job lease lost before it finished; result dropped");
        } else if job.kind == crate::lifecycle::JOB_SWEEP {
            tx.enqueue_job(&job.tenant_id, crate::lifecycle::JOB_SWEEP, "", self.next_sweep_at(now))
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Run `work`, renewing `job`'s lease every third of [`LEASE`] until it is done.
    async fn renewing_lease<T>(&self, job: &kycd_store::Job, work: impl std::future::Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        let every = StdDuration::from_secs(LEASE as u64 / 3);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = tick.tick() => {
                    let renewed = async {
                        let mut tx = self.store.begin().await?;
                        let held = tx.renew_job_lease(job, self.now() + Duration::seconds(LEASE)).await?;
                        tx.commit().await?;
                        Ok::<_, kycd_store::StoreError>(held)
                    };
                    match renewed.await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(job = %job.id, kind = %job.kind, "job lease taken over by another worker"),
                        Err(e) => tracing::warn!(job = %job.id, error = %e, "could not renew a job lease"),
                    }
                }
            }
        }
    }

    /// Work jobs until `shutdown` turns true.
    pub async fn run_worker(&self, mut shutdown: watch::Receiver<bool>) {
        if let Err(e) = self.ensure_sweep_jobs().await {
            tracing::error!(error = %e, "could not schedule the lifecycle sweeps");
        }
        let mut last_heartbeat = std::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                return;
            }
            if last_heartbeat.elapsed() >= kycd_store::HEARTBEAT_EVERY {
                last_heartbeat = std::time::Instant::now();
                if let Err(e) = self.store.heartbeat().await {
                    tracing::warn!(error = %e, "could not record this instance's heartbeat");
                }
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
