//! Data lifecycle: verifications that the person never finished expire, start tokens run
//! out, ended verifications are anonymized when their retention runs out (crypto-shredding:
//! the data keys go, so every copy of the ciphertext, backups included, is unreadable), and
//! tombstones are deleted a second period later. A legal hold stops both sweeps.
//!
//! The sweep is a job per tenant in the one job queue: it runs, then schedules its next
//! run, so it survives restarts and runs on whichever instance claims it.

use crate::required::RequiredReads;
use crate::{Engine, EngineError, Principal, Result};

/// The largest logo a tenant may set.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// A tenant's look on the capture page.
#[derive(Debug, Clone, Default)]
pub struct Branding {
    /// Accent colour, `#rrggbb` (lower case).
    pub colour: Option<String>,
    /// (media type, bytes).
    pub logo: Option<(String, Vec<u8>)>,
    /// Origins (`https://host[:port]`) that may show the capture pages in a frame.
    pub frame_ancestors: Vec<String>,
}

/// An origin a page may be framed by, as CSP `frame-ancestors` takes it: `https://` (or
/// `http://localhost`), a host (optionally `*.` for its subdomains), an optional port,
/// nothing else (no path, query, quote or space that could break out of the header).
pub fn valid_frame_origin(o: &str) -> bool {
    let rest = o.strip_prefix("https://").or_else(|| {
        o.strip_prefix("http://")
            .filter(|r| r.starts_with("localhost") || r.starts_with("127.0.0.1"))
    });
    let Some(rest) = rest else { return false };
    let (host, port) = rest.split_once(':').map_or((rest, None), |(h, p)| (h, Some(p)));
    let host = host.strip_prefix("*.").unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}
use chrono::{DateTime, Utc};
use kycd_core::*;
pub use kycd_store::JobRecord;

pub const JOB_SWEEP: &str = "lifecycle_sweep";
/// After erasures: make what they removed unreadable in the database files too.
pub const JOB_PURGE_ERASED: &str = "purge_erased";

/// How much one pass of one step takes at a time (each item is its own transaction).
const BATCH: usize = 200;
/// Finished jobs stay visible in `kycd jobs list` this long.
const FINISHED_JOBS_KEPT_DAYS: i64 = 7;
/// Finished webhook deliveries (and events no delivery needs) are kept this long for the
/// delivery log and redelivery, then forgotten.
pub const WEBHOOK_HISTORY_KEPT_DAYS: i64 = 30;

/// What a sweep of one tenant would do, or did.
#[derive(Debug, Clone, Default)]
pub struct SweepPlan {
    pub tenant_id: Option<TenantId>,
    /// Verifications still waiting for the person whose time to live ran out.
    pub expire: Vec<VerificationId>,
    /// Active attempts whose start token ran out.
    pub expire_attempts: Vec<(VerificationId, AttemptId)>,
    /// Ended verifications whose retention ran out.
    pub anonymize: Vec<VerificationId>,
    /// Tombstones whose second period ran out.
    pub delete: Vec<VerificationId>,
    /// Would be anonymized or deleted but are on legal hold.
    pub held: Vec<VerificationId>,
}

impl SweepPlan {
    pub fn total(&self) -> usize {
        self.expire.len() + self.expire_attempts.len() + self.anonymize.len() + self.delete.len()
    }
}

/// Counts of what a sweep did; `failed` lists items left for the next run, with why.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    pub expired: usize,
    pub attempts_expired: usize,
    pub anonymized: usize,
    pub deleted: usize,
    pub held: usize,
    pub failed: Vec<(String, String)>,
}

impl SweepReport {
    fn add(&mut self, o: &SweepReport) {
        self.expired += o.expired;
        self.attempts_expired += o.attempts_expired;
        self.anonymized += o.anonymized;
        self.deleted += o.deleted;
        self.held = o.held;
        self.failed.extend(o.failed.iter().cloned());
    }
}

impl Engine {
    /// What a sweep of this tenant would do now (`kycd purge --dry-run`); changes nothing.
    pub async fn plan_sweep(&self, tenant: &TenantId, limit: usize) -> Result<SweepPlan> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let plan = SweepPlan {
            tenant_id: Some(tenant.clone()),
            expire: tx.overdue_verifications(tenant, now, limit).await?,
            expire_attempts: tx.expired_attempts(tenant, now, limit).await?,
            anonymize: tx.due_for_anonymization(tenant, now, limit).await?,
            delete: tx.due_for_deletion(tenant, now, limit).await?,
            held: tx.held_from_sweep(tenant, now, limit).await?,
        };
        tx.commit().await?;
        Ok(plan)
    }

    /// Sweep one tenant until nothing is due; `progress` is called after each item with
    /// the number done so far. An item that fails is reported and left for the next run.
    pub async fn sweep_tenant(&self, tenant: &TenantId, progress: &(dyn Fn(usize) + Sync)) -> Result<SweepReport> {
        let mut total = SweepReport::default();
        let mut done = 0usize;
        loop {
            let plan = self.plan_sweep(tenant, BATCH).await?;
            let mut pass = SweepReport {
                held: plan.held.len(),
                ..SweepReport::default()
            };
            for id in &plan.expire {
                match self.expire_overdue(tenant, id).await {
                    Ok(true) => pass.expired += 1,
                    Ok(false) => {}
                    Err(e) => pass.failed.push((id.to_string(), e.to_string())),
                }
                done += 1;
                progress(done);
            }
            for (vid, aid) in &plan.expire_attempts {
                match self.expire_attempt(tenant, vid, aid).await {
                    Ok(true) => pass.attempts_expired += 1,
                    Ok(false) => {}
                    Err(e) => pass.failed.push((aid.to_string(), e.to_string())),
                }
                done += 1;
                progress(done);
            }
            for id in &plan.anonymize {
                match self.anonymize_as(tenant, &Actor::System, id).await {
                    Ok(_) => pass.anonymized += 1,
                    Err(e) => pass.failed.push((id.to_string(), e.to_string())),
                }
                done += 1;
                progress(done);
            }
            for id in &plan.delete {
                match self.delete_as(tenant, &Actor::System, id).await {
                    Ok(()) => pass.deleted += 1,
                    Err(e) => pass.failed.push((id.to_string(), e.to_string())),
                }
                done += 1;
                progress(done);
            }
            let acted = pass.expired + pass.attempts_expired + pass.anonymized + pass.deleted;
            let full = plan.expire.len() == BATCH
                || plan.expire_attempts.len() == BATCH
                || plan.anonymize.len() == BATCH
                || plan.delete.len() == BATCH;
            total.add(&pass);
            // Another pass only while full batches make progress (failures are not retried here).
            if !full || acted == 0 {
                return Ok(total);
            }
        }
    }

    /// Schedule the purge of what this transaction erases (one waiting per tenant is
    /// enough; two at once only purge twice).
    pub(crate) async fn schedule_purge(&self, tx: &mut kycd_store::Tx<'_>, tenant: &TenantId) -> Result<()> {
        if !tx.has_queued_job(tenant, JOB_PURGE_ERASED).await? {
            // Erasures within the delay (a sweep's batch, a burst of API calls) share it.
            tx.enqueue_job(tenant, JOB_PURGE_ERASED, "", self.now() + self.cfg.purge_delay)
                .await?;
        }
        Ok(())
    }

    /// Mark an overdue verification expired (with its event). False if it moved on meanwhile.
    async fn expire_overdue(&self, tenant: &TenantId, id: &VerificationId) -> Result<bool> {
        let mut tx = self.store.begin().await?;
        let Some(mut v) = tx.get_verification(tenant, id).await? else {
            return Ok(false);
        };
        if !v.is_overdue(self.now()) {
            return Ok(false);
        }
        self.transition(&mut tx, &mut v, VerificationStatus::Expired, &Actor::System)
            .await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        Ok(true)
    }

    /// Mark an attempt whose start token ran out expired (with its event).
    async fn expire_attempt(&self, tenant: &TenantId, vid: &VerificationId, aid: &AttemptId) -> Result<bool> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(mut a) = tx.get_attempt(tenant, vid, aid).await? else {
            return Ok(false);
        };
        if a.status != AttemptStatus::Active || now < a.token_expires_at {
            return Ok(false);
        }
        let Some(v) = tx.get_verification(tenant, vid).await? else {
            return Ok(false);
        };
        a.status = AttemptStatus::Expired;
        a.updated_at = now;
        tx.update_attempt(&a).await?;
        tx.audit(tenant, &Actor::System, "attempt.expired", aid.as_str(), now).await?;
        let attempt = serde_json::json!({"id": a.id, "token_expires_at": a.token_expires_at});
        self.emit_verification(&mut tx, EventType::AttemptExpired, &v, Some(("attempt", attempt)))
            .await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        Ok(true)
    }

    /// The sweep job: sweep the tenant, log what happened (counts only: no personal data).
    pub(crate) async fn run_sweep_job(&self, tenant: &TenantId) -> Result<()> {
        let r = self.sweep_tenant(tenant, &|_| {}).await?;
        let mut tx = self.store.begin().await?;
        tx.prune_finished_jobs(tenant, self.now() - chrono::Duration::days(FINISHED_JOBS_KEPT_DAYS))
            .await?;
        tx.prune_webhook_history(tenant, self.now() - chrono::Duration::days(WEBHOOK_HISTORY_KEPT_DAYS))
            .await?;
        // Capture sessions last an hour; their rows go once expired (only hashes are kept).
        tx.delete_expired_capture_sessions(tenant, self.now()).await?;
        tx.delete_expired_access_tokens(tenant, self.now()).await?;
        tx.commit().await?;
        if r.expired + r.attempts_expired + r.anonymized + r.deleted > 0 || !r.failed.is_empty() {
            tracing::info!(
                tenant = %tenant,
                expired = r.expired,
                attempts_expired = r.attempts_expired,
                anonymized = r.anonymized,
                deleted = r.deleted,
                held = r.held,
                failed = r.failed.len(),
                "lifecycle sweep"
            );
        }
        if let Some((id, e)) = r.failed.first() {
            return Err(EngineError::Internal(format!(
                "{} item(s) could not be swept, first {id}: {e}",
                r.failed.len()
            )));
        }
        Ok(())
    }

    /// Make sure every tenant has a sweep scheduled (at start; a tenant created by an older
    /// version, or whose sweep job failed for good, gets one again).
    pub async fn ensure_sweep_jobs(&self) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        for t in tx.list_tenants().await? {
            if !tx.has_open_job(&t.id, JOB_SWEEP).await? {
                tx.enqueue_job(&t.id, JOB_SWEEP, "", now).await?;
            }
        }
        tx.commit().await?;
        self.jobs_ready.notify_one();
        Ok(())
    }

    pub(crate) fn next_sweep_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.cfg.sweep_interval
    }

    /// The caller's tenant with its retention settings.
    pub async fn tenant(&self, p: &Principal) -> Result<Tenant> {
        let mut tx = self.store.begin().await?;
        let t = tx.required_tenant(&p.tenant_id).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Change the tenant's retention settings (admin keys only). Verifications that already
    /// ended keep the date they were given; the new settings apply from now on.
    pub async fn set_retention(&self, p: &Principal, r: RetentionSettings) -> Result<Tenant> {
        p.require_admin("change retention settings")?;
        r.validate().map_err(EngineError::Invalid)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.update_tenant_retention(&p.tenant_id, &r).await?;
        tx.audit(&p.tenant_id, &p.actor(), "tenant.retention.updated", p.tenant_id.as_str(), now)
            .await?;
        let t = tx.required_tenant(&p.tenant_id).await?;
        tx.commit().await?;
        Ok(t)
    }

    /// The tenant's capture page branding: accent colour and logo (media type, bytes).
    pub async fn branding(&self, p: &Principal) -> Result<Branding> {
        let mut tx = self.store.begin().await?;
        let (colour, logo) = tx.tenant_branding(&p.tenant_id).await?;
        let frame_ancestors = tx.tenant_frame_ancestors(&p.tenant_id).await?;
        tx.commit().await?;
        Ok(Branding {
            colour,
            logo,
            frame_ancestors,
        })
    }

    /// Set the capture page branding (admins only): `colour` as `#rrggbb`, `logo` a PNG,
    /// JPEG or WebP of at most 256 KiB and 1000 pixels a side; `None` removes either.
    pub async fn set_branding(
        &self,
        p: &Principal,
        colour: Option<&str>,
        logo: Option<Vec<u8>>,
        frame_ancestors: Vec<String>,
    ) -> Result<Branding> {
        p.require_admin("change the capture page branding")?;
        let frame_ancestors: Vec<String> = frame_ancestors.iter().map(|o| o.trim().to_ascii_lowercase()).collect();
        if frame_ancestors.len() > 10 {
            return Err(EngineError::Invalid("frame_ancestors takes at most 10 origins".into()));
        }
        if let Some(bad) = frame_ancestors.iter().find(|o| !valid_frame_origin(o)) {
            return Err(EngineError::Invalid(format!(
                "frame_ancestors: {:?} is not an origin: give https://host or https://host:port (https://*.example.com for subdomains), without a path",
                bad.chars().take(80).collect::<String>()
            )));
        }
        let colour = colour.map(str::trim).filter(|c| !c.is_empty());
        if let Some(c) = colour {
            let ok = c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(EngineError::Invalid(format!(
                    "colour must be #rrggbb (six hex digits, e.g. #0b57d0), not {:?}",
                    c.chars().take(20).collect::<String>()
                )));
            }
        }
        let logo = match logo {
            Some(bytes) => {
                if bytes.len() > MAX_LOGO_BYTES {
                    return Err(EngineError::TooLarge(format!(
                        "the logo is {} bytes; at most {MAX_LOGO_BYTES} (256 KiB): export it smaller",
                        bytes.len()
                    )));
                }
                let limits = kycd_checks::ImageLimits {
                    max_side: 1000,
                    max_pixels: 1_000_000,
                };
                let info = kycd_checks::inspect(&bytes, limits).map_err(|e| {
                    EngineError::Invalid(format!("the logo must be a PNG, JPEG or WebP of at most 1000 pixels a side: {e}"))
                })?;
                Some((info.media_type.as_str().to_owned(), bytes))
            }
            None => None,
        };
        let colour = colour.map(str::to_ascii_lowercase);
        let mut tx = self.store.begin().await?;
        tx.set_tenant_branding(
            &p.tenant_id,
            colour.as_deref(),
            logo.as_ref().map(|(t, b)| (t.as_str(), b.as_slice())),
        )
        .await?;
        tx.set_tenant_frame_ancestors(&p.tenant_id, &frame_ancestors).await?;
        tx.audit(
            &p.tenant_id,
            &p.actor(),
            "tenant.branding.updated",
            p.tenant_id.as_str(),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(Branding {
            colour,
            logo,
            frame_ancestors,
        })
    }

    /// The tenant's default policy: its current version (`None`: kycd's defaults, never
    /// set) and earlier versions, newest first.
    pub async fn tenant_policy(&self, p: &Principal) -> Result<(Option<u32>, Policy, Vec<kycd_store::TenantPolicyRecord>)> {
        let mut tx = self.store.begin().await?;
        let history = tx.tenant_policies(&p.tenant_id, 20).await?;
        tx.commit().await?;
        Ok(match history.first() {
            Some(r) => (Some(r.version), r.policy.clone(), history),
            None => (None, Policy::default(), history),
        })
    }

    /// Set a new version of the tenant's default policy (admins only): verifications
    /// created without a policy of their own use it from now on; existing ones keep theirs.
    pub async fn set_tenant_policy(&self, p: &Principal, policy: Policy) -> Result<u32> {
        p.require_admin("change the tenant's policy")?;
        policy.validate().map_err(EngineError::Invalid)?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let version = tx.insert_tenant_policy(&p.tenant_id, &policy, &p.actor(), now).await?;
        tx.audit(
            &p.tenant_id,
            &p.actor(),
            &format!("policy.set.v{version}"),
            p.tenant_id.as_str(),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Put a verification on legal hold, or lift the hold (admin keys only). While held,
    /// neither sweep touches it and it cannot be anonymized or deleted over the API.
    pub async fn set_legal_hold(&self, p: &Principal, id: &VerificationId, hold: bool) -> Result<Verification> {
        p.require_admin("set or lift a legal hold")?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, &p.tenant_id, id).await?;
        if v.lifecycle.legal_hold != hold {
            v.lifecycle.legal_hold = hold;
            v.updated_at = now;
            tx.update_verification(&v).await?;
            let action = if hold {
                "verification.legal_hold.set"
            } else {
                "verification.legal_hold.lifted"
            };
            tx.audit(&p.tenant_id, &p.actor(), action, id.as_str(), now).await?;
        }
        tx.commit().await?;
        if !hold {
            // A lifted hold may leave work due now: let the sweep look soon.
            self.jobs_ready.notify_one();
        }
        Ok(v)
    }

    /// Operator view (CLI): the newest jobs, optionally of one status.
    pub async fn list_jobs(&self, status: Option<&str>, limit: usize) -> Result<Vec<JobRecord>> {
        let mut tx = self.store.begin().await?;
        let jobs = tx.list_jobs(status, limit).await?;
        tx.commit().await?;
        Ok(jobs)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn frame_origins_are_plain_origins() {
        for ok in [
            "https://app.example.com",
            "https://*.example.org:8443",
            "http://localhost:3000",
            "https://a-b.c",
        ] {
            assert!(super::valid_frame_origin(ok), "{ok}");
        }
        for bad in [
            "https://app.example.com/path",
            "http://app.example.com",
            "https://",
            "https://a.com;script-src *",
            "https://a.com 'unsafe-inline'",
            "*",
            "https://a..com",
            "https://a.com:99999x",
        ] {
            assert!(!super::valid_frame_origin(bad), "{bad}");
        }
    }
}
