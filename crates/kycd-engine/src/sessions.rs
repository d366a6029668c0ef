//! Verification sessions as the vendor dialects run them: a verification opened together
//! with its first attempt, images added by the business's backend with immediate feedback
//! and "what is still missing", processing started as soon as every required image is in
//! and acceptable, test-mode mock behaviour, attempts that supersede the open one, state a
//! dialect keeps beside an object, and erasure of an applicant with all its verifications.

use crate::evidence::EvidenceExport;
use crate::required::RequiredReads;
use crate::{Engine, EngineError, NewVerification, Principal, Result, StartedAttempt};
use chrono::Duration;
use kycd_core::*;
use kycd_store::Tx;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Dialect state kind under which a verification's mock behaviour is kept.
const MOCK_STATE: &str = "mock";
/// The longest simulated processing time.
pub const MAX_MOCK_PROCESSING_SECONDS: u32 = 300;

/// The outcome a test-mode session is forced to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MockOutcome {
    Approved,
    ReviewRequired,
    Declined,
}

impl MockOutcome {
    pub fn status(self) -> VerificationStatus {
        match self {
            Self::Approved => VerificationStatus::Approved,
            Self::ReviewRequired => VerificationStatus::ReviewRequired,
            Self::Declined => VerificationStatus::Declined,
        }
    }
}

/// Simulation settings of a test-mode verification. Refused for live tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockBehavior {
    /// Decide this instead of running the decision rules (the checks still run and are kept).
    pub outcome: Option<MockOutcome>,
    /// Processing takes this long once every required image is in.
    #[serde(default)]
    pub processing_seconds: u32,
    /// The first image of each kind gets poor-quality feedback (and does not count), so the
    /// integration's retake path can be exercised; the next one of that kind is judged for real.
    #[serde(default)]
    pub poor_quality: bool,
    /// Kinds whose first image already got the simulated feedback.
    #[serde(default)]
    pub degraded: Vec<CaptureKind>,
    /// The first processing ends in retry_required (a recapture), whatever the checks say;
    /// the next attempt is decided normally (or by `outcome`).
    #[serde(default)]
    pub retry_first: bool,
    /// The simulated retry already happened.
    #[serde(default)]
    pub retried: bool,
}

/// Which images a session still needs.
#[derive(Debug, Clone)]
pub struct SessionProgress {
    pub status: VerificationStatus,
    /// What the policy requires of the current attempt.
    pub required: Vec<CaptureKind>,
    /// Required kinds without an acceptable image yet (empty once processing started).
    pub missing: Vec<CaptureKind>,
    /// Every required image is in and acceptable, or processing already started.
    pub complete: bool,
}

pub struct CreatedSession {
    pub verification: Verification,
    pub attempt: Attempt,
    /// The attempt's single-use start token (shown once; only its hash is stored).
    pub start_token: String,
    /// The hosted capture page, opened with the start token.
    pub capture_url: String,
    pub progress: SessionProgress,
}

/// A session the business's backend drives from the start (no hosted page): its start
/// token is spent at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendStart {
    /// The backend says the person agreed to the processing (recorded, with the time, as
    /// the capture page's consent would be).
    pub consent_granted: bool,
}

/// Audit actions that record a person's consent on one attempt: given on the hosted page,
/// or vouched for by the business's backend when it started the session.
pub(crate) const CONSENT_ACTIONS: [&str; 2] = ["capture.consent_given", "attempt.consent_given_by_backend"];

pub struct AddedImage {
    pub capture: Capture,
    pub progress: SessionProgress,
}

/// The `token=` value of a capture URL.
fn token_of(url: &str) -> Option<&str> {
    url.split_once("token=").map(|(_, t)| t.split('&').next().unwrap_or(t))
}

/// What is missing, from the verification, its attempts and their captures.
fn progress_of(v: &Verification, attempts: &[Attempt], captures: &[Capture]) -> SessionProgress {
    let open = v.status.accepts_captures();
    let attempt = if open {
        attempts.iter().find(|a| a.status == AttemptStatus::Active)
    } else {
        attempts.last()
    };
    let required = v.policy.required_captures(attempt.and_then(|a| a.client.document_type));
    let accepted: Vec<CaptureKind> = match attempt {
        Some(a) => captures
            .iter()
            .filter(|c| c.attempt_id == a.id && c.feedback.accepted)
            .map(|c| c.kind)
            .collect(),
        None => Vec::new(),
    };
    let started = matches!(
        v.status,
        VerificationStatus::Processing | VerificationStatus::ReviewRequired | VerificationStatus::Approved | VerificationStatus::Declined
    );
    let missing: Vec<CaptureKind> = if started {
        Vec::new()
    } else {
        required.iter().copied().filter(|k| !accepted.contains(k)).collect()
    };
    SessionProgress {
        status: v.status,
        complete: started || (open && missing.is_empty()),
        required,
        missing,
    }
}

impl Engine {
    fn check_mock(p: &Principal, m: &MockBehavior) -> Result<()> {
        if p.mode != Mode::Test {
            return Err(EngineError::Invalid(
                "mock_behavior is only accepted for test-mode tenants: a live tenant's sessions are always verified for real".into(),
            ));
        }
        if m.processing_seconds > MAX_MOCK_PROCESSING_SECONDS {
            return Err(EngineError::Invalid(format!(
                "the simulated processing time is at most {MAX_MOCK_PROCESSING_SECONDS} seconds"
            )));
        }
        Ok(())
    }

    /// Create a verification with its first attempt open. `mock` (test mode only) sets
    /// simulation settings; `start` means the backend drives the session, so the start
    /// token is spent at once instead of opening the hosted capture page.
    pub async fn create_session(
        &self,
        p: &Principal,
        new: NewVerification,
        mock: Option<MockBehavior>,
        start: Option<BackendStart>,
    ) -> Result<CreatedSession> {
        p.require_write()?;
        if let Some(m) = &mock {
            Self::check_mock(p, m)?;
        }
        let v = self.create_verification(p, new).await?;
        if let Some(m) = &mock {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            tx.put_dialect_state(&p.tenant_id, &v.id, v.id.as_str(), MOCK_STATE, &to_json(m)?, now)
                .await?;
            tx.audit(&p.tenant_id, &p.actor(), "verification.mock_behavior_set", v.id.as_str(), now)
                .await?;
            tx.commit().await?;
        }
        let StartedAttempt { mut attempt, url } = self.create_attempt(p, &v.id, ClientInfo::default()).await?;
        let start_token = token_of(&url)
            .ok_or_else(|| EngineError::Internal("capture url without a token".into()))?
            .to_owned();
        if let Some(start) = start {
            let now = self.now();
            let mut tx = self.store.begin().await?;
            attempt.token_used_at = Some(now);
            attempt.updated_at = now;
            tx.update_attempt(&attempt).await?;
            tx.audit(&p.tenant_id, &p.actor(), "attempt.started_by_backend", attempt.id.as_str(), now)
                .await?;
            if start.consent_granted {
                tx.audit(&p.tenant_id, &p.actor(), CONSENT_ACTIONS[1], attempt.id.as_str(), now)
                    .await?;
            }
            tx.commit().await?;
        }
        let progress = self.session_progress(p, &v.id).await?;
        let verification = self.get_verification(p, &v.id).await?;
        Ok(CreatedSession {
            verification,
            attempt,
            start_token,
            capture_url: url,
            progress,
        })
    }

    /// When the person consented to this verification's processing (on the capture page,
    /// or as the backend said when it started the session), if they did.
    pub async fn session_consent(&self, p: &Principal, id: &VerificationId) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        let mut tx = self.store.begin().await?;
        self.load(&mut tx, &p.tenant_id, id).await?;
        let mut first = None;
        for a in tx.list_attempts(&p.tenant_id, id).await? {
            let given = tx
                .audit_for_object(&p.tenant_id, a.id.as_str())
                .await?
                .into_iter()
                .find(|e| CONSENT_ACTIONS.contains(&e.action.as_str()))
                .map(|e| e.at);
            first = match (first, given) {
                (Some(f), Some(g)) => Some(std::cmp::min(f, g)),
                (f, g) => f.or(g),
            };
        }
        tx.commit().await?;
        Ok(first)
    }

    /// Which images the session still needs.
    pub async fn session_progress(&self, p: &Principal, id: &VerificationId) -> Result<SessionProgress> {
        let mut tx = self.store.begin().await?;
        let v = self.load(&mut tx, &p.tenant_id, id).await?;
        let attempts = tx.list_attempts(&p.tenant_id, id).await?;
        let captures: Vec<Capture> = tx.list_captures(&p.tenant_id, id).await?.into_iter().map(|(c, _)| c).collect();
        tx.commit().await?;
        Ok(progress_of(&v, &attempts, &captures))
    }

    /// Add an image from the backend. Refused (conflict) once every required image is in
    /// or the verification takes no more images; when this image completes the set,
    /// processing starts.
    pub async fn add_session_image(&self, p: &Principal, id: &VerificationId, kind: CaptureKind, bytes: Vec<u8>) -> Result<AddedImage> {
        p.require_write()?;
        let before = self.session_progress(p, id).await?;
        if !before.status.accepts_captures() {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; it takes no more images",
                before.status
            )));
        }
        if before.complete {
            return Err(EngineError::Conflict("all required images were already submitted".into()));
        }
        let mut capture = self.add_capture(p, id, kind, bytes).await?;
        self.apply_mock_feedback(p, &mut capture).await?;
        let mut progress = self.session_progress(p, id).await?;
        if progress.complete && progress.status.accepts_captures() {
            match self.submit(p, id).await {
                // A concurrent upload may have submitted first.
                Ok(_) | Err(EngineError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            progress = self.session_progress(p, id).await?;
        }
        Ok(AddedImage { capture, progress })
    }

    async fn apply_mock_feedback(&self, p: &Principal, c: &mut Capture) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let Some(mut m) = Self::mock_in(&mut tx, &p.tenant_id, &c.verification_id).await? else {
            return Ok(());
        };
        if !m.poor_quality || m.degraded.contains(&c.kind) {
            return Ok(());
        }
        let code = kycd_checks::FeedbackCode::Blurry;
        c.feedback.accepted = false;
        c.feedback.issues = vec![code.as_str().to_owned()];
        c.feedback.message = format!(
            "{} (test mode: mock behaviour reports the first image of each kind as poor quality)",
            code.advice()
        );
        m.degraded.push(c.kind);
        tx.update_capture_feedback(&p.tenant_id, &c.id, &c.feedback).await?;
        tx.put_dialect_state(
            &p.tenant_id,
            &c.verification_id,
            c.verification_id.as_str(),
            MOCK_STATE,
            &to_json(&m)?,
            now,
        )
        .await?;
        tx.audit(&p.tenant_id, &p.actor(), "capture.mock_feedback", c.id.as_str(), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mock_in(tx: &mut Tx<'_>, tenant: &TenantId, id: &VerificationId) -> Result<Option<MockBehavior>> {
        match tx.get_dialect_state(tenant, id.as_str(), MOCK_STATE).await? {
            Some(json) => Ok(Some(from_json(&json)?)),
            None => Ok(None),
        }
    }

    /// The mock behaviour of a verification, if it has one.
    pub async fn mock_behavior(&self, p: &Principal, id: &VerificationId) -> Result<Option<MockBehavior>> {
        let mut tx = self.store.begin().await?;
        Self::mock_in(&mut tx, &p.tenant_id, id).await
    }

    /// Hook of `submit`: how long processing waits (simulated processing time).
    pub(crate) async fn mock_processing_delay(&self, tx: &mut Tx<'_>, tenant: &TenantId, id: &VerificationId) -> Result<Duration> {
        Ok(Self::mock_in(tx, tenant, id)
            .await?
            .map_or(Duration::zero(), |m| Duration::seconds(i64::from(m.processing_seconds))))
    }

    /// Hook of processing: the forced outcome of a mocked verification, recorded as a check.
    pub(crate) async fn mock_outcome(&self, tx: &mut Tx<'_>, v: &mut Verification) -> Result<Option<VerificationStatus>> {
        let Some(mut m) = Self::mock_in(tx, &v.tenant_id, &v.id).await? else {
            return Ok(None);
        };
        if m.retry_first && !m.retried && v.status.can_transition_to(VerificationStatus::RetryRequired) {
            m.retried = true;
            tx.put_dialect_state(&v.tenant_id, &v.id, v.id.as_str(), MOCK_STATE, &to_json(&m)?, self.now())
                .await?;
            v.checks.push(CheckResult {
                name: "mock_outcome".into(),
                passed: false,
                detail: "test mode: mock behaviour asks for a recapture of the first attempt".into(),
                figures: serde_json::json!({ "outcome": "retry_required" }),
            });
            return Ok(Some(VerificationStatus::RetryRequired));
        }
        let Some(outcome) = m.outcome else {
            return Ok(None);
        };
        v.checks.push(CheckResult {
            name: "mock_outcome".into(),
            passed: outcome != MockOutcome::Declined,
            detail: "test mode: the outcome was forced by mock behaviour, not decided by the checks".into(),
            figures: serde_json::json!({ "outcome": outcome }),
        });
        Ok(Some(outcome.status()))
    }

    /// The bytes of one capture of one verification (a capture of another verification is
    /// not found), decrypted chunk by chunk as they are read. Every read is an audit entry.
    pub async fn read_verification_file(&self, p: &Principal, id: &VerificationId, file: &FileId) -> Result<(Capture, crate::BlobStream)> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.required_verification(&p.tenant_id, id).await?;
        let (c, blob) = tx
            .get_capture(&p.tenant_id, file)
            .await?
            .filter(|(c, _)| &c.verification_id == id)
            .ok_or(EngineError::NotFound("image"))?;
        self.read_capture(tx, p, c, blob, now).await
    }

    /// Open a new attempt, cancelling the one still open (its capture link stops working).
    /// Conflict unless the verification still takes captures, or when no attempt is left.
    pub async fn open_attempt_superseding(&self, p: &Principal, id: &VerificationId, client: ClientInfo) -> Result<StartedAttempt> {
        p.require_write()?;
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, &p.tenant_id, id).await?;
        if !v.status.accepts_captures() {
            tx.commit().await?;
            return Err(EngineError::Conflict(format!(
                "the verification is {}; no new attempt can be started",
                v.status
            )));
        }
        for a in crate::close_active_attempts(&mut tx, &p.tenant_id, id, AttemptStatus::Cancelled, now).await? {
            tx.audit(&p.tenant_id, &p.actor(), "attempt.superseded", a.as_str(), now).await?;
        }
        let started = self.open_attempt(&mut tx, &mut v, client, &p.actor()).await?;
        tx.commit().await?;
        Ok(started)
    }

    /// Erase an applicant's personal data and anonymize every verification of theirs.
    pub async fn anonymize_applicant(&self, p: &Principal, id: &ApplicantId) -> Result<Applicant> {
        p.require_write()?;
        let ids = {
            let mut tx = self.store.begin().await?;
            tx.required_applicant(&p.tenant_id, id).await?;
            tx.verification_ids_of_applicant(&p.tenant_id, id).await?
        };
        for vid in &ids {
            self.anonymize(p, vid).await?;
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut a = tx.required_applicant(&p.tenant_id, id).await?;
        a.person = PersonData::default();
        a.external_applicant_id = None;
        a.redacted = true;
        a.updated_at = now;
        tx.update_applicant(&a).await?;
        tx.audit(&p.tenant_id, &p.actor(), "applicant.anonymized", id.as_str(), now).await?;
        self.schedule_purge(&mut tx, &p.tenant_id).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// The evidence of a decided verification only: conflict while it is not approved or
    /// declined (some vendors publish their report only then).
    pub async fn decided_evidence_export(&self, p: &Principal, id: &VerificationId, action: &str) -> Result<EvidenceExport> {
        let v = self.get_verification(p, id).await?;
        if !matches!(v.status, VerificationStatus::Approved | VerificationStatus::Declined) {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; its report is available once it is approved or declined",
                v.status
            )));
        }
        self.evidence_export(p, id, action).await
    }

    /// State a dialect keeps beside one of the caller's objects (`object_id` is the
    /// verification or one of its attempts). Never personal data.
    pub async fn dialect_state<T: DeserializeOwned>(&self, p: &Principal, object_id: &str, kind: &str) -> Result<Option<T>> {
        match self.store.begin().await?.get_dialect_state(&p.tenant_id, object_id, kind).await? {
            Some(json) => Ok(Some(from_json(&json)?)),
            None => Ok(None),
        }
    }

    pub async fn set_dialect_state<T: Serialize>(
        &self,
        p: &Principal,
        id: &VerificationId,
        object_id: &str,
        kind: &str,
        value: &T,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.required_verification(&p.tenant_id, id).await?;
        tx.put_dialect_state(&p.tenant_id, id, object_id, kind, &to_json(value)?, now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| EngineError::Internal(format!("serialize dialect state: {e}")))
}

fn from_json<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| EngineError::Internal(format!("stored dialect state is malformed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn capture(attempt: &AttemptId, kind: CaptureKind, accepted: bool) -> Capture {
        Capture {
            id: FileId::generate(),
            tenant_id: TenantId::generate(),
            verification_id: VerificationId::generate(),
            attempt_id: attempt.clone(),
            kind,
            media_type: MediaType::Png,
            size: 1,
            sha256: String::new(),
            feedback: CaptureFeedback {
                accepted,
                ..CaptureFeedback::default()
            },
            available: true,
            created_at: Utc::now(),
        }
    }

    fn setup(status: VerificationStatus, attempt_status: AttemptStatus) -> (Verification, Vec<Attempt>) {
        let now = Utc::now();
        let v = crate::test_fixtures::verification(status);
        let a = Attempt {
            id: AttemptId::generate(),
            tenant_id: v.tenant_id.clone(),
            verification_id: v.id.clone(),
            status: attempt_status,
            client: ClientInfo::default(),
            token_expires_at: now,
            token_used_at: None,
            created_at: now,
            updated_at: now,
        };
        (v, vec![a])
    }

    #[test]
    fn only_acceptable_images_count() {
        let (v, attempts) = setup(VerificationStatus::CaptureInProgress, AttemptStatus::Active);
        let a = &attempts[0].id;
        let p = progress_of(&v, &attempts, &[capture(a, CaptureKind::DocumentFront, true)]);
        assert_eq!(p.missing, vec![CaptureKind::Selfie]);
        assert!(!p.complete);
        let p = progress_of(
            &v,
            &attempts,
            &[capture(a, CaptureKind::DocumentFront, true), capture(a, CaptureKind::Selfie, false)],
        );
        assert_eq!(p.missing, vec![CaptureKind::Selfie]);
        let p = progress_of(
            &v,
            &attempts,
            &[capture(a, CaptureKind::DocumentFront, true), capture(a, CaptureKind::Selfie, true)],
        );
        assert!(p.missing.is_empty() && p.complete);
    }

    #[test]
    fn a_retry_needs_everything_again_and_processing_needs_nothing() {
        let (v, attempts) = setup(VerificationStatus::RetryRequired, AttemptStatus::Submitted);
        let a = &attempts[0].id;
        let caps = [capture(a, CaptureKind::DocumentFront, true), capture(a, CaptureKind::Selfie, true)];
        let p = progress_of(&v, &attempts, &caps);
        assert_eq!(p.missing, vec![CaptureKind::DocumentFront, CaptureKind::Selfie]);
        assert!(!p.complete);
        let (v, attempts) = setup(VerificationStatus::Processing, AttemptStatus::Submitted);
        let p = progress_of(&v, &attempts, &[]);
        assert!(p.missing.is_empty() && p.complete);
    }

    #[test]
    fn token_is_read_from_the_capture_url() {
        assert_eq!(token_of("http://h/capture?token=abc"), Some("abc"));
        assert_eq!(token_of("http://h/capture?token=abc&x=1"), Some("abc"));
        assert_eq!(token_of("http://h/capture"), None);
    }
}
