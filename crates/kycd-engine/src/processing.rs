//! Processing: submitting an attempt, the pipeline run, and the decision it leads to.

use crate::{Engine, EngineError, JOB_PROCESS, Principal, Result, duplicates};
use kycd_core::{
    Actor, AttemptId, AttemptStatus, Capture, CaptureFeedback, CaptureKind, FileId, MediaType, TenantId, Verification, VerificationId,
    VerificationStatus,
};
use kycd_store::StoredBlob;

impl Engine {
    pub async fn submit(&self, p: &Principal, id: &VerificationId) -> Result<Verification> {
        p.require_write()?;
        self.submit_as(&p.tenant_id, &p.actor(), id, None).await
    }

    /// Submit the live attempt (`only`: refuse unless it is that one).
    pub(crate) async fn submit_as(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        id: &VerificationId,
        only: Option<&AttemptId>,
    ) -> Result<Verification> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, tenant, id).await?;
        if !v.status.accepts_captures() {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; only a verification taking captures can be submitted",
                v.status
            )));
        }
        let attempts = tx.list_attempts(tenant, &v.id).await?;
        let Some(mut attempt) = attempts.into_iter().find(|a| a.status == AttemptStatus::Active) else {
            return Err(EngineError::Conflict(
                "there is no active attempt: upload the captures first".into(),
            ));
        };
        if only.is_some_and(|want| want != &attempt.id) {
            return Err(EngineError::Conflict(
                "a newer attempt replaced this one; open the newest link".into(),
            ));
        }
        let have: Vec<CaptureKind> = tx
            .list_captures(tenant, &v.id)
            .await?
            .into_iter()
            .filter(|(c, _)| c.attempt_id == attempt.id)
            .map(|(c, _)| c.kind)
            .collect();
        let missing: Vec<&str> = v
            .policy
            .required_captures(attempt.client.document_type)
            .into_iter()
            .filter(|k| !have.contains(k))
            .map(CaptureKind::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(EngineError::Invalid(format!(
                "the policy requires captures that are missing: {}; upload them, then submit",
                missing.join(", ")
            )));
        }
        attempt.status = AttemptStatus::Submitted;
        attempt.updated_at = now;
        tx.update_attempt(&attempt).await?;
        tx.audit(tenant, actor, "attempt.submitted", attempt.id.as_str(), now).await?;
        self.transition(&mut tx, &mut v, VerificationStatus::Processing, actor).await?;
        let run_at = now + self.mock_processing_delay(&mut tx, tenant, &v.id).await?;
        tx.enqueue_job(tenant, JOB_PROCESS, v.id.as_str(), run_at).await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        Ok(v)
    }

    /// The processing job: run what the pipeline can check today and decide the next state.
    pub async fn process_verification(&self, tenant: &TenantId, id: &VerificationId) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let Some(v) = tx.get_verification(tenant, id).await? else {
            return Ok(());
        };
        if v.status != VerificationStatus::Processing {
            return Ok(());
        }
        let attempts = tx.list_attempts(tenant, id).await?;
        let Some(attempt) = attempts.iter().rev().find(|a| a.status == AttemptStatus::Submitted) else {
            return Err(EngineError::Internal(
                "processing a verification without a submitted attempt".into(),
            ));
        };
        let captures: Vec<_> = tx
            .list_captures(tenant, id)
            .await?
            .into_iter()
            .filter(|(c, _)| c.attempt_id == attempt.id)
            .collect();
        let chosen = attempt.client.document_type;
        drop(tx);
        if let Some(pause) = self.cfg.pause_in_processing {
            tracing::warn!(verification = %id, "fault injection: processing paused");
            tokio::time::sleep(pause).await;
        }

        let mut blobs = Vec::new();
        for (c, blob) in &captures {
            let Some(blob) = blob else { continue };
            let bytes = self.store.get_blob(tenant, &c.id, &blob.blob_key, &blob.wrapped_key).await?;
            blobs.push((c.kind, c.id.to_string(), bytes));
        }
        let pipeline = self.pipeline();
        let policy = v.policy.clone();
        let declared = v.private.declared.clone();
        let today = self.now().date_naive();
        let started = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            let inputs: Vec<kycd_checks::pipeline::CaptureInput<'_>> = blobs
                .iter()
                .map(|(kind, file_id, bytes)| kycd_checks::pipeline::CaptureInput {
                    kind: *kind,
                    file_id,
                    bytes,
                })
                .collect();
            pipeline.run(&inputs, &policy, Some(&declared), chosen, today)
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        metrics::histogram!("kycd_processing_duration_seconds").record(started.elapsed().as_secs_f64());
        let checks = outcome.checks;
        let fingerprints = outcome.fingerprints;
        let portrait = match outcome.portrait_jpeg {
            Some(jpeg) => Some(self.store_portrait(tenant, &v, &attempt.id, jpeg).await?),
            None => None,
        };
        let extracted = (outcome.document.mrz.is_some() || outcome.document.barcode.is_some())
            .then(|| serde_json::to_value(&outcome.document).unwrap_or_default());

        let mut tx = self.store.begin().await?;
        let Some(mut v) = tx.get_verification(tenant, id).await? else {
            return Ok(());
        };
        if v.status != VerificationStatus::Processing {
            return Ok(());
        }
        if let Some((capture, blob)) = &portrait {
            // A reprocessed attempt keeps one portrait: the newest.
            for (old, old_blob) in tx.list_captures(tenant, id).await? {
                if old.attempt_id == attempt.id && old.kind == CaptureKind::DocumentPortrait {
                    tx.delete_capture(tenant, &old.id).await?;
                    if let Some(b) = old_blob {
                        let _ = self.store.delete_blob(&b.blob_key).await;
                    }
                }
            }
            tx.insert_capture(capture, blob).await?;
            tx.audit(
                tenant,
                &Actor::System,
                "capture.created.document_portrait",
                capture.id.as_str(),
                capture.created_at,
            )
            .await?;
        }
        let mut checks = checks;
        checks.extend(self.capture_override_check(&mut tx, tenant, &attempt.id).await?);
        checks.extend(duplicates::reuse_checks(&mut tx, &v, &fingerprints, self.now()).await?);
        let next = kycd_core::decide::decide(&checks, attempts.len() < v.policy.max_attempts as usize);
        v.checks = checks;
        v.private.extracted = extracted;
        let next = self.mock_outcome(&mut tx, &mut v).await?.unwrap_or(next);
        self.transition(&mut tx, &mut v, next, &Actor::System).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Encrypt and write the portrait cut from the document front; the row is inserted by
    /// the caller's transaction.
    pub(crate) async fn store_portrait(
        &self,
        tenant: &TenantId,
        v: &Verification,
        attempt: &AttemptId,
        jpeg: Vec<u8>,
    ) -> Result<(Capture, StoredBlob)> {
        let file_id = FileId::generate();
        let (width, height) = kycd_checks::inspect(&jpeg, self.cfg.image_limits).map_or((0, 0), |i| (i.width, i.height));
        let (blob_key, wrapped_key) = self.store.put_blob(tenant, &file_id, &jpeg).await?;
        let capture = Capture {
            id: file_id,
            tenant_id: tenant.clone(),
            verification_id: v.id.clone(),
            attempt_id: attempt.clone(),
            kind: CaptureKind::DocumentPortrait,
            media_type: MediaType::Jpeg,
            size: jpeg.len() as u64,
            sha256: kycd_checks::sha256_hex(&jpeg),
            feedback: CaptureFeedback {
                width,
                height,
                accepted: true,
                issues: Vec::new(),
                message: "the portrait kycd cut from the document front".into(),
            },
            available: true,
            created_at: self.now(),
        };
        Ok((capture, StoredBlob { blob_key, wrapped_key }))
    }
}
