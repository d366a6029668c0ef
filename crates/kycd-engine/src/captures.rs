//! Captures: uploads checked at the edge, encrypted and kept; listing and reading them back.

use crate::{BlobStream, Engine, EngineError, HEIC_OFF, Principal, Result, Upload, decode_permits, liveness};
use chrono::{DateTime, Utc};
use kycd_checks::ImageError;
use kycd_core::{
    Actor, AttemptId, AttemptStatus, Capture, CaptureKind, ClientInfo, EventType, FileId, LivenessChallengeId, TenantId, VerificationId,
    VerificationStatus,
};
use kycd_store::{StoredBlob, Tx};

/// A capture's stream read whole, for the answers that need the whole file at once (a
/// base64 text, one frame cut from a liveness burst); downloads stream instead.
pub async fn read_whole(stream: BlobStream) -> Result<Vec<u8>> {
    use futures::TryStreamExt;
    Ok(stream.map_ok(|b| b.to_vec()).try_concat().await?)
}

impl Engine {
    pub async fn add_capture(&self, p: &Principal, id: &VerificationId, kind: CaptureKind, bytes: Vec<u8>) -> Result<Capture> {
        p.require_write()?;
        self.add_capture_as(&p.tenant_id, &p.actor(), id, kind, bytes, None).await
    }

    /// The one upload path (API, dialects, hosted capture page): size, decode and quality
    /// feedback, then the blob and its row. `only` (the capture page) refuses unless that
    /// attempt is the verification's live one; without it a live attempt is found or opened.
    pub(crate) async fn add_capture_as(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        id: &VerificationId,
        kind: CaptureKind,
        bytes: Vec<u8>,
        only: Option<&AttemptId>,
    ) -> Result<Capture> {
        // Parsing user input already refuses derived kinds; this holds for every caller.
        if kind.is_derived() {
            return Err(EngineError::Invalid(
                "kind document_portrait is cut by kycd from the document front; upload document_front, document_back or selfie".into(),
            ));
        }
        if kind == CaptureKind::LivenessBurst {
            return Err(liveness::burst_needs_challenge());
        }
        self.admit_upload(tenant, id, bytes.len(), "compress or downscale the image")?;
        if !self.cfg.heic && kycd_checks::heic::is_heif(&bytes) {
            return Err(EngineError::UnsupportedMedia(HEIC_OFF.into()));
        }
        metrics::counter!("kycd_uploads_total", "kind" => kind.to_string()).increment(1);
        metrics::counter!("kycd_upload_bytes_total", "kind" => kind.to_string()).increment(bytes.len() as u64);
        let limits = self.cfg.image_limits;
        // Wait for this decode's share of the memory budget (header only, no pixels yet).
        let permits = decode_permits(kycd_checks::decode_cost(&bytes, limits), self.cfg.decode_memory_mib.max(1));
        let decoding = self
            .decode_budget
            .acquire_many(permits)
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let pipeline = self.pipeline();
        // Decode and judge while the person waits (a selfie's face detection included).
        let (bytes, inspected) = tokio::task::spawn_blocking(move || {
            // A HEIC photo is converted here and stored as that JPEG (kycd_checks::heic).
            let bytes = match kycd_checks::heic::normalise(bytes, limits) {
                Ok(b) => b,
                Err(e) => return (Vec::new(), Err(e)),
            };
            let r = kycd_checks::inspect(&bytes, limits).map(|info| (pipeline.feedback(kind, &bytes, &info), info));
            (bytes, r)
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        drop(decoding);
        let (feedback, info) = inspected.map_err(|e| match e {
            ImageError::Empty => {
                EngineError::Invalid("the request body is empty: send the image bytes (raw body or multipart field 'file')".into())
            }
            ImageError::UnsupportedType => EngineError::UnsupportedMedia(format!("{e}; send a JPEG, PNG, WebP or HEIC image")),
            ImageError::HeicNotBuilt => EngineError::UnsupportedMedia(e.to_string()),
            ImageError::TooManyPixels { .. } | ImageError::Corrupt(_) => EngineError::UnprocessableImage(e.to_string()),
        })?;

        let upload = Upload {
            kind,
            media_type: info.media_type,
            bytes,
            feedback,
        };
        self.store_upload(tenant, actor, id, upload, only, None).await
    }

    /// What every upload passes before its bytes are looked at: the size limit (`advice`
    /// says how to get under it) and the tenant's upload rate.
    pub(crate) fn admit_upload(&self, tenant: &TenantId, id: &VerificationId, len: usize, advice: &str) -> Result<()> {
        if len > self.cfg.max_upload_bytes {
            return Err(EngineError::TooLarge(format!(
                "the upload is {len} bytes; the limit is {} bytes: {advice}",
                self.cfg.max_upload_bytes
            )));
        }
        self.rate_limits.admit_upload(tenant, id)
    }

    /// Keep a checked upload: find (or open) the live attempt, write the blob before any
    /// row points at it, then commit its row (spending `challenge`, a burst's liveness
    /// challenge, in the same transaction).
    pub(crate) async fn store_upload(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        id: &VerificationId,
        upload: Upload,
        only: Option<&AttemptId>,
        challenge: Option<&LivenessChallengeId>,
    ) -> Result<Capture> {
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, tenant, id).await?;
        if !v.status.accepts_captures() {
            tx.commit().await?;
            return Err(EngineError::Conflict(format!(
                "the verification is {}; captures can no longer be added",
                v.status
            )));
        }
        let attempts = tx.list_attempts(tenant, &v.id).await?;
        let attempt = match (attempts.into_iter().find(|a| a.status == AttemptStatus::Active), only) {
            (Some(a), Some(want)) if &a.id != want => {
                tx.commit().await?;
                return Err(EngineError::Conflict(
                    "a newer attempt replaced this one; open the newest link".into(),
                ));
            }
            (Some(a), _) => a,
            (None, Some(_)) => {
                tx.commit().await?;
                return Err(EngineError::Conflict("this attempt is closed; it takes no more captures".into()));
            }
            (None, None) => self.open_attempt(&mut tx, &mut v, ClientInfo::default(), actor).await?.attempt,
        };
        tx.commit().await?;

        let now = self.now();
        let file_id = FileId::generate();
        let bytes = upload.bytes;
        let (blob_key, wrapped_key) = self.store.put_blob(tenant, &file_id, &bytes).await?;
        if self.cfg.crash_after_blob_write {
            std::process::abort();
        }
        let capture = Capture {
            id: file_id,
            tenant_id: tenant.clone(),
            verification_id: v.id.clone(),
            attempt_id: attempt.id.clone(),
            kind: upload.kind,
            media_type: upload.media_type,
            size: bytes.len() as u64,
            sha256: kycd_checks::sha256_hex(&bytes),
            feedback: upload.feedback,
            available: true,
            created_at: now,
        };
        let blob = StoredBlob { blob_key, wrapped_key };
        match self.record_capture(tenant, actor, &capture, &blob, challenge).await {
            Ok(replaced) => {
                for old in replaced {
                    // Best effort: a blob left behind here is an orphan the sweeper removes.
                    let _ = self.store.delete_blob(&old.blob_key).await;
                }
                Ok(capture)
            }
            Err(e) => {
                let _ = self.store.delete_blob(&blob.blob_key).await;
                Err(e)
            }
        }
    }

    /// Commit the capture row, replacing an earlier capture of the same kind in the same
    /// attempt. Returns the replaced blobs, to delete once the row is committed.
    pub(crate) async fn record_capture(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        c: &Capture,
        blob: &StoredBlob,
        challenge: Option<&LivenessChallengeId>,
    ) -> Result<Vec<StoredBlob>> {
        let mut tx = self.store.begin().await?;
        // Concurrent uploads of one kind must replace each other, not both stay.
        tx.lock_verification(tenant, &c.verification_id).await?;
        // A challenge works once: of two bursts racing with it, the second is refused here.
        if let Some(ch) = challenge
            && !tx.use_liveness_challenge(tenant, &c.verification_id, ch, c.created_at).await?
        {
            return Err(liveness::challenge_used());
        }
        let mut v = self.load(&mut tx, tenant, &c.verification_id).await?;
        let attempt = tx
            .get_attempt(tenant, &v.id, &c.attempt_id)
            .await?
            .ok_or(EngineError::NotFound("attempt"))?;
        if !v.status.accepts_captures() || attempt.status != AttemptStatus::Active {
            return Err(EngineError::Conflict(format!(
                "the verification is {} and its attempt {}; the capture was not kept",
                v.status,
                attempt.status.as_str()
            )));
        }
        let mut replaced = Vec::new();
        let mut first_of_attempt = true;
        for (old, old_blob) in tx.list_captures(tenant, &v.id).await? {
            first_of_attempt &= old.attempt_id != c.attempt_id;
            if old.attempt_id == c.attempt_id && old.kind == c.kind {
                tx.delete_capture(tenant, &old.id).await?;
                tx.audit(tenant, actor, "capture.replaced", old.id.as_str(), c.created_at).await?;
                replaced.extend(old_blob);
            }
        }
        tx.insert_capture(c, blob).await?;
        tx.audit(tenant, actor, &format!("capture.created.{}", c.kind), c.id.as_str(), c.created_at)
            .await?;
        if v.status != VerificationStatus::CaptureInProgress {
            self.transition(&mut tx, &mut v, VerificationStatus::CaptureInProgress, actor)
                .await?;
        }
        let received = serde_json::json!({"id": c.id, "kind": c.kind, "media_type": c.media_type, "sha256": c.sha256, "feedback": c.feedback,
                               "first_of_attempt": first_of_attempt});
        self.emit_verification(&mut tx, EventType::CaptureReceived, &v, Some(("capture", received)))
            .await?;
        tx.commit().await?;
        Ok(replaced)
    }

    pub async fn list_captures(&self, p: &Principal, id: &VerificationId) -> Result<Vec<Capture>> {
        let mut tx = self.store.begin().await?;
        let v = self.load(&mut tx, &p.tenant_id, id).await?;
        let list = tx.list_captures(&p.tenant_id, &v.id).await?.into_iter().map(|(c, _)| c).collect();
        tx.commit().await?;
        Ok(list)
    }

    /// The original bytes of a capture, decrypted chunk by chunk as they are sent (a
    /// download holds one chunk in memory, not the file). Every read is an audit entry.
    pub async fn read_file(&self, p: &Principal, id: &FileId) -> Result<(Capture, crate::BlobStream)> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let (c, blob) = tx.get_capture(&p.tenant_id, id).await?.ok_or(EngineError::NotFound("file"))?;
        self.read_capture(tx, p, c, blob, now).await
    }

    /// A capture found for `p`: its read audited and committed, and its blob opened as a
    /// stream (gone when its verification was anonymized). The blob is opened while the
    /// audit entry is written, not after (a download starts one database commit sooner);
    /// no byte of it is handed out unless the entry committed.
    pub(crate) async fn read_capture(
        &self,
        tx: Tx<'_>,
        p: &Principal,
        c: Capture,
        blob: Option<StoredBlob>,
        now: DateTime<Utc>,
    ) -> Result<(Capture, crate::BlobStream)> {
        let blob = blob.ok_or_else(|| EngineError::Gone("this image was erased when its verification was anonymized".into()))?;
        let actor = p.actor();
        let audited = tx.commit_with_read(&p.tenant_id, &actor, "file.read", c.id.as_str(), now);
        let opened = self.store.get_blob_stream(&p.tenant_id, &c.id, &blob.blob_key, &blob.wrapped_key);
        let (audited, opened) = tokio::join!(audited, opened);
        audited?;
        Ok((c, opened?))
    }
}
