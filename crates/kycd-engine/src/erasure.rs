//! Erasure: anonymizing (crypto-shredding the images, redacting personal data) and
//! deleting verifications, and sweeping orphaned blobs.

use crate::required::RequiredReads;
use crate::{Engine, EngineError, Principal, Result, refuse_if_held};
use chrono::{DateTime, Duration, Utc};
use kycd_core::{Actor, EventType, PersonData, TenantId, Verification, VerificationId, VerificationPrivate, VerificationStatus};
use kycd_store::{StoredBlob, Tx};

impl Engine {
    /// Erase personal data and images; keep ids, status, checks and the audit trail.
    pub async fn anonymize(&self, p: &Principal, id: &VerificationId) -> Result<Verification> {
        p.require_write()?;
        self.anonymize_as(&p.tenant_id, &p.actor(), id).await
    }

    /// Anonymize on behalf of `actor` (an API key, or the retention sweep). Refused while
    /// the verification is on legal hold.
    pub(crate) async fn anonymize_as(&self, tenant: &TenantId, actor: &Actor, id: &VerificationId) -> Result<Verification> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, tenant, id).await?;
        refuse_if_held(&v, "anonymized")?;
        if !v.status.is_final() {
            self.transition(&mut tx, &mut v, VerificationStatus::Cancelled, actor).await?;
        }
        let blobs: Vec<StoredBlob> = tx.list_captures(tenant, id).await?.into_iter().filter_map(|(_, b)| b).collect();
        tx.erase_capture_keys(tenant, id).await?;
        tx.delete_attempt_dialect_state(tenant, id).await?;
        // Callback state is the integrator's own words (URLs, a title): erased with the rest,
        // after the cancellation above queued its callbacks.
        for r in self.callback_renderers() {
            tx.delete_dialect_state(tenant, id.as_str(), r.kind()).await?;
        }
        let retention = tx.get_tenant(tenant).await?.map(|t| t.retention).unwrap_or_default();
        v.private = VerificationPrivate::default();
        // The reviewer's note and message are free text about the person; the decision,
        // its reason code and who made it stay.
        if let Some(r) = &mut v.review {
            r.erase_free_text();
        }
        tx.delete_review_proposal(tenant, id).await?;
        // Written before the message moved to the sealed data, a retry check carried it.
        for c in &mut v.checks {
            if let Some(f) = c.figures.as_object_mut() {
                f.remove("user_message");
            }
        }
        v.redacted = true;
        v.lifecycle.delete_after = Some(now + Duration::days(i64::from(retention.tombstone_days)));
        v.updated_at = now;
        tx.update_verification(&v).await?;
        if let Some(mut a) = tx.get_applicant(tenant, &v.applicant_id).await? {
            a.person = PersonData::default();
            a.external_applicant_id = None;
            a.redacted = true;
            a.updated_at = now;
            tx.update_applicant(&a).await?;
        }
        self.finish_erasure(tx, actor, EventType::Anonymized, &v, blobs, now).await?;
        Ok(v)
    }

    pub async fn delete(&self, p: &Principal, id: &VerificationId) -> Result<()> {
        p.require_write()?;
        self.delete_as(&p.tenant_id, &p.actor(), id).await
    }

    /// Delete on behalf of `actor` (an API key, or the tombstone sweep). Refused while the
    /// verification is on legal hold or being processed.
    pub(crate) async fn delete_as(&self, tenant: &TenantId, actor: &Actor, id: &VerificationId) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let v = tx.required_verification(tenant, id).await?;
        refuse_if_held(&v, "deleted")?;
        if v.status == VerificationStatus::Processing {
            return Err(EngineError::Conflict(
                "the verification is being processed; retry in a few seconds".into(),
            ));
        }
        let blobs: Vec<StoredBlob> = tx.list_captures(tenant, id).await?.into_iter().filter_map(|(_, b)| b).collect();
        tx.delete_verification(tenant, id).await?;
        self.finish_erasure(tx, actor, EventType::Deleted, &v, blobs, now).await
    }

    /// The end of an erasure: audited and announced as `event`, the purge of the tenant's
    /// leftovers scheduled, committed; then the blobs deleted.
    async fn finish_erasure(
        &self,
        mut tx: Tx<'_>,
        actor: &Actor,
        event: EventType,
        v: &Verification,
        blobs: Vec<StoredBlob>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        tx.audit(&v.tenant_id, actor, event.as_str(), v.id.as_str(), now).await?;
        self.emit_verification(&mut tx, event, v, None).await?;
        self.schedule_purge(&mut tx, &v.tenant_id).await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        // The wrapped data keys are gone with the commit, so the blobs are unreadable even
        // where a copy survives (backups); deleting them is the second line.
        for b in blobs {
            self.store.delete_blob(&b.blob_key).await?;
        }
        Ok(())
    }

    pub async fn sweep_orphans(&self, grace: Duration) -> Result<usize> {
        Ok(self.store.sweep_orphan_blobs(self.now(), grace).await?)
    }
}
