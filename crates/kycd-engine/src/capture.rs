//! The hosted capture page's use cases. The person is not an API caller: opening the
//! attempt link spends the single-use start token and opens a short-lived *capture
//! session* whose random secret lives in the browser (a cookie); only its SHA-256 is
//! stored. A session acts for exactly one attempt of one verification, in one tenant:
//! every entry point here takes the [`CaptureContext`] that [`Engine::capture_session`]
//! rebuilt from the secret, and works on that attempt only. Uploads go through the same
//! path as the API (`add_capture_as`), so one place validates images.
//!
//! The flow's own state (consent given, failed tries per kind, captures the person kept
//! despite the feedback) is kept beside the attempt, sealed like every stored field.

use crate::attempts::audit_by_applicant;
use crate::{Engine, EngineError, Result};
use chrono::{DateTime, Duration, Utc};
use kycd_core::*;
use kycd_store::{CaptureSessionRecord, Tx, secret_hash};
use serde::{Deserialize, Serialize};

pub use kycd_checks::FeedbackCode;

/// How long a capture session lives (never past its verification's expiry).
pub const CAPTURE_SESSION_TTL: Duration = Duration::hours(1);
/// Failed tries of one kind after which the person may continue anyway.
pub const TRIES_BEFORE_CONTINUE: u32 = 2;

const SECRET_PREFIX: &str = "kycd_cs_";
/// Kind of the attempt-scoped state row that holds the [`CaptureFlow`].
const FLOW_STATE: &str = "capture_flow";

/// Where the person is in the flow. No personal data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureFlow {
    #[serde(default)]
    pub consented: bool,
    /// Uploads of each kind that got blocking quality feedback.
    #[serde(default)]
    pub failed_tries: Vec<(CaptureKind, u32)>,
    /// Kinds whose last upload the person chose to keep despite the feedback.
    #[serde(default)]
    pub kept_anyway: Vec<CaptureKind>,
}

impl CaptureFlow {
    pub fn failures(&self, kind: CaptureKind) -> u32 {
        self.failed_tries.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n)
    }
    fn bump(&mut self, kind: CaptureKind) {
        match self.failed_tries.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => self.failed_tries.push((kind, 1)),
        }
    }
    pub fn may_continue_anyway(&self, kind: CaptureKind) -> bool {
        self.failures(kind) >= TRIES_BEFORE_CONTINUE
    }
}

/// What one capture session may see and do, rebuilt from its secret on every request.
#[derive(Debug, Clone)]
pub struct CaptureContext {
    pub tenant_id: TenantId,
    /// Shown on every page: who asks for the verification and will see the images.
    pub tenant_name: String,
    /// How long the evidence is kept once the verification ends.
    pub retention_days: u32,
    pub verification_id: VerificationId,
    pub attempt_id: AttemptId,
    pub status: VerificationStatus,
    pub attempt_status: AttemptStatus,
    pub policy: Policy,
    /// Language, preselected country, chosen document.
    pub client: ClientInfo,
    pub flow: CaptureFlow,
    /// This attempt's captures (the latest of each kind).
    pub captures: Vec<Capture>,
    /// Where the person goes back to (the verification's callback URL), with `state`.
    pub callback_url: Option<String>,
    pub state: Option<String>,
    pub session_expires_at: DateTime<Utc>,
    /// A reviewer asked for this new capture: their reason code and message for the person.
    pub reviewer_request: Option<(String, String)>,
    /// Origins the tenant lets frame its capture pages (empty: none).
    pub frame_ancestors: Vec<String>,
}

impl CaptureContext {
    pub(crate) fn actor(&self) -> Actor {
        Actor::Applicant(self.attempt_id.clone())
    }

    /// The captures the policy needs for the chosen document.
    pub fn required(&self) -> Vec<CaptureKind> {
        self.policy.required_captures(self.client.document_type)
    }

    pub fn capture(&self, kind: CaptureKind) -> Option<&Capture> {
        self.captures.iter().find(|c| c.kind == kind)
    }

    /// The kind has an acceptable capture, or one the person chose to keep.
    pub fn is_done(&self, kind: CaptureKind) -> bool {
        self.capture(kind)
            .is_some_and(|c| c.feedback.accepted || self.flow.kept_anyway.contains(&kind))
    }

    /// The attempt still takes captures (not submitted, not closed, not expired).
    pub fn is_open(&self) -> bool {
        self.status.accepts_captures() && self.attempt_status == AttemptStatus::Active
    }

    pub(crate) fn require_open(&self) -> Result<()> {
        if self.is_open() {
            Ok(())
        } else {
            Err(EngineError::Conflict(
                "this verification takes no more captures: it was submitted, closed or expired".into(),
            ))
        }
    }
}

/// How long a desktop-to-phone handoff link works.
pub const HANDOFF_TTL: Duration = Duration::minutes(15);

/// A desktop session's link for continuing on a phone.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub url: String,
    pub expires_at: DateTime<Utc>,
    /// The phone opened it (it works once).
    pub opened: bool,
}

/// The handoff token of a session: derived from its secret (which never leaves the
/// desktop's HttpOnly cookie), stored only as a hash.
fn handoff_token(secret: &str) -> String {
    format!("kycd_ho_{}", &secret_hash(&format!("capture-handoff:{secret}"))[..48])
}

/// A freshly opened session: the secret goes into the cookie and is never shown again.
pub struct OpenedCaptureSession {
    pub secret: String,
    pub expires_at: DateTime<Utc>,
    pub context: CaptureContext,
}

/// The form token of a session: every POST of the capture pages carries it, so a form
/// posted from elsewhere is refused even where SameSite cookies are not enforced. Derived
/// from the session secret (which never leaves the HttpOnly cookie), so nothing more is stored.
pub fn form_token(secret: &str) -> String {
    secret_hash(&format!("capture-form:{secret}"))
}

/// Whether `sent` is the form token of `secret` (constant time).
pub fn form_token_matches(secret: &str, sent: &str) -> bool {
    same_token(&form_token(secret), sent)
}

/// Constant-time equality of a token and what a form sent.
pub(crate) fn same_token(want: &str, sent: &str) -> bool {
    want.len() == sent.len() && want.bytes().zip(sent.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn no_session() -> EngineError {
    EngineError::NotFound("capture session")
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| EngineError::Internal(format!("serialize capture flow: {e}")))
}

impl Engine {
    /// The person opens the attempt link: spend the start token and open a session for
    /// that attempt, in one transaction (the token is spent only if the session exists).
    pub async fn open_capture_session(&self, token: &str) -> Result<OpenedCaptureSession> {
        let mut tx = self.store.begin().await?;
        let attempt = self.redeem_start_token_in(&mut tx, token).await?;
        self.new_capture_session(tx, attempt, "capture_session.opened").await
    }

    /// The phone opens the handoff link shown on the desktop: spend it and open a session
    /// of its own for the same attempt (the desktop's stays, following the progress).
    pub async fn open_handoff_session(&self, token: &str) -> Result<OpenedCaptureSession> {
        let now = self.now();
        let hash = secret_hash(token.trim());
        let mut tx = self.store.begin().await?;
        let (rec, used) = tx.find_capture_handoff(&hash).await?.ok_or(EngineError::NotFound("handoff link"))?;
        if used.is_some() {
            return Err(EngineError::Gone(
                "this link was already used: continue on the device that opened it, or start again on the computer".into(),
            ));
        }
        if now >= rec.expires_at {
            return Err(EngineError::Gone("this link has expired: make a new one on the computer".into()));
        }
        // Of concurrent openings of the link, only the one whose conditional update spends it goes on.
        if !tx.use_capture_handoff(&hash, now).await? {
            return Err(EngineError::Gone(
                "this link was already used: continue on the device that opened it, or start again on the computer".into(),
            ));
        }
        let attempt = tx
            .get_attempt(&rec.tenant_id, &rec.verification_id, &rec.attempt_id)
            .await?
            .ok_or(EngineError::NotFound("handoff link"))?;
        if attempt.status != AttemptStatus::Active {
            return Err(EngineError::Gone(
                "this capture was finished or closed: nothing is left to do".into(),
            ));
        }
        self.new_capture_session(tx, attempt, "capture_session.handed_off").await
    }

    /// The branding of the session's tenant (the capture page's stylesheet and logo).
    pub async fn capture_branding(&self, ctx: &CaptureContext) -> Result<crate::lifecycle::Branding> {
        let mut tx = self.store.begin().await?;
        let (colour, logo) = tx.tenant_branding(&ctx.tenant_id).await?;
        tx.commit().await?;
        Ok(crate::lifecycle::Branding {
            colour,
            logo,
            frame_ancestors: ctx.frame_ancestors.clone(),
        })
    }

    /// A desktop session's handoff link (made once per session, valid 15 minutes, single
    /// use): its token is derived from the session secret, so the page can show it again
    /// without kycd storing more than its hash.
    pub async fn start_handoff(&self, ctx: &CaptureContext, secret: &str) -> Result<Handoff> {
        ctx.require_open()?;
        let now = self.now();
        let token = handoff_token(secret);
        let mut tx = self.store.begin().await?;
        let expires_at = (now + HANDOFF_TTL).min(ctx.session_expires_at);
        let rec = session_record(&ctx.tenant_id, &ctx.verification_id, &ctx.attempt_id, expires_at);
        tx.upsert_capture_handoff(&secret_hash(&token), &rec, now).await?;
        tx.audit(
            &ctx.tenant_id,
            &ctx.actor(),
            "capture_handoff.created",
            ctx.attempt_id.as_str(),
            now,
        )
        .await?;
        tx.commit().await?;
        self.handoff_status(ctx, secret).await?.ok_or(EngineError::NotFound("handoff link"))
    }

    /// The desktop session's handoff, if it made one: its link and whether the phone
    /// opened it.
    pub async fn handoff_status(&self, ctx: &CaptureContext, secret: &str) -> Result<Option<Handoff>> {
        let token = handoff_token(secret);
        let mut tx = self.store.begin().await?;
        let found = tx.find_capture_handoff(&secret_hash(&token)).await?;
        tx.commit().await?;
        Ok(found
            .filter(|(rec, _)| rec.attempt_id == ctx.attempt_id)
            .map(|(rec, used)| Handoff {
                url: format!("{}/capture/continue?token={token}", self.config().public_url),
                expires_at: rec.expires_at,
                opened: used.is_some(),
            }))
    }

    async fn new_capture_session(&self, mut tx: Tx<'_>, attempt: Attempt, action: &str) -> Result<OpenedCaptureSession> {
        let now = self.now();
        let v = self.load(&mut tx, &attempt.tenant_id, &attempt.verification_id).await?;
        let secret = format!("{SECRET_PREFIX}{}", random_token(43));
        let expires_at = (now + CAPTURE_SESSION_TTL).min(v.expires_at);
        tx.delete_expired_capture_sessions(&attempt.tenant_id, now).await?;
        let rec = session_record(&attempt.tenant_id, &attempt.verification_id, &attempt.id, expires_at);
        tx.insert_capture_session(&secret_hash(&secret), &rec, now).await?;
        audit_by_applicant(&mut tx, &attempt, action, now).await?;
        tx.commit().await?;
        let context = self.capture_session(&secret).await?;
        Ok(OpenedCaptureSession {
            secret,
            expires_at,
            context,
        })
    }

    /// The session behind a secret. Unknown secrets are not found; an expired session is
    /// gone (the person must open a new link from the business).
    pub async fn capture_session(&self, secret: &str) -> Result<CaptureContext> {
        if !secret.starts_with(SECRET_PREFIX) || secret.len() > 100 {
            return Err(no_session());
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let rec = tx.find_capture_session(&secret_hash(secret)).await?.ok_or_else(no_session)?;
        if now >= rec.expires_at {
            return Err(EngineError::Gone(
                "this capture session has expired; ask the business for a new link".into(),
            ));
        }
        let v = self.load(&mut tx, &rec.tenant_id, &rec.verification_id).await?;
        let tenant = tx.get_tenant(&rec.tenant_id).await?.ok_or_else(no_session)?;
        let attempt = tx
            .get_attempt(&rec.tenant_id, &v.id, &rec.attempt_id)
            .await?
            .ok_or_else(no_session)?;
        let flow = Self::flow_in(&mut tx, &rec.tenant_id, &rec.attempt_id).await?;
        let mut captures: Vec<Capture> = tx
            .list_captures(&rec.tenant_id, &v.id)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .filter(|c| c.attempt_id == attempt.id)
            .collect();
        // Newest first, one per kind (an upload replaces the earlier one of its kind).
        captures.sort_by_key(|c| std::cmp::Reverse(c.created_at));
        let mut seen = Vec::new();
        captures.retain(|c| {
            let first = !seen.contains(&c.kind);
            seen.push(c.kind);
            first
        });
        let frame_ancestors = tx.tenant_frame_ancestors(&rec.tenant_id).await?;
        tx.commit().await?;
        Ok(CaptureContext {
            tenant_id: tenant.id.clone(),
            tenant_name: tenant.name.clone(),
            retention_days: tenant.retention.days_for(v.lifecycle.retention_days),
            verification_id: v.id.clone(),
            attempt_id: attempt.id.clone(),
            status: v.status,
            attempt_status: attempt.status,
            policy: v.policy.clone(),
            client: attempt.client.clone(),
            flow,
            captures,
            callback_url: v.private.callback_url.clone(),
            state: v.private.state.clone(),
            reviewer_request: v.checks.iter().find(|c| c.name == crate::console::RETRY_CHECK).map(|c| {
                let f = |k: &str| c.figures.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_owned();
                (f("reason_code"), v.private.retry_message.clone().unwrap_or_default())
            }),
            session_expires_at: rec.expires_at,
            frame_ancestors,
        })
    }

    async fn flow_in(tx: &mut Tx<'_>, tenant: &TenantId, attempt: &AttemptId) -> Result<CaptureFlow> {
        match tx.get_dialect_state(tenant, attempt.as_str(), FLOW_STATE).await? {
            Some(json) => serde_json::from_str(&json).map_err(|e| EngineError::Internal(format!("stored capture flow is malformed: {e}"))),
            None => Ok(CaptureFlow::default()),
        }
    }

    /// Keep the flow state beside the attempt, inside the caller's transaction.
    async fn put_flow(tx: &mut Tx<'_>, ctx: &CaptureContext, flow: &CaptureFlow, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
        tx.put_dialect_state(
            &ctx.tenant_id,
            &ctx.verification_id,
            ctx.attempt_id.as_str(),
            FLOW_STATE,
            &to_json(flow)?,
            now,
        )
        .await?;
        Ok(())
    }

    async fn save_flow(&self, ctx: &CaptureContext, flow: &CaptureFlow, action: &str, object: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.store.begin().await?;
        Self::put_flow(&mut tx, ctx, flow, now).await?;
        tx.audit(&ctx.tenant_id, &ctx.actor(), action, object, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The person read what will be captured, who sees it and how long it is kept, and agreed.
    pub async fn consent_for_session(&self, ctx: &CaptureContext) -> Result<()> {
        ctx.require_open()?;
        let mut flow = ctx.flow.clone();
        flow.consented = true;
        self.save_flow(ctx, &flow, crate::sessions::CONSENT_ACTIONS[0], ctx.attempt_id.as_str())
            .await
    }

    /// The document the person will show, and its issuing country (ICAO 9303 code, required
    /// when the policy restricts countries), from what the policy allows.
    pub async fn choose_document_for_session(&self, ctx: &CaptureContext, document: DocumentType, country: Option<&str>) -> Result<()> {
        ctx.require_open()?;
        if !ctx.flow.consented {
            return Err(EngineError::Conflict("consent comes first".into()));
        }
        if !ctx.policy.accepted_document_types.contains(&document) {
            return Err(EngineError::Invalid("this document type is not accepted here".into()));
        }
        let country = country.map(str::trim).filter(|c| !c.is_empty());
        match (&ctx.policy.accepted_countries, country) {
            (Some(list), Some(c)) if !list.iter().any(|a| a == c) => {
                return Err(EngineError::Invalid("documents from this country are not accepted here".into()));
            }
            (Some(_), None) => return Err(EngineError::Invalid("choose the country that issued the document".into())),
            (None, Some(c)) if !(1..=3).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_uppercase()) => {
                return Err(EngineError::Invalid("unknown country code".into()));
            }
            _ => {}
        }
        let now = self.now();
        let mut tx = self.store.begin().await?;
        let mut a = tx
            .get_attempt(&ctx.tenant_id, &ctx.verification_id, &ctx.attempt_id)
            .await?
            .ok_or(EngineError::NotFound("attempt"))?;
        if a.status != AttemptStatus::Active {
            return Err(EngineError::Conflict("this attempt is closed".into()));
        }
        a.client.document_type = Some(document);
        if let Some(c) = country {
            a.client.country = Some(c.to_owned());
        }
        a.updated_at = now;
        tx.update_attempt(&a).await?;
        tx.audit(&ctx.tenant_id, &ctx.actor(), "attempt.document_chosen", a.id.as_str(), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One upload from the capture page, checked like any other; its quality feedback
    /// counts a failed try of its kind (or clears "kept anyway" when it is acceptable).
    pub async fn add_capture_for_session(&self, ctx: &CaptureContext, kind: CaptureKind, bytes: Vec<u8>) -> Result<Capture> {
        ctx.require_open()?;
        if !ctx.flow.consented || ctx.client.document_type.is_none() {
            return Err(EngineError::Conflict("give consent and choose the document first".into()));
        }
        if !ctx.required().contains(&kind) {
            return Err(EngineError::Invalid("this capture is not needed for the chosen document".into()));
        }
        let c = self
            .add_capture_as(
                &ctx.tenant_id,
                &ctx.actor(),
                &ctx.verification_id,
                kind,
                bytes,
                Some(&ctx.attempt_id),
            )
            .await?;
        let mut flow = ctx.flow.clone();
        flow.kept_anyway.retain(|k| *k != kind);
        if !c.feedback.accepted {
            flow.bump(kind);
        }
        if flow != ctx.flow {
            let mut tx = self.store.begin().await?;
            Self::put_flow(&mut tx, ctx, &flow, self.now()).await?;
            tx.commit().await?;
        }
        Ok(c)
    }

    /// After [`TRIES_BEFORE_CONTINUE`] failed tries the person may keep the last upload of
    /// that kind; the verification then goes to a person instead of asking again.
    pub async fn continue_anyway_for_session(&self, ctx: &CaptureContext, kind: CaptureKind) -> Result<()> {
        ctx.require_open()?;
        if !ctx.flow.may_continue_anyway(kind) {
            return Err(EngineError::Conflict(format!(
                "continuing anyway is offered after {TRIES_BEFORE_CONTINUE} tries; try again first"
            )));
        }
        let capture = ctx
            .capture(kind)
            .ok_or_else(|| EngineError::Conflict("upload a picture first".into()))?;
        let mut flow = ctx.flow.clone();
        if !flow.kept_anyway.contains(&kind) {
            flow.kept_anyway.push(kind);
        }
        self.save_flow(ctx, &flow, "capture.kept_despite_feedback", capture.id.as_str())
            .await
    }

    /// Submit the attempt once every required capture is acceptable or kept anyway.
    pub async fn submit_for_session(&self, ctx: &CaptureContext) -> Result<Verification> {
        ctx.require_open()?;
        let missing: Vec<&str> = ctx
            .required()
            .into_iter()
            .filter(|k| !ctx.is_done(*k))
            .map(CaptureKind::as_str)
            .collect();
        if ctx.client.document_type.is_none() || !missing.is_empty() {
            return Err(EngineError::Invalid(format!(
                "some pictures are still needed: {}",
                missing.join(", ")
            )));
        }
        self.submit_as(&ctx.tenant_id, &ctx.actor(), &ctx.verification_id, Some(&ctx.attempt_id))
            .await
    }

    /// State a dialect keeps beside this session's attempt (e.g. Checkout's `redirect_url`).
    pub async fn capture_attempt_state(&self, ctx: &CaptureContext, kind: &str) -> Result<Option<serde_json::Value>> {
        let mut tx = self.store.begin().await?;
        match tx.get_dialect_state(&ctx.tenant_id, ctx.attempt_id.as_str(), kind).await? {
            Some(json) => Ok(serde_json::from_str(&json).ok()),
            None => Ok(None),
        }
    }

    /// Hook of processing: a check recording the captures the person kept despite the
    /// feedback, so the decision sends the verification to a person.
    pub(crate) async fn capture_override_check(
        &self,
        tx: &mut Tx<'_>,
        tenant: &TenantId,
        attempt: &AttemptId,
    ) -> Result<Option<CheckResult>> {
        let flow = Self::flow_in(tx, tenant, attempt).await?;
        if flow.kept_anyway.is_empty() {
            return Ok(None);
        }
        let kinds: Vec<&str> = flow.kept_anyway.iter().map(|k| k.as_str()).collect();
        Ok(Some(CheckResult {
            name: kycd_core::decide::QUALITY_OVERRIDE.into(),
            passed: false,
            detail: format!(
                "the person kept {} after repeated quality feedback on the capture page; a person should look",
                kinds.join(", ")
            ),
            figures: serde_json::json!({ "outcome": "review", "kinds": kinds }),
        }))
    }
}

/// What the store keeps of a capture session or a handoff link: the attempt it is for, and
/// until when.
fn session_record(
    tenant: &TenantId,
    verification: &VerificationId,
    attempt: &AttemptId,
    expires_at: DateTime<Utc>,
) -> CaptureSessionRecord {
    CaptureSessionRecord {
        tenant_id: tenant.clone(),
        verification_id: verification.clone(),
        attempt_id: attempt.clone(),
        expires_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_anyway_after_two_failed_tries() {
        let mut f = CaptureFlow::default();
        assert!(!f.may_continue_anyway(CaptureKind::DocumentFront));
        f.bump(CaptureKind::DocumentFront);
        assert!(!f.may_continue_anyway(CaptureKind::DocumentFront));
        f.bump(CaptureKind::DocumentFront);
        assert!(f.may_continue_anyway(CaptureKind::DocumentFront));
        assert!(!f.may_continue_anyway(CaptureKind::Selfie));
        let back: CaptureFlow = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        assert_eq!(serde_json::from_str::<CaptureFlow>("{}").unwrap(), CaptureFlow::default());
    }

    #[test]
    fn form_tokens_are_bound_to_the_session() {
        let t = form_token("kycd_cs_a");
        assert!(form_token_matches("kycd_cs_a", &t));
        assert!(!form_token_matches("kycd_cs_b", &t));
        assert!(!form_token_matches("kycd_cs_a", ""));
        assert_ne!(t, secret_hash("kycd_cs_a"), "not the stored hash");
    }
}
