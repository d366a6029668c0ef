//! Review: a person's decision on a verification the checks left to them.

use crate::{Engine, EngineError, Principal, Result};
use kycd_core::{Actor, EventType, Review, ReviewDecision, Verification, VerificationId, VerificationStatus};
use kycd_store::Tx;

impl Engine {
    pub async fn review(&self, p: &Principal, id: &VerificationId, decision: ReviewDecision, reason: &str) -> Result<Verification> {
        p.require_review()?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2000 {
            return Err(EngineError::Invalid(
                "reason must be 1 to 2000 characters: say why you decided".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        let mut v = self.load(&mut tx, &p.tenant_id, id).await?;
        if v.status != VerificationStatus::ReviewRequired {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; only review_required verifications can be reviewed",
                v.status
            )));
        }
        let review = Review {
            decision,
            reason: reason.to_owned(),
            reviewer: p.actor().label(),
            reviewed_at: self.now(),
            reason_code: None,
            user_message: None,
            confirmed_by: None,
        };
        self.apply_review(&mut tx, &mut v, review, &p.actor()).await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        Ok(v)
    }

    /// Record a reviewer's decision on a review_required verification and end it.
    pub(crate) async fn apply_review(&self, tx: &mut Tx<'_>, v: &mut Verification, review: Review, actor: &Actor) -> Result<()> {
        let to = match review.decision {
            ReviewDecision::Approve => VerificationStatus::Approved,
            ReviewDecision::Decline => VerificationStatus::Declined,
        };
        v.review = Some(review);
        // A first decision waiting under four eyes is settled by this one.
        tx.delete_review_proposal(&v.tenant_id, &v.id).await?;
        self.transition(tx, v, to, actor).await?;
        self.emit_verification(tx, EventType::Reviewed, v, None).await?;
        Ok(())
    }
}
