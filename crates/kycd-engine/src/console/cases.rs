//! The review queue, one case as a reviewer sees it (every read audited), and a
//! reviewer's decision, with four eyes where the tenant asks for it.

use super::*;
use crate::reports::{self, Reads};

impl Engine {
    pub async fn review_queue(&self, s: &OperatorSession, f: &QueueFilter) -> Result<Vec<QueueItem>> {
        let tenant = &s.operator.tenant_id;
        let mut tx = self.store.begin().await?;
        let found = match f.search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) => {
                let mut v = Vec::new();
                if let Ok(id) = q.parse::<VerificationId>() {
                    v.extend(tx.get_verification(tenant, &id).await?);
                }
                v.extend(tx.find_verifications_by_external_id(tenant, q).await?);
                v.extend(tx.find_verifications_by_document(tenant, q).await?);
                v.extend(tx.find_verifications_by_signature_request(tenant, q).await?);
                v.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
                v.dedup_by(|a, b| a.id == b.id);
                v.retain(|x| f.status.is_none_or(|st| x.status == st));
                v
            }
            None => {
                tx.oldest_verifications(
                    tenant,
                    f.status.unwrap_or(VerificationStatus::ReviewRequired),
                    f.from,
                    f.to,
                    QUEUE_LIMIT,
                )
                .await?
            }
        };
        let mut items = Vec::new();
        for v in found {
            let reasons = failed_reasons(&v);
            if f.reason.as_deref().is_some_and(|r| !reasons.contains(&r)) {
                continue;
            }
            let proposal = tx.get_review_proposal(tenant, &v.id).await?;
            items.push(QueueItem {
                verification: v,
                reasons,
                proposal,
            });
        }
        tx.audit(tenant, &s.actor(), "console.queue.viewed", s.operator.id.as_str(), self.now())
            .await?;
        tx.commit().await?;
        Ok(items)
    }

    /// One case with everything the console shows; an audit entry records the view.
    pub async fn console_case(&self, s: &OperatorSession, id: &VerificationId) -> Result<ConsoleCase> {
        let report = self.report(&s.principal, id).await?;
        let mut tx = self.store.begin().await?;
        let proposal = tx.get_review_proposal(&s.operator.tenant_id, id).await?;
        let four_eyes = tx.four_eyes(&s.operator.tenant_id).await?;
        let queue = tx
            .oldest_verifications(&s.operator.tenant_id, VerificationStatus::ReviewRequired, None, None, 100)
            .await?;
        let next = queue
            .iter()
            .skip_while(|v| v.id != *id)
            .nth(1)
            .or_else(|| queue.iter().find(|v| v.id != *id))
            .map(|v| v.id.clone());
        tx.audit(
            &s.operator.tenant_id,
            &s.actor(),
            "console.verification.viewed",
            id.as_str(),
            self.now(),
        )
        .await?;
        let audit_trail = reports::about(&mut tx, &s.operator.tenant_id, id.as_str(), Reads::Kept).await?;
        tx.commit().await?;
        Ok(ConsoleCase {
            report,
            audit_trail,
            proposal,
            four_eyes,
            next,
        })
    }

    /// One image of a case, for the console (audited as an image view).
    pub async fn console_image(&self, s: &OperatorSession, id: &VerificationId, file: &FileId) -> Result<(Capture, crate::BlobStream)> {
        let got = self.read_verification_file(&s.principal, id, file).await?;
        let mut tx = self.store.begin().await?;
        // Recorded on the verification, so its page's audit trail shows every image view.
        let action = format!("console.image.viewed.{}", got.0.kind.as_str());
        tx.audit(&s.operator.tenant_id, &s.actor(), &action, id.as_str(), self.now())
            .await?;
        tx.commit().await?;
        Ok(got)
    }

    /// Approve, decline or ask for a new capture. With four eyes on, a decline, or an
    /// approval of a case with risk signals, is recorded first and takes effect when a
    /// second reviewer makes the same decision.
    pub async fn console_decide(&self, s: &OperatorSession, id: &VerificationId, d: ConsoleDecision) -> Result<DecideOutcome> {
        let Some(kind) = reason_action(&d.reason_code) else {
            return Err(EngineError::Invalid("pick a reason from the list".into()));
        };
        if kind != d.action {
            return Err(EngineError::Invalid(
                "the reason does not belong to this decision: pick one from its list".into(),
            ));
        }
        let note = check_note("internal note", &d.note, 2000)?;
        let user_message = check_note("message for the person", &d.user_message, 500)?;
        let tenant = s.operator.tenant_id.clone();
        let actor = s.actor();
        let now = self.now();
        let mut tx = self.store.begin().await?;
        tx.lock_verification(&tenant, id).await?;
        let mut v = self.load(&mut tx, &tenant, id).await?;
        if v.status != VerificationStatus::ReviewRequired {
            return Err(EngineError::Conflict(format!(
                "the verification is {}; only review_required verifications can be decided (someone may have decided it a moment ago)",
                v.status
            )));
        }
        let decision = match d.action {
            ReviewAction::Retry => {
                tx.delete_review_proposal(&tenant, id).await?;
                v.checks.retain(|c| c.name != RETRY_CHECK);
                v.checks.push(CheckResult {
                    name: RETRY_CHECK.into(),
                    passed: false,
                    detail: format!("A reviewer asked for a new capture ({}).", d.reason_code),
                    figures: serde_json::json!({"reason_code": d.reason_code}),
                });
                // The message is free text for the person: sealed with the rest, not a figure.
                v.private.retry_message = (!user_message.is_empty()).then_some(user_message);
                tx.audit(
                    &tenant,
                    &actor,
                    &format!("review.retry_requested.{}", d.reason_code),
                    id.as_str(),
                    now,
                )
                .await?;
                self.transition(&mut tx, &mut v, VerificationStatus::RetryRequired, &actor).await?;
                tx.commit().await?;
                self.jobs_ready.notify_one();
                return Ok(DecideOutcome::Decided(Box::new(v)));
            }
            ReviewAction::Approve => ReviewDecision::Approve,
            ReviewAction::Decline => ReviewDecision::Decline,
        };
        let high_risk = !risk_signals(&v).is_empty();
        let needs_second = tx.four_eyes(&tenant).await? && (decision == ReviewDecision::Decline || high_risk);
        let mut review = Review {
            decision,
            reason: if note.is_empty() {
                d.reason_code.clone()
            } else {
                format!("{}: {note}", d.reason_code)
            },
            reviewer: actor.label(),
            reviewed_at: now,
            reason_code: Some(d.reason_code.clone()),
            user_message: (!user_message.is_empty()).then_some(user_message.clone()),
            confirmed_by: None,
        };
        if needs_second {
            match tx.get_review_proposal(&tenant, id).await? {
                Some(p) if p.decision == decision && p.proposed_by != actor.label() => {
                    // The second reviewer confirms: the first one's reason and note stand.
                    review.reviewer = p.proposed_by.clone();
                    review.reason_code = Some(p.reason_code.clone());
                    review.reason = if p.note.is_empty() {
                        p.reason_code.clone()
                    } else {
                        format!("{}: {}", p.reason_code, p.note)
                    };
                    review.user_message = (!p.user_message.is_empty()).then_some(p.user_message.clone());
                    review.confirmed_by = Some(actor.label());
                    tx.delete_review_proposal(&tenant, id).await?;
                }
                Some(p) if p.proposed_by == actor.label() => {
                    return Err(EngineError::Conflict(
                        "you made the first decision on this case; four eyes: a second reviewer must confirm it".into(),
                    ));
                }
                other => {
                    // No first decision yet, or the second reviewer disagrees: theirs now
                    // waits for confirmation by someone else.
                    if other.is_some() {
                        tx.delete_review_proposal(&tenant, id).await?;
                    }
                    tx.insert_review_proposal(
                        &tenant,
                        &ReviewProposal {
                            verification_id: id.clone(),
                            decision,
                            reason_code: d.reason_code.clone(),
                            note,
                            user_message,
                            proposed_by: actor.label(),
                            proposed_at: now,
                        },
                    )
                    .await?;
                    let what = if decision == ReviewDecision::Approve {
                        "approve"
                    } else {
                        "decline"
                    };
                    tx.audit(&tenant, &actor, &format!("review.proposed.{what}"), id.as_str(), now)
                        .await?;
                    tx.commit().await?;
                    return Ok(DecideOutcome::AwaitingSecondReviewer);
                }
            }
        }
        self.apply_review(&mut tx, &mut v, review, &actor).await?;
        tx.commit().await?;
        self.jobs_ready.notify_one();
        Ok(DecideOutcome::Decided(Box::new(v)))
    }
}
