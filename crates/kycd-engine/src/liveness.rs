//! The head-turn liveness challenge in the verification flow. The server picks the steps
//! (two of left, right, up, down, in a random order) and keeps them with a deadline
//! ([`CHALLENGE_TTL`]); the burst of frames the person sends names the challenge, which it
//! spends: a client can neither choose its own challenge nor send an old burst again. The
//! burst is kept as one capture of kind `liveness_burst` (the steps and frames in one
//! encrypted blob, `kycd_checks::burst`), checked by processing with the rest.

use crate::capture::CaptureContext;
use crate::{Engine, EngineError, Principal, Result, Upload};
use chrono::{DateTime, Duration, Utc};
use kycd_checks::ImageError;
use kycd_checks::burst::{Burst, BurstError};
use kycd_checks::liveness::Step;
use kycd_core::*;
use kycd_store::LivenessChallengeRecord;
use rand::seq::SliceRandom;

/// How long a challenge may be answered: time to read two prompts and turn (a person
/// needs about 10 s), with room for a slow upload.
pub const CHALLENGE_TTL: Duration = Duration::seconds(60);
pub use kycd_checks::burst::{MAX_FRAMES, MIN_LONG_SIDE, MIN_SHORT_SIDE};
pub use kycd_checks::liveness::MIN_FRAMES;

/// Frame `i` of a stored burst (a JPEG), for viewers of the case.
pub fn frame_of(burst: &[u8], i: usize) -> Option<Vec<u8>> {
    Burst::parse(burst).ok()?.frames.into_iter().nth(i)
}

/// Frame `i` (`None`: a frame that cannot exist) of the burst `cap` whose stored bytes
/// `stream` gives, as the JPEG capture it is. The burst is read whole: one blob holds the
/// steps and every frame.
pub async fn burst_frame(cap: Capture, stream: crate::BlobStream, i: Option<usize>) -> Result<(Capture, Vec<u8>)> {
    let burst = crate::read_whole(stream).await?;
    let jpeg = i.and_then(|i| frame_of(&burst, i)).ok_or(EngineError::NotFound("frame"))?;
    let frame = Capture {
        media_type: MediaType::Jpeg,
        size: jpeg.len() as u64,
        ..cap
    };
    Ok((frame, jpeg))
}

/// Steps in a challenge.
pub const CHALLENGE_STEPS: usize = 2;

/// A challenge as its caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedChallenge {
    pub id: LivenessChallengeId,
    pub steps: Vec<Step>,
    pub expires_at: DateTime<Utc>,
}

pub(crate) fn challenge_used() -> EngineError {
    EngineError::Conflict(
        "this liveness challenge was already used: ask for a new one (POST /v1/verifications/{id}/liveness_challenge) and capture the burst again".into(),
    )
}

pub(crate) fn burst_needs_challenge() -> EngineError {
    EngineError::Invalid(
        "kind liveness_burst takes the frames of a challenge: ask for one with POST /v1/verifications/{id}/liveness_challenge, then upload the frames as multipart fields `file` with ?kind=liveness_burst&challenge_id=…".into(),
    )
}

/// Two different steps in a random order.
fn random_steps() -> Vec<Step> {
    let mut all = Step::ALL.to_vec();
    all.shuffle(&mut rand::thread_rng());
    all.truncate(CHALLENGE_STEPS);
    all
}

fn steps_of(rec: &LivenessChallengeRecord) -> Result<Vec<Step>> {
    rec.steps
        .iter()
        .map(|s| s.parse::<Step>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| EngineError::Internal(format!("stored liveness challenge: {e}")))
}

fn refusal(e: BurstError) -> EngineError {
    match e {
        BurstError::FrameCount(_) | BurstError::TooSmall { .. } | BurstError::Corrupt(_) => EngineError::Invalid(e.to_string()),
        BurstError::NotJpeg { .. } => EngineError::UnsupportedMedia(e.to_string()),
        BurstError::Image {
            error: ImageError::HeicNotBuilt | ImageError::UnsupportedType,
            ..
        } => EngineError::UnsupportedMedia(e.to_string()),
        BurstError::Image {
            error: ImageError::Empty, ..
        } => EngineError::Invalid(e.to_string()),
        BurstError::Image { .. } => EngineError::UnprocessableImage(e.to_string()),
    }
}

/// When a verification that required the liveness burst expires after the person was
/// given challenges but answered none: the check `liveness` failed with
/// `challenge_timeout` (Checkout's 61413 `face_challenge_timeout`). None otherwise.
pub(crate) async fn timeout_check(tx: &mut kycd_store::Tx<'_>, v: &Verification) -> Result<Option<CheckResult>> {
    if !v.policy.liveness_required {
        return Ok(None);
    }
    let (issued, used) = tx.count_liveness_challenges(&v.tenant_id, &v.id).await?;
    if issued == 0 || used > 0 {
        return Ok(None);
    }
    Ok(Some(CheckResult {
        name: kycd_core::decide::LIVENESS.into(),
        passed: false,
        detail: format!(
            "{issued} head-turn challenge(s) were issued and none was answered before its deadline ({} s); the verification expired",
            CHALLENGE_TTL.num_seconds()
        ),
        figures: serde_json::json!({"outcome": "fail", "reasons": ["challenge_timeout"], "required": true, "challenges_issued": issued}),
    }))
}

impl Engine {
    /// A new challenge for a verification that still takes captures (API).
    pub async fn issue_liveness_challenge(&self, p: &Principal, id: &VerificationId) -> Result<IssuedChallenge> {
        p.require_write()?;
        self.issue_challenge_as(&p.tenant_id, &p.actor(), id).await
    }

    /// A new challenge for the capture page's attempt, once consent is given and the
    /// document chosen.
    pub async fn liveness_challenge_for_session(&self, ctx: &CaptureContext) -> Result<IssuedChallenge> {
        ctx.require_open()?;
        if !ctx.flow.consented || ctx.client.document_type.is_none() {
            return Err(EngineError::Conflict("give consent and choose the document first".into()));
        }
        self.issue_challenge_as(&ctx.tenant_id, &ctx.actor(), &ctx.verification_id).await
    }

    async fn issue_challenge_as(&self, tenant: &TenantId, actor: &Actor, id: &VerificationId) -> Result<IssuedChallenge> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let v = self.load(&mut tx, tenant, id).await?;
        if !v.status.accepts_captures() {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; it takes no more captures, so no liveness challenge",
                v.status
            )));
        }
        let issued = IssuedChallenge {
            id: LivenessChallengeId::generate(),
            steps: self.cfg.fixed_liveness_steps.clone().unwrap_or_else(random_steps),
            expires_at: now + CHALLENGE_TTL,
        };
        tx.insert_liveness_challenge(&LivenessChallengeRecord {
            id: issued.id.clone(),
            tenant_id: tenant.clone(),
            verification_id: v.id.clone(),
            steps: issued.steps.iter().map(|s| s.as_str().to_owned()).collect(),
            expires_at: issued.expires_at,
            used_at: None,
            created_at: now,
        })
        .await?;
        tx.audit(tenant, actor, "liveness_challenge.issued", issued.id.as_str(), now)
            .await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// The frames of a challenge, in capture order (API).
    pub async fn add_liveness_burst(
        &self,
        p: &Principal,
        id: &VerificationId,
        challenge: &LivenessChallengeId,
        frames: Vec<Vec<u8>>,
    ) -> Result<Capture> {
        p.require_write()?;
        self.add_burst_as(&p.tenant_id, &p.actor(), id, challenge, frames, None).await
    }

    /// The frames of a challenge from the capture page.
    pub async fn add_liveness_burst_for_session(
        &self,
        ctx: &CaptureContext,
        challenge: &LivenessChallengeId,
        frames: Vec<Vec<u8>>,
    ) -> Result<Capture> {
        ctx.require_open()?;
        if !ctx.flow.consented || ctx.client.document_type.is_none() {
            return Err(EngineError::Conflict("give consent and choose the document first".into()));
        }
        self.add_burst_as(
            &ctx.tenant_id,
            &ctx.actor(),
            &ctx.verification_id,
            challenge,
            frames,
            Some(&ctx.attempt_id),
        )
        .await
    }

    /// Check the frames (count, JPEG, size, decodable) and the challenge (this
    /// verification's, not expired, not used), then keep the burst as one capture; the
    /// challenge is spent in the transaction that records it, so a refused or failed upload
    /// leaves nothing behind and a challenge never serves twice.
    async fn add_burst_as(
        &self,
        tenant: &TenantId,
        actor: &Actor,
        id: &VerificationId,
        challenge: &LivenessChallengeId,
        frames: Vec<Vec<u8>>,
        only: Option<&AttemptId>,
    ) -> Result<Capture> {
        let received = self.now();
        let total: usize = frames.iter().map(Vec::len).sum();
        self.admit_upload(tenant, id, total, "send fewer frames, or frames of 640×480 at JPEG quality 0.85")?;
        metrics::counter!("kycd_uploads_total", "kind" => CaptureKind::LivenessBurst.as_str()).increment(1);
        metrics::counter!("kycd_upload_bytes_total", "kind" => CaptureKind::LivenessBurst.as_str()).increment(total as u64);

        let rec = {
            let mut tx = self.store.begin().await?;
            let v = self.load(&mut tx, tenant, id).await?;
            let rec = tx
                .get_liveness_challenge(tenant, &v.id, challenge)
                .await?
                .ok_or(EngineError::NotFound("liveness challenge"))?;
            tx.commit().await?;
            rec
        };
        if rec.used_at.is_some() {
            return Err(challenge_used());
        }
        if received >= rec.expires_at {
            return Err(EngineError::Gone(format!(
                "this liveness challenge expired at {} ({} s after it was issued): ask for a new one and capture the burst again",
                rec.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                CHALLENGE_TTL.num_seconds()
            )));
        }
        let steps = steps_of(&rec)?;

        // Frames are decoded one after the other: the largest one's share of the budget.
        let limits = self.cfg.image_limits;
        let cost = frames.iter().map(|f| kycd_checks::decode_cost(f, limits)).max().unwrap_or(0);
        let decoding = self
            .decode_budget
            .acquire_many(crate::decode_permits(cost, self.cfg.decode_memory_mib.max(1)))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let (frames, checked) = tokio::task::spawn_blocking(move || {
            let r = kycd_checks::burst::validate_frames(&frames, limits);
            (frames, r)
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        drop(decoding);
        let (width, height) = checked.map_err(refusal)?;

        let n = frames.len();
        let words: Vec<&str> = steps.iter().map(|s| s.as_str()).collect();
        let bytes = Burst {
            challenge_id: challenge.to_string(),
            steps,
            frames,
        }
        .encode();
        let upload = Upload {
            kind: CaptureKind::LivenessBurst,
            media_type: MediaType::LivenessBurst,
            bytes,
            feedback: CaptureFeedback {
                width,
                height,
                accepted: true,
                issues: Vec::new(),
                message: format!("{n} frames received for the challenge {}", words.join(" then ")),
            },
        };
        self.store_upload(tenant, actor, id, upload, only, Some(challenge)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_two_different_steps_and_vary() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let s = random_steps();
            assert_eq!(s.len(), CHALLENGE_STEPS);
            assert_ne!(s[0], s[1]);
            seen.insert(s);
        }
        // 12 ordered pairs; 200 draws miss one with probability under 1e-7.
        assert_eq!(seen.len(), 12);
    }
}
