//! The in-process job workers. Jobs live in SQL, so any instance may run any job; a
//! claim is a lease that its worker renews while it works, and a job whose worker died
//! (a killed instance) is claimed again by another one once the lease ends, within
//! [`LEASE`] seconds. Only the claim that holds a job may finish it.
//!
//! Two pools of workers share the queue without sharing work: the processing pool (the
//! checks, lifecycle sweeps; by default one worker per core, as the checks are CPU work)
//! and the delivery pool (webhooks and dialect callbacks: waiting on other people's
//! servers, so many at once). A receiver that hangs until its timeout occupies delivery
//! workers only; no decision waits for it.

use crate::{Engine, EngineError, JOB_PROCESS};
use chrono::Duration;
use kycd_core::VerificationId;
use kycd_store::JobKinds;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use tokio::sync::{Notify, watch};

/// Seconds a claim holds a job without renewal; renewed every third of it.
pub const LEASE: i64 = 30;
const MAX_JOB_ATTEMPTS: i64 = 8;

/// The job kinds the delivery pool runs; the processing pool runs every other kind.
const DELIVERY_KINDS: &[&str] = &[crate::webhooks::JOB_DELIVER, crate::callbacks::JOB_CALLBACK];

/// How many workers each pool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    /// Verification processing, sweeps and purges: CPU work.
    pub processing: usize,
    /// Webhook and callback deliveries: waiting on the network.
    pub deliveries: usize,
}

impl Workers {
    /// Default delivery workers: each mostly waits on a receiver (up to its timeout).
    pub const DEFAULT_DELIVERIES: usize = 16;

    /// One processing worker per core, [`Self::DEFAULT_DELIVERIES`] delivery workers.
    pub fn default_for_this_machine() -> Self {
        Self {
            processing: std::thread::available_parallelism().map_or(1, usize::from),
            deliveries: Self::DEFAULT_DELIVERIES,
        }
    }
}

/// A pool of workers: which jobs it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    Processing,
    Deliveries,
}

impl Pool {
    fn kinds(self) -> JobKinds<'static> {
        match self {
            Self::Processing => JobKinds::Except(DELIVERY_KINDS),
            Self::Deliveries => JobKinds::Only(DELIVERY_KINDS),
        }
    }
}

/// Wakes idle workers when jobs are queued; each pool waits on its own signal, so a new
/// job for one pool is never taken as a wake-up by a worker of the other.
#[derive(Default)]
pub(crate) struct JobsReady {
    processing: Notify,
    deliveries: Notify,
}

impl JobsReady {
    /// A job was queued (of either kind): wake a worker of each pool.
    pub(crate) fn notify_one(&self) {
        self.processing.notify_one();
        self.deliveries.notify_one();
    }

    fn of(&self, pool: Pool) -> &Notify {
        match pool {
            Pool::Processing => &self.processing,
            Pool::Deliveries => &self.deliveries,
        }
    }
}

/// Resolves once `shutdown` is true (or its sender is gone).
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

impl Engine {
    /// Run one due job of `pool` if there is one; returns whether one ran. A delivery in
    /// flight when `shutdown` turns true is given back to the queue (it runs again, on
    /// this instance's next start or another instance: receivers deduplicate on the
    /// `webhook-id`); processing jobs run to their end.
    pub async fn run_one_job(&self, pool: Pool, shutdown: &watch::Receiver<bool>) -> Result<bool, EngineError> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(job) = tx.claim_job(now, now + Duration::seconds(LEASE), pool.kinds()).await? else {
            return Ok(false);
        };
        tx.commit().await?;
        // There may be more: let another idle worker of this pool look.
        self.jobs_ready.of(pool).notify_one();
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
        let result = match pool {
            Pool::Processing => self.renewing_lease(&job, work).await,
            Pool::Deliveries => {
                tokio::select! {
                    r = self.renewing_lease(&job, work) => r,
                    () = stopped(shutdown.clone()) => {
                        let now = self.now();
                        let mut tx = self.store.begin().await?;
                        let released = tx.release_job(&job, now).await?;
                        tx.commit().await?;
                        tracing::info!(job = %job.id, kind = %job.kind, released, "stopping: delivery given back to the queue");
                        return Ok(true);
                    }
                }
            }
        };
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

    /// Run the worker pools until `shutdown` turns true, and the instance's heartbeat.
    /// Returns once every worker stopped (processing jobs in flight finish first).
    pub async fn run_workers(self: Arc<Self>, workers: Workers, shutdown: watch::Receiver<bool>) {
        if let Err(e) = self.ensure_sweep_jobs().await {
            tracing::error!(error = %e, "could not schedule the lifecycle sweeps");
        }
        tracing::info!(
            processing = workers.processing,
            deliveries = workers.deliveries,
            "job workers started"
        );
        let mut set = tokio::task::JoinSet::new();
        {
            let (engine, shutdown) = (self.clone(), shutdown.clone());
            set.spawn(async move { engine.heartbeat(shutdown).await });
        }
        for (pool, n) in [(Pool::Processing, workers.processing), (Pool::Deliveries, workers.deliveries)] {
            for index in 0..n.max(1) {
                let (engine, shutdown) = (self.clone(), shutdown.clone());
                set.spawn(async move { engine.work(pool, index, shutdown).await });
            }
        }
        while let Some(done) = set.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "a job worker stopped unexpectedly");
            }
        }
    }

    /// Record that this instance is alive, every [`kycd_store::HEARTBEAT_EVERY`].
    async fn heartbeat(&self, shutdown: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(kycd_store::HEARTBEAT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        let mut stop = std::pin::pin!(stopped(shutdown));
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = every.tick() => {
                    if let Err(e) = self.store.heartbeat().await {
                        tracing::warn!(error = %e, "could not record this instance's heartbeat");
                    }
                }
            }
        }
    }

    /// One worker of `pool`: jobs until `shutdown` turns true. Idle, the first worker of
    /// a pool looks for due jobs every 0.5 s (jobs queued by other instances, retries
    /// coming due); the others wait to be woken (a job queued here, or a worker that
    /// claimed one and leaves the next to them), looking by themselves only every 5 s, so
    /// that an idle pool of many workers does not poll the database many times a second.
    async fn work(&self, pool: Pool, index: usize, shutdown: watch::Receiver<bool>) {
        let idle = StdDuration::from_millis(if index == 0 { 500 } else { 5_000 });
        let mut stop = std::pin::pin!(stopped(shutdown.clone()));
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.run_one_job(pool, &shutdown).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "job queue unavailable"),
            }
            tokio::select! {
                _ = self.jobs_ready.of(pool).notified() => {}
                _ = tokio::time::sleep(idle) => {}
                () = &mut stop => return,
            }
        }
    }
}
