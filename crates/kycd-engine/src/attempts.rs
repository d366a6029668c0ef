//! Attempts: each visit of the person to the capture page, and the start token that opens one.

use crate::{Engine, EngineError, Principal, Result};
use chrono::{DateTime, Utc};
use kycd_core::{
    Actor, Attempt, AttemptId, AttemptStatus, ClientInfo, EventType, Verification, VerificationId, VerificationStatus, random_token,
};
use kycd_store::{Tx, secret_hash};

/// A new attempt with its start token (shown once; only its hash is kept).
pub struct StartedAttempt {
    pub attempt: Attempt,
    pub url: String,
}

impl Engine {
    pub async fn create_attempt(&self, p: &Principal, id: &VerificationId, client: ClientInfo) -> Result<StartedAttempt> {
        p.require_write()?;
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, &p.tenant_id, id).await?;
        let started = self.open_attempt(&mut tx, &mut v, client, &p.actor()).await?;
        tx.commit().await?;
        Ok(started)
    }

    pub(crate) async fn open_attempt(
        &self,
        tx: &mut Tx<'_>,
        v: &mut Verification,
        client: ClientInfo,
        actor: &Actor,
    ) -> Result<StartedAttempt> {
        if !v.status.accepts_captures() {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; no new attempt can be started",
                v.status
            )));
        }
        let attempts = tx.list_attempts(&v.tenant_id, &v.id).await?;
        if let Some(live) = attempts.iter().find(|a| a.status == AttemptStatus::Active) {
            return Err(EngineError::Conflict(format!(
                "attempt {} is still active; finish or cancel it before starting another",
                live.id
            )));
        }
        if attempts.len() >= v.policy.max_attempts as usize {
            return Err(EngineError::Conflict(format!(
                "all {} attempts allowed by the policy were used",
                v.policy.max_attempts
            )));
        }
        let now = self.now();
        let token = random_token(43);
        let attempt = Attempt {
            id: AttemptId::generate(),
            tenant_id: v.tenant_id.clone(),
            verification_id: v.id.clone(),
            status: AttemptStatus::Active,
            client,
            token_expires_at: (now + self.cfg.start_token_ttl).min(v.expires_at),
            token_used_at: None,
            created_at: now,
            updated_at: now,
        };
        tx.insert_attempt(&attempt, &secret_hash(&token)).await?;
        tx.audit(&v.tenant_id, actor, "attempt.created", attempt.id.as_str(), now).await?;
        tx.audit(&v.tenant_id, actor, "verification.attempt_created", v.id.as_str(), now)
            .await?;
        if matches!(v.status, VerificationStatus::Created | VerificationStatus::RetryRequired) {
            self.transition(tx, v, VerificationStatus::Pending, actor).await?;
        }
        let started = serde_json::json!({"id": attempt.id, "token_expires_at": attempt.token_expires_at, "client": attempt.client});
        self.emit_verification(tx, EventType::AttemptStarted, v, Some(("attempt", started)))
            .await?;
        let url = format!("{}/capture?token={token}", self.cfg.public_url);
        Ok(StartedAttempt { attempt, url })
    }

    pub async fn list_attempts(&self, p: &Principal, id: &VerificationId) -> Result<Vec<Attempt>> {
        let mut tx = self.store.begin().await?;
        let v = self.load(&mut tx, &p.tenant_id, id).await?;
        let list = tx.list_attempts(&p.tenant_id, &v.id).await?;
        tx.commit().await?;
        Ok(list)
    }

    pub async fn get_attempt(&self, p: &Principal, id: &VerificationId, attempt: &AttemptId) -> Result<Attempt> {
        let mut tx = self.store.begin().await?;
        self.load(&mut tx, &p.tenant_id, id).await?;
        let a = tx
            .get_attempt(&p.tenant_id, id, attempt)
            .await?
            .ok_or(EngineError::NotFound("attempt"))?;
        tx.commit().await?;
        Ok(a)
    }

    /// The person opens the capture link: the start token is spent (single use).
    pub async fn redeem_start_token(&self, token: &str) -> Result<Attempt> {
        let mut tx = self.store.begin().await?;
        let a = self.redeem_start_token_in(&mut tx, token).await?;
        tx.commit().await?;
        Ok(a)
    }

    /// [`Self::redeem_start_token`] inside the caller's transaction: the token is spent
    /// only if the caller commits.
    pub(crate) async fn redeem_start_token_in(&self, tx: &mut Tx<'_>, token: &str) -> Result<Attempt> {
        let invalid = || EngineError::NotFound("capture link");
        if token.is_empty() || token.len() > 100 {
            return Err(invalid());
        }
        let now = self.now();
        let mut a = tx.find_attempt_by_token(&secret_hash(token)).await?.ok_or_else(invalid)?;
        if a.token_used_at.is_some() {
            return Err(EngineError::Gone(
                "this capture link was already used; ask the business for a new link".into(),
            ));
        }
        if now >= a.token_expires_at || a.status != AttemptStatus::Active {
            return Err(EngineError::Gone(
                "this capture link has expired; ask the business for a new link".into(),
            ));
        }
        let v = self.load(tx, &a.tenant_id, &a.verification_id).await?;
        if !v.status.accepts_captures() {
            return Err(EngineError::Gone(format!(
                "this verification is {} and takes no more captures",
                v.status
            )));
        }
        // The read above may be stale under concurrent openings: only the one whose
        // conditional update spends the token goes on.
        if !tx.spend_start_token(&a.tenant_id, &a.id, now).await? {
            return Err(EngineError::Gone(
                "this capture link was already used; ask the business for a new link".into(),
            ));
        }
        a.token_used_at = Some(now);
        a.updated_at = now;
        audit_by_applicant(tx, &a, "attempt.start_token_redeemed", now).await?;
        Ok(a)
    }
}

/// Audits `action` by the person on their own attempt (the attempt is both the actor and
/// the object).
pub(crate) async fn audit_by_applicant(tx: &mut Tx<'_>, a: &Attempt, action: &str, now: DateTime<Utc>) -> Result<()> {
    Ok(tx
        .audit(&a.tenant_id, &Actor::Applicant(a.id.clone()), action, a.id.as_str(), now)
        .await?)
}
